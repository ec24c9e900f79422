package openid_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestNeverA500: odd and hostile requests to every endpoint get a client
// error, never a server error.
func TestNeverA500(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{PostLogoutRedirectURIs: []string{"http://127.0.0.1:9/bye"}})
	long := strings.Repeat("x", 9000)
	form := func(v url.Values) string { return v.Encode() }
	for _, tc := range []struct {
		method, path, body string
		basic              bool
	}{
		{"GET", "/oauth/userinfo", "", false},
		{"GET", "/oauth/userinfo?access_token=nope", "", false},
		{"POST", "/oauth/token", "", false},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}), true},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"client_credentials"}}), true},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}), true},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}}), true},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"authorization_code"}, "code": {long}}), true},
		{"POST", "/oauth/token", "%zz=%", true},
		{"POST", "/oauth/token", form(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"\x00"}}), false},
		{"POST", "/oauth/revoke", "", false},
		{"POST", "/oauth/revoke", form(url.Values{"token": {long}}), true},
		{"POST", "/oauth/introspect", form(url.Values{"token": {"x"}}), false},
		{"GET", "/oauth/end_session?id_token_hint=not.a.jwt", "", false},
		{"GET", "/oauth/end_session?client_id=cl_00000000000000000000000000&post_logout_redirect_uri=https://evil.example/", "", false},
		{"GET", "/oauth/end_session?client_id=" + c.ID + "&post_logout_redirect_uri=https://evil.example/", "", false},
		{"GET", "/oauth/end_session?ui_locales=%ff%00", "", false},
		{"GET", "/oauth/end_session?state=" + long, "", false},
		{"GET", "/oauth/authorize?max_age=-1&client_id=" + c.ID, "", false},
		{"GET", "/oauth/authorize?max_age=99999999999999999999&client_id=" + c.ID + "&redirect_uri=" + url.QueryEscape(rp.redirect), "", false},
		{"GET", "/oauth/authorize?prompt=none%20login&client_id=" + c.ID + "&redirect_uri=" + url.QueryEscape(rp.redirect), "", false},
		{"GET", "/oauth/authorize/callback", "", false},
		{"GET", "/oauth/keys", "", false},
		{"GET", "/oauth/nothing", "", false},
		{"POST", "/authorize/consent", form(url.Values{"id": {"ar_x"}, "answer": {"allow"}}), false},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, n.issuer+tc.path, strings.NewReader(tc.body))
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if tc.basic {
			req.SetBasicAuth(rp.cfg.ClientID, rp.cfg.ClientSecret)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %.80s: %v", tc.method, tc.path, err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Errorf("%s %.80s %.60q: status %d", tc.method, tc.path, tc.body, res.StatusCode)
		}
		if loc := res.Header.Get("Location"); strings.Contains(loc, "evil.example") {
			t.Errorf("%s %.80s: redirected to %s", tc.method, tc.path, loc)
		}
	}
}
