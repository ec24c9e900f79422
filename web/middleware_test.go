package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

func TestPanicsBecomeAGeneric500(t *testing.T) {
	var logs bytes.Buffer
	env := keywardtest.New(t, keywardtest.Options{})
	s, err := New(env.Svc, Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.accessLog(s.securityHeaders(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("database password is hunter2")
	}))), nil)
	for _, path := range []string{"/api/v1/sessions", "/settings/security"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		if rec.Code != 500 || strings.Contains(body, "hunter2") || strings.Contains(body, "goroutine") {
			t.Fatalf("%s: panic answered %d %q", path, rec.Code, body)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Fatalf("%s: the 500 lacks security headers", path)
		}
		if path == "/api/v1/sessions" && !strings.Contains(body, `"code":"internal"`) {
			t.Fatalf("API panic body = %q", body)
		}
		// The operator finds the cause from the id the client saw.
		id := rec.Header().Get("X-Request-Id")
		if id == "" || !strings.Contains(logs.String(), `msg="request failed" request_id=`+id+" ") {
			t.Fatalf("%s: request id %q not on the failure's log line:\n%s", path, id, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "hunter2") {
		t.Fatal("the cause of a panic must reach the log")
	}
}

// loggedServer is a server logging JSON to logs, and a signed-in token.
func loggedServer(t *testing.T, logs io.Writer) (*Server, string) {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{})
	s, err := New(env.Svc, Config{}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Svc.SignUp(t.Context(), "ada@example.com", "correct horse battery staple", keyward.Client{}); err != nil {
		t.Fatal(err)
	}
	res, err := env.Svc.SignIn(t.Context(), "ada@example.com", "correct horse battery staple", keyward.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return s, res.Token
}

func TestAccessLogHasRequestIDAndNoSecrets(t *testing.T) {
	var logs syncBuffer
	s, token := loggedServer(t, &logs)
	requests := []*http.Request{
		httptest.NewRequest("GET", "/api/v1/sessions?token="+token, nil),
		httptest.NewRequest("POST", "/api/v1/sessions", strings.NewReader(`{"email":"ada@example.com","password":"correct horse battery staple"}`)),
	}
	requests[0].Header.Set("Authorization", "Bearer "+token)
	requests[1].Header.Set("Content-Type", "application/json")
	for _, req := range requests {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if id == "" || !strings.Contains(logs.String(), `"request_id":"`+id+`"`) {
			t.Fatalf("request id %q not in the access log:\n%s", id, logs.String())
		}
	}
	for _, secret := range []string{token, "correct horse", "kws_"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs.String())
		}
	}
}

// Session checks are summed up, not logged one by one; any other request is
// logged.
func TestSessionChecksAreCounted(t *testing.T) {
	var logs syncBuffer
	s, token := loggedServer(t, &logs)
	check := func(token string) int {
		req := httptest.NewRequest("GET", "/api/v1/sessions/current", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	for range 3 {
		if code := check(token); code != 200 {
			t.Fatalf("session check = %d", code)
		}
	}
	if code := check("kws_" + strings.Repeat("A", 43)); code != 401 {
		t.Fatalf("unknown token = %d", code)
	}
	if strings.Contains(logs.String(), `"path":"/api/v1/sessions/current"`) {
		t.Fatalf("session checks logged one by one:\n%s", logs.String())
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.LogSessionChecks(ctx, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"http session checks"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary line:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"answered":3,"refused":1`) {
		t.Fatalf("summary does not count 3 answered and 1 refused:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRequestDurationsOnlyWhenServed: a node that serves no metrics
// (NoRequestDurations) times no answer, and still counts the checks; one
// that does times the checks on their short way under their own route.
func TestRequestDurationsOnlyWhenServed(t *testing.T) {
	for _, off := range []bool{false, true} {
		env := keywardtest.New(t, keywardtest.Options{})
		s, err := New(env.Svc, Config{NoRequestDurations: off}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Svc.SignUp(t.Context(), "ada@example.com", "correct horse battery staple", keyward.Client{}); err != nil {
			t.Fatal(err)
		}
		res, err := env.Svc.SignIn(t.Context(), "ada@example.com", "correct horse battery staple", keyward.Client{})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", sessionCheckPath, nil)
		req.Header.Set("Authorization", "Bearer "+res.Token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("session check: %d %s", rec.Code, rec.Body)
		}
		_, h := s.metrics.Route("GET " + sessionCheckPath).Class(1)
		_, timed, _ := h.Snapshot()
		want := uint64(1)
		if off {
			want = 0
		}
		if timed != want {
			t.Errorf("NoRequestDurations %v: %d answers timed, want %d", off, timed, want)
		}
		if n := s.metrics.SessionChecks.Value(0); n != 1 {
			t.Errorf("NoRequestDurations %v: %d valid checks counted, want 1", off, n)
		}
	}
}
