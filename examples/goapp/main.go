// Command goapp is a small Go application with keyward mounted in it: a
// public home page, a dashboard for signed-in people, an admin page for
// people signed in with a second factor, and keyward's own pages under
// /auth/ (sign-up, sign-in, security settings, sign-out).
//
//	go run ./examples/goapp
//
// prints where to open it. Its data (the SQLite database and the secret
// key) goes to ./goapp-data unless -data-dir says otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	dataDir := flag.String("data-dir", "goapp-data", "folder for keyward's database and secret key")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dataDir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// openKeyward opens keyward for this application: its data in dataDir,
// its pages and API under /auth. The session cookie's Path is "/" (Open's
// default), so the application's own routes behind RequireSession receive
// it. Mails (password reset, address confirmation, security notices) are
// .eml files in dataDir/outbox, with links to publicURL (nil: they wait).
func openKeyward(ctx context.Context, dataDir string, publicURL *url.URL, logger *slog.Logger) (*server.Server, error) {
	return server.Open(ctx, server.Config{
		DataDir: dataDir,
		Config: web.Config{
			PublicURL:   publicURL,
			BasePath:    "/auth",
			ProductName: "Goapp",
		},
		Logger: logger,
	})
}

// newApp is the application: keyward under /auth/ and its own routes.
func newApp(kw *server.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/", kw)
	mux.HandleFunc("GET /{$}", home)
	mux.Handle("GET /dashboard", kw.RequireSession(http.HandlerFunc(dashboard)))
	mux.Handle("POST /dashboard/sign-out-others", kw.RequireSession(signOutOthers(kw.Service())))
	mux.Handle("GET /admin", kw.RequireTwoFactor(http.HandlerFunc(admin)))
	return mux
}

// run serves the application on addr until ctx ends, then shuts down:
// requests in flight finish, keyward's background work stops, and keyward
// closes last.
func run(ctx context.Context, addr, dataDir string, out io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	kw, err := openKeyward(ctx, dataDir, &url.URL{Scheme: "http", Host: ln.Addr().String()}, logger)
	if err != nil {
		return err
	}
	defer kw.Close()

	background, stopBackground := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- kw.Run(background) }()
	defer func() {
		stopBackground()
		<-ran
	}()

	srv := &http.Server{Handler: newApp(kw), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "goapp is running: open http://%s/ in your browser\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func home(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, homePage, nil)
}

// dashboard is for anyone signed in: RequireSession put who in the context.
func dashboard(w http.ResponseWriter, r *http.Request) {
	id, _ := keyward.FromContext(r.Context())
	render(w, http.StatusOK, dashboardPage, id)
}

// admin is for people signed in with a second factor (RequireTwoFactor).
func admin(w http.ResponseWriter, r *http.Request) {
	id, _ := keyward.FromContext(r.Context())
	render(w, http.StatusOK, adminPage, id)
}

// signOutOthers ends every other session of the signed-in person: the
// application calling the service itself. RequireSession has held the form
// to the same-origin rule keyward's own forms follow.
func signOutOthers(svc *keyward.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := keyward.FromContext(r.Context())
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		client := keyward.Client{IP: host, UserAgent: r.UserAgent()}
		if _, err := svc.RevokeOtherSessions(r.Context(), &id.Session, client); err != nil {
			http.Error(w, keyward.ErrorMessage(err), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
	})
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}

var layout = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Goapp</title></head><body>
<nav><a href="/">Home</a> · <a href="/dashboard">Dashboard</a> · <a href="/admin">Admin</a> · <a href="/auth/settings/security">Security settings</a></nav>
<main>{{template "content" .}}</main></body></html>`

func page(content string) *template.Template {
	return template.Must(template.Must(template.New("page").Parse(layout)).New("content").Parse(content))
}

var (
	homePage = page(`<h1>Goapp</h1>
<p>A public page. <a href="/auth/signup">Create an account</a> or <a href="/auth/signin?next=/dashboard">sign in</a>.</p>`)
	dashboardPage = page(`<h1>Dashboard</h1>
<p>Signed in as <strong id="email">{{.Account.Email}}</strong>{{if ge .Session.AAL 2}} with a second factor{{end}}.</p>
<form method="post" action="/dashboard/sign-out-others"><button>Sign out everywhere else</button></form>
<form method="post" action="/auth/signout"><button>Sign out</button></form>`)
	adminPage = page(`<h1>Admin</h1>
<p>{{.Account.Email}} is signed in with a second factor.</p>`)
)
