package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// logLines parses JSON log output, one object a line.
func logLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		lines = append(lines, m)
	}
	return lines
}

// accessLines are the access log's lines.
func accessLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	var access []map[string]any
	for _, l := range logLines(t, out) {
		if l["msg"] == "http" {
			access = append(access, l)
		}
	}
	return access
}

func TestIncomingRequestIDIsKeptWhenSane(t *testing.T) {
	tests := []struct {
		name, in string
		kept     bool
	}{
		{"a UUID", "0b7c2a52-7e0b-4b5e-9b59-5d1e8f0c6a11", true},
		{"a W3C trace id", "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"a proxy's id", "req:frontend/01.2_x", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"129 characters", strings.Repeat("a", 129), false},
		{"a space", "a b", false},
		{"a quote", `a"b`, false},
		{"an equals sign", "request_id=forged", false},
		{"a control character", "a\x01b", false},
		{"non-ASCII", "réq", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			s, _ := loggedServer(t, &logs)
			req := httptest.NewRequest("GET", "/api/v1/sessions", nil)
			req.Header["X-Request-Id"] = []string{tt.in}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if kept := got == tt.in; kept != tt.kept {
				t.Errorf("X-Request-Id %q answered with %q: kept %v, want %v", tt.in, got, kept, tt.kept)
			}
			if got == "" || !saneRequestID(got) {
				t.Errorf("answered with request id %q", got)
			}
			access := accessLines(t, logs.String())
			if len(access) != 1 || access[0]["request_id"] != got {
				t.Errorf("access log %v, want one line with request_id %q", access, got)
			}
		})
	}
	t.Run("two ids", func(t *testing.T) {
		s, _ := loggedServer(t, &syncBuffer{})
		req := httptest.NewRequest("GET", "/api/v1/sessions", nil)
		req.Header["X-Request-Id"] = []string{"one", "two"}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); got == "one" || got == "two" {
			t.Errorf("two X-Request-Id headers: kept %q, want an id of keyward's", got)
		}
	})
}

func TestAccessLogDurationsInMilliseconds(t *testing.T) {
	var logs syncBuffer
	s, _ := loggedServer(t, &logs)
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/signin", nil))
	access := accessLines(t, logs.String())
	if len(access) != 1 {
		t.Fatalf("access log = %v, want one line", access)
	}
	ms, ok := access[0]["duration_ms"].(float64)
	if !ok || ms < 0 || ms > 60_000 {
		t.Errorf("duration_ms = %v (%T), want a number of milliseconds", access[0]["duration_ms"], access[0]["duration_ms"])
	}
	if _, ok := access[0]["duration"]; ok {
		t.Errorf("the line still has a duration in Go's format: %v", access[0])
	}
}

func TestProbesAreNotLogged(t *testing.T) {
	for _, base := range []string{"", "/auth"} {
		var logs syncBuffer
		env := keywardtest.New(t, keywardtest.Options{})
		s, err := New(env.Svc, Config{BasePath: base}, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", base+p, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("%s%s = %d, want 200", base, p, rec.Code)
			}
		}
		if access := accessLines(t, logs.String()); len(access) != 0 {
			t.Errorf("base %q: probes logged: %v", base, access)
		}
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", base+"/signin", nil))
		if access := accessLines(t, logs.String()); len(access) != 1 {
			t.Errorf("base %q: a page after the probes logged %d lines, want 1", base, len(access))
		}
	}
}

// TestLoadSheddingIsAWarning: a 503 is keyward shedding load on purpose
// (its hashing queue full, its store slow): WARN, on both of its lines.
func TestLoadSheddingIsAWarning(t *testing.T) {
	var logs syncBuffer
	s, _ := loggedServer(t, &logs)
	h := s.middleware(s.handle(func(http.ResponseWriter, *http.Request) error {
		return keyward.Errorf(keyward.CodeUnavailable, "Busy; try again in a moment.")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/sessions", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answered %d, want 503", rec.Code)
	}
	lines := logLines(t, logs.String())
	if len(lines) == 0 {
		t.Fatal("nothing logged")
	}
	for _, l := range lines {
		if l["level"] != "WARN" {
			t.Errorf("a 503's line at %v, want WARN: %v", l["level"], l)
		}
	}
	if got := levelFor(http.StatusInternalServerError); got != slog.LevelError {
		t.Errorf("levelFor(500) = %v, want ERROR", got)
	}
}

// TestUnknownKeyLineCarriesTheRequestID: a node without the key a seed is
// sealed with says so in its log, under the id of the request that met it.
func TestUnknownKeyLineCarriesTheRequestID(t *testing.T) {
	ctx := t.Context()
	a := keywardtest.New(t, keywardtest.Options{})
	const email, pw = "ada@example.com", "correct horse battery staple"
	res, err := a.Svc.SignUpAndSignIn(ctx, email, pw, keyward.Client{})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := a.Svc.BeginTOTPSetup(ctx, res.Session, pw, keyward.Client{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(setup.Secret, a.Clock.Now())
	if _, err := a.Svc.EnableTOTP(ctx, res.Session, code, keyward.Client{}); err != nil {
		t.Fatal(err)
	}
	other, err := keyring.Parse("k2860486313 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	b := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: other, Logger: log})
	s, err := New(b.Svc, Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	signIn, err := b.Svc.SignIn(ctx, email, pw, keyward.Client{})
	if err != nil || signIn.MFAToken == "" {
		t.Fatalf("password step on the other node = %+v, %v", signIn, err)
	}
	a.Clock.Advance(30 * time.Second)
	code, _ = totp.Code(setup.Secret, a.Clock.Now())
	req := httptest.NewRequest("POST", "/api/v1/sessions/mfa", strings.NewReader(`{"mfa_token":"`+signIn.MFAToken+`","code":"`+code+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "trace-42")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("second step on a node without the key = %d %s, want 500", rec.Code, rec.Body)
	}
	found := false
	for _, l := range logLines(t, logs.String()) {
		if l["msg"] == "a TOTP seed is sealed with a key this node does not have" {
			found = true
			if l["request_id"] != "trace-42" {
				t.Errorf("the line's request_id = %v, want trace-42: %v", l["request_id"], l)
			}
		}
	}
	if !found {
		t.Errorf("no line about the missing key:\n%s", logs.String())
	}
}

// FuzzSaneRequestID: whatever a client sends, a kept id is short and of
// the safe characters only, so it cannot break a log line of either format.
func FuzzSaneRequestID(f *testing.F) {
	for _, seed := range []string{"", "abc", "a b", "a\nb", `x" level=ERROR`, strings.Repeat("z", 129), "0b7c2a52-7e0b-4b5e-9b59-5d1e8f0c6a11"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !saneRequestID(id) {
			return
		}
		if id == "" || len(id) > maxRequestIDLen {
			t.Fatalf("kept %q of length %d", id, len(id))
		}
		if strings.ContainsFunc(id, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/", r))
		}) {
			t.Fatalf("kept %q, which has a character outside the safe set", id)
		}
		var text bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("http", "request_id", id)
		if !strings.Contains(text.String(), " request_id="+id+"\n") {
			t.Fatalf("the text log quoted or changed a kept id: %q", text.String())
		}
	})
}
