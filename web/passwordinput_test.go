package web_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// TestAPIRefusesOverLongPasswords: over 4 × 1024 bytes a password is
// refused before any normalisation at every entry: 400 password_too_long
// where a password is chosen or scored, a wrong password where one is
// checked.
func TestAPIRefusesOverLongPasswords(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	for _, over := range []struct{ name, pw string }{
		{"4097 bytes", strings.Repeat("🐎", 1024) + "!"},
		{"1 MiB of U+FDFA", strings.Repeat("\uFDFA", 349000)},
	} {
		t.Run(over.name, func(t *testing.T) {
			wantStatus(t, e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": "bob@example.com", "password": over.pw}), 400, "password_too_long")
			wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": over.pw}), 401, "invalid_credentials")
			wantStatus(t, e.call(t, "PUT", "/api/v1/account/password", tok, map[string]any{"current_password": apiPassword, "new_password": over.pw}), 400, "password_too_long")
			wantStatus(t, e.call(t, "PUT", "/api/v1/account/password", tok, map[string]any{"current_password": over.pw, "new_password": apiPassword + "!"}), 403, "invalid_current_password")
			wantStatus(t, e.call(t, "POST", "/api/v1/password/strength", "", map[string]string{"password": over.pw}), 400, "password_too_long")
		})
	}
	// The longest accepted password still is.
	r := e.call(t, "POST", "/api/v1/password/strength", "", map[string]string{"password": strings.Repeat("🐎", 1024)})
	wantStatus(t, r, 200, "")
}

// TestAPIStrengthIsThrottled: the strength meter's endpoint counts calls per
// client address (per account for a signed-in caller); past the budget it
// answers 429 with Retry-After until the minute turns.
func TestAPIStrengthIsThrottled(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.StrengthChecksPerMinute = 3
	e := newAPI(t, cfg, web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	tok := e.signUpIn(t, "ada@example.com")
	ask := func(token, from string) reply {
		t.Helper()
		return e.call(t, "POST", "/api/v1/password/strength", token, map[string]string{"password": "correct horse battery staple"}, "X-Forwarded-For", from)
	}
	for i := range 3 {
		wantStatus(t, ask("", "203.0.113.7"), 200, "")
		if i == 0 {
			e.Clock.Advance(20 * time.Second)
		}
	}
	r := ask("", "203.0.113.7")
	wantStatus(t, r, 429, "too_many_attempts")
	if got := r.header.Get("Retry-After"); got != "40" {
		t.Fatalf("Retry-After = %q, want 40", got)
	}
	wantStatus(t, ask("", "198.51.100.8"), 200, "")
	wantStatus(t, ask(tok, "203.0.113.7"), 200, "") // the account's own budget
	e.Clock.Advance(40 * time.Second)
	wantStatus(t, ask("", "203.0.113.7"), 200, "")
}
