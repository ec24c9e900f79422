package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// keyward's handler stack and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServeSessionCheck is GET /api/v1/sessions/current through the
// whole server (middleware, cache, JSON), the request every application
// behind keyward makes.
func BenchmarkServeSessionCheck(b *testing.B) {
	benchCheck(b, sessionCheckPath)
}

// BenchmarkServeSessionCheckWithoutMetrics is the session check on a node
// that serves no metrics (answer times not counted): the difference is
// what metrics cost the check.
func BenchmarkServeSessionCheckWithoutMetrics(b *testing.B) {
	benchCheckWith(b, Config{NoRequestDurations: true}, sessionCheckPath)
}

// BenchmarkAuthCheck is GET /api/v1/auth/check through the whole server,
// the request a proxy makes before each request to the application: it
// must cost what the session check costs.
func BenchmarkAuthCheck(b *testing.B) {
	benchCheck(b, authCheckPath)
}

// BenchmarkAuthCheckUnderBasePath is the same check with --base-path /auth,
// the path carrying it: what taking the base path off adds.
func BenchmarkAuthCheckUnderBasePath(b *testing.B) {
	benchCheckWith(b, Config{BasePath: "/auth"}, "/auth"+authCheckPath)
}

func benchCheck(b *testing.B, path string) {
	b.Helper()
	benchCheckWith(b, Config{}, path)
}

// BenchmarkRequireSession is an application's route behind RequireSession
// with a handler that writes nothing: what the middleware adds to each of
// the application's requests, to hold beside the session check's cost.
func BenchmarkRequireSession(b *testing.B) {
	benchHandler(b, Config{}, "/app/dashboard", func(s *Server) http.Handler {
		return s.RequireSession(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	})
}

func benchCheckWith(b *testing.B, cfg Config, path string) {
	b.Helper()
	benchHandler(b, cfg, path, func(s *Server) http.Handler { return s })
}

// benchHandler measures GET path on the handler made from a server with a
// warm session cache, authenticated by a bearer token.
func benchHandler(b *testing.B, cfg Config, path string, handler func(*Server) http.Handler) {
	b.Helper()
	env := keywardtest.New(b, keywardtest.Options{RealTime: true})
	s, err := New(env.Svc, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go env.Svc.RunCacheWatcher(ctx)
	for deadline := time.Now().Add(5 * time.Second); !env.Svc.CacheEnabled(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the session cache never switched on")
		}
	}
	if _, err := env.Svc.SignUp(ctx, "bench@example.com", "correct horse battery staple", keyward.Client{}); err != nil {
		b.Fatal(err)
	}
	res, err := env.Svc.SignIn(ctx, "bench@example.com", "correct horse battery staple", keyward.Client{})
	if err != nil {
		b.Fatal(err)
	}
	h := handler(s)
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+res.Token)
	w := httptest.NewRecorder()
	if h.ServeHTTP(w, req); w.Code != http.StatusOK {
		b.Fatalf("%s = %d, want 200", path, w.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
	}
}
