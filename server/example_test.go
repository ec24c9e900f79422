package server_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

// open opens keyward on a fresh data folder under /auth, as an application
// would mount it; the examples remove the folder when done.
func open() (kw *server.Server, done func()) {
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	kw, err = server.Open(context.Background(), server.Config{
		DataDir: dir,
		Config:  web.Config{BasePath: "/auth"},
	})
	if err != nil {
		log.Fatal(err)
	}
	return kw, func() { kw.Close(); os.RemoveAll(dir) }
}

// signIn makes an account and signs it in through the service, returning
// a session token for an Authorization: Bearer header.
func signIn(kw *server.Server, email string) string {
	ctx, client := context.Background(), keyward.Client{IP: "192.0.2.1"}
	const pw = "correct horse battery staple"
	if _, err := kw.Service().CreateAccount(ctx, email, pw); err != nil {
		log.Fatal(err)
	}
	res, err := kw.Service().SignIn(ctx, email, pw, client)
	if err != nil {
		log.Fatal(err)
	}
	return res.Token
}

func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	kw, err := server.Open(ctx, server.Config{
		DataDir: "keyward-data", // SQLite and the secret key; or DatabaseURL for PostgreSQL
		Config:  web.Config{BasePath: "/auth"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer kw.Close()
	go kw.Run(ctx) // the background work, for as long as the application serves

	mux := http.NewServeMux()
	mux.Handle("/auth/", kw) // keyward's pages and API under /auth/
	mux.Handle("GET /dashboard", kw.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := keyward.FromContext(r.Context())
		fmt.Fprintf(w, "Hello, %s", id.Account.Email)
	})))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	kw, err := server.Open(context.Background(), server.Config{
		DataDir: dir, // keyward.db and secret.keys, created on first Open
		Service: keyward.DefaultConfig(),
		Config:  web.Config{BasePath: "/auth", ProductName: "Example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer kw.Close()

	acct, err := kw.Service().CreateAccount(context.Background(), "ada@example.com", "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", acct.Email)
	// Output: created ada@example.com
}

// Mounted whole: the mux hands keyward paths that still start with the
// base path. http.StripPrefix("/auth", kw) works as well.
func ExampleServer_ServeHTTP() {
	kw, done := open()
	defer done()

	mux := http.NewServeMux()
	mux.Handle("/auth/", kw)

	for _, path := range []string{"/auth/healthz", "/auth/signin"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// /auth/healthz 200
	// /auth/signin 200
}

// Run goes beside the http.Server, and both stop together: first the
// server (requests in flight finish), then the background work, then
// Close.
func ExampleServer_Run() {
	kw, done := open()
	defer done()

	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- kw.Run(ctx) }()

	srv := httptest.NewServer(kw) // an http.Server on a free port
	res, err := http.Get(srv.URL + "/auth/readyz")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println("ready:", res.StatusCode)

	srv.Close() // http.Server.Shutdown in a real program
	stop()
	fmt.Println("background work stopped:", <-ran)
	// Output:
	// ready: 200
	// background work stopped: <nil>
}

func ExampleServer_RequireSession() {
	kw, done := open()
	defer done()

	dashboard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := keyward.FromContext(r.Context())
		fmt.Fprintf(w, "Signed in as %s", id.Account.Email)
	})
	mux := http.NewServeMux()
	mux.Handle("/auth/", kw)
	mux.Handle("GET /dashboard", kw.RequireSession(dashboard))

	// A browser without a session is sent to sign in, and back after.
	r := httptest.NewRequest("GET", "/dashboard", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Location"))

	// A program without one gets keyward's JSON error.
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/dashboard", nil))
	fmt.Print(w.Code, " ", w.Body.String())

	// With a session (the cookie, or a bearer token as here), the handler
	// runs and knows who it serves.
	r = httptest.NewRequest("GET", "/dashboard", nil)
	r.Header.Set("Authorization", "Bearer "+signIn(kw, "ada@example.com"))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 303 /auth/signin?next=%2Fdashboard
	// 401 {"error":{"code":"unauthenticated","message":"Sign in to continue."}}
	// 200 Signed in as ada@example.com
}

func ExampleServer_RequireTwoFactor() {
	kw, done := open()
	defer done()

	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "admin area")
	})
	mux := http.NewServeMux()
	mux.Handle("/auth/", kw)
	mux.Handle("GET /admin", kw.RequireTwoFactor(admin))

	// A session signed in with the password alone is not enough.
	r := httptest.NewRequest("GET", "/admin", nil)
	r.Header.Set("Authorization", "Bearer "+signIn(kw, "ada@example.com"))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 403 {"error":{"code":"mfa_required","message":"This needs a session signed in with a second factor."}}
}
