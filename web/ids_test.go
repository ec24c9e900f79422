package web_test

import (
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// TestSessionIDsOfAnyShapeAreNotFound: every route that takes a session id
// answers 404 for one it cannot end, whatever its bytes (PostgreSQL refuses
// NUL and invalid UTF-8 as text, which answered 500), and ends nothing.
func TestSessionIDsOfAnyShapeAreNotFound(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	other := e.signIn(t, "ada@example.com")
	bob := e.signUpIn(t, "bob@example.com")
	sessionID := func(token string) string {
		t.Helper()
		return e.call(t, "GET", "/api/v1/sessions/current", token, nil).json(t)["session"].(map[string]any)["id"].(string)
	}
	bobID, otherID := sessionID(bob), sessionID(other)
	ids := []struct{ name, path string }{
		{"NUL", "%00"},
		{"0xff", "%ff"},
		{"NUL after a valid shape", "sess_" + strings.Repeat("0", 25) + "%00"},
		{"invalid UTF-8 inside", "sess_" + strings.Repeat("0", 12) + "%fe%ff" + strings.Repeat("0", 12)},
		{"over-long", "sess_" + strings.Repeat("0", 5000)},
		{"right shape, does not exist", "sess_" + strings.Repeat("0", 26)},
		{"another account's session", bobID},
		{"an account id", "acct_" + otherID[len("sess_"):]},
		{"upper-cased id", strings.ToUpper(otherID)},
	}
	cookie := "keyward_session=" + tok
	for _, id := range ids {
		t.Run(id.name, func(t *testing.T) {
			r := e.call(t, "DELETE", "/api/v1/sessions/"+id.path, tok, nil)
			wantStatus(t, r, 404, "not_found")
			r = e.call(t, "POST", "/settings/security/sessions/"+id.path+"/end", "", nil, "Cookie", cookie, "Sec-Fetch-Site", "same-origin")
			if r.status != 404 {
				t.Fatalf("page route: status = %d, want 404; body %.300s", r.status, r.body)
			}
		})
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", bob, nil), 200, "")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", other, nil), 200, "")
	// A well-formed id of the caller's still ends.
	wantStatus(t, e.call(t, "DELETE", "/api/v1/sessions/"+otherID, tok, nil), 204, "")
}
