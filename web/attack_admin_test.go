package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/web"
)

// TestAttackAdminListenerServesNoChecks: the admin listener serves the
// admin API alone. The session and auth checks take a short way around the
// mux, and that short way must not be on the admin listener too: there a
// session token would be checked, and its account read, on an address that
// serves only admin tokens.
func TestAttackAdminListenerServesNoChecks(t *testing.T) {
	e := newAdminEnv(t, web.Config{SeparateAdmin: true}, nil)
	adminSrv := httptest.NewServer(e.web.AdminHandler())
	t.Cleanup(adminSrv.Close)
	onAdmin := &apiEnv{Env: e.Env, srv: adminSrv}
	_, session := e.account(t)
	for _, path := range []string{"/api/v1/sessions/current", "/api/v1/auth/check", "/api/v1/auth/forward"} {
		for _, token := range []string{session, ""} {
			r := onAdmin.call(t, "GET", path, token, nil)
			wantStatus(t, r, 404, "not_found")
			if strings.Contains(string(r.body), "@example.com") {
				t.Fatalf("%s on the admin listener told the account: %s", path, r.body)
			}
		}
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", session, nil), 200, "")
}
