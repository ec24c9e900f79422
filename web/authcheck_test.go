package web_test

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
	"github.com/keyward/keyward/web"
)

// ask sends a GET as a proxy would and never follows a redirect.
func (e *apiEnv) ask(t testing.TB, path string, header ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// twoFactorSession enables TOTP for the account of tok and returns a new
// session opened with a code: an aal 2 session.
func (e *apiEnv) twoFactorSession(t testing.TB, tok, email string) string {
	t.Helper()
	r := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil)
	wantStatus(t, r, 200, "")
	secret := r.json(t)["secret"].(string)
	code, _ := totp.Code(secret, e.Clock.Now())
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code}), 200, "")
	e.Clock.Advance(30 * time.Second) // a code is accepted once
	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": apiPassword})
	wantStatus(t, r, 200, "")
	code, _ = totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": r.json(t)["mfa_token"].(string), "code": code})
	wantStatus(t, r, 201, "")
	return r.json(t)["token"].(string)
}

func TestAPIAuthCheck(t *testing.T) {
	u, _ := url.Parse("http://id.example.com")
	e := newAPI(t, keyward.DefaultConfig(), web.Config{PublicURL: u})
	one := e.signUpIn(t, "ada@example.com")
	other := e.signUpIn(t, "bob@example.com")
	two := e.twoFactorSession(t, other, "bob@example.com")
	current := func(tok string) map[string]any {
		r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
		wantStatus(t, r, 200, "")
		return r.json(t)
	}
	ada, bob := current(one), current(two)
	idOf := func(m map[string]any, k string) string { return m[k].(map[string]any)["id"].(string) }
	html := "text/html,application/xhtml+xml;q=0.9"

	tests := []struct {
		name   string
		path   string
		header []string
		status int
		// on 200: the identity the headers must carry
		account, email, session, aal, amr string
	}{
		{"check bearer", "/api/v1/auth/check", []string{"Authorization", "Bearer " + one}, 200,
			idOf(ada, "account"), "ada@example.com", idOf(ada, "session"), "1", "pwd"},
		{"check cookie", "/api/v1/auth/check", []string{"Cookie", "keyward_session=" + one}, 200,
			idOf(ada, "account"), "ada@example.com", idOf(ada, "session"), "1", "pwd"},
		{"check aal=1", "/api/v1/auth/check?aal=1", []string{"Authorization", "Bearer " + one}, 200,
			idOf(ada, "account"), "ada@example.com", idOf(ada, "session"), "1", "pwd"},
		{"check aal=2, two-factor session", "/api/v1/auth/check?aal=2", []string{"Authorization", "Bearer " + two}, 200,
			idOf(bob, "account"), "bob@example.com", idOf(bob, "session"), "2", "pwd,otp,mfa"},
		{"check aal=2, one-factor session", "/api/v1/auth/check?aal=2", []string{"Authorization", "Bearer " + one}, 401, "", "", "", "", ""},
		{"check aal=2, one-factor session, browser: no redirect", "/api/v1/auth/check?aal=2", []string{"Cookie", "keyward_session=" + one, "Accept", html}, 401, "", "", "", "", ""},
		{"check no session", "/api/v1/auth/check", nil, 401, "", "", "", "", ""},
		{"check no session, browser: no redirect", "/api/v1/auth/check", []string{"Accept", html}, 401, "", "", "", "", ""},
		{"check made-up token", "/api/v1/auth/check", []string{"Authorization", "Bearer kws_nope"}, 401, "", "", "", "", ""},
		{"check bad aal", "/api/v1/auth/check?aal=3", []string{"Authorization", "Bearer " + one}, 400, "", "", "", "", ""},
		// A query that says two things, or that Go's parser drops a part
		// of, must not fall back to aal 1: refused, whichever part comes first.
		{"check aal given twice, 1 first", "/api/v1/auth/check?aal=1&aal=2", []string{"Authorization", "Bearer " + one}, 400, "", "", "", "", ""},
		{"check aal given twice, 2 first", "/api/v1/auth/check?aal=2&aal=1", []string{"Authorization", "Bearer " + one}, 400, "", "", "", "", ""},
		{"check aal given twice, same", "/api/v1/auth/check?aal=2&aal=2", []string{"Authorization", "Bearer " + two}, 400, "", "", "", "", ""},
		{"check aal after a semicolon", "/api/v1/auth/check?aal=2;aal=1", []string{"Authorization", "Bearer " + one}, 400, "", "", "", "", ""},
		{"check aal=2 beside a malformed part", "/api/v1/auth/check?x=%zz&aal=2", []string{"Authorization", "Bearer " + one}, 400, "", "", "", "", ""},
		{"check aal percent-encoded", "/api/v1/auth/check?aal=%32", []string{"Authorization", "Bearer " + one}, 401, "", "", "", "", ""},
		{"check empty aal", "/api/v1/auth/check?aal=", []string{"Authorization", "Bearer " + one}, 200,
			idOf(ada, "account"), "ada@example.com", idOf(ada, "session"), "1", "pwd"},
		{"forward aal given twice, 1 first", "/api/v1/auth/forward?aal=1&aal=2", []string{"Cookie", "keyward_session=" + one, "Accept", html}, 400, "", "", "", "", ""},
		{"forward bearer", "/api/v1/auth/forward", []string{"Authorization", "Bearer " + two}, 200,
			idOf(bob, "account"), "bob@example.com", idOf(bob, "session"), "2", "pwd,otp,mfa"},
		{"forward cookie, browser", "/api/v1/auth/forward", []string{"Cookie", "keyward_session=" + one, "Accept", html}, 200,
			idOf(ada, "account"), "ada@example.com", idOf(ada, "session"), "1", "pwd"},
		{"forward no session, not a browser", "/api/v1/auth/forward", nil, 401, "", "", "", "", ""},
		{"forward no session, browser", "/api/v1/auth/forward", []string{"Accept", html}, 302, "", "", "", "", ""},
		{"forward no session, browser, forwarded POST", "/api/v1/auth/forward", []string{"Accept", html, "X-Forwarded-Method", "POST"}, 302, "", "", "", "", ""},
		{"forward aal=2, one-factor session, browser", "/api/v1/auth/forward?aal=2", []string{"Cookie", "keyward_session=" + one, "Accept", html}, 401, "", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.ask(t, tt.path, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			switch r.status {
			case 200:
				if len(r.body) != 0 {
					t.Errorf("body = %q, want none", r.body)
				}
				for k, want := range map[string]string{
					"X-Keyward-Account-Id": tt.account, "X-Keyward-Email": tt.email,
					"X-Keyward-Session-Id": tt.session, "X-Keyward-Aal": tt.aal, "X-Keyward-Amr": tt.amr,
				} {
					if got := r.header.Values(k); len(got) != 1 || got[0] != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
			case 302:
				// The request's own URL: X-Forwarded-* from an untrusted peer count for nothing.
				want := "http://id.example.com/signin?next=" + url.QueryEscape(e.srv.URL+tt.path)
				if got := r.header.Get("Location"); got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
			default:
				if r.header.Get("Location") != "" || r.header.Get("X-Keyward-Account-Id") != "" {
					t.Errorf("a refusal carried Location %q / identity %q", r.header.Get("Location"), r.header.Get("X-Keyward-Account-Id"))
				}
			}
		})
	}
}

func TestAPIAuthCheckRefusesARevokedSession(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	for _, path := range []string{"/api/v1/auth/check", "/api/v1/auth/forward"} {
		if r := e.ask(t, path, "Authorization", "Bearer "+tok); r.status != 200 {
			t.Fatalf("%s before revoking = %d, want 200", path, r.status)
		}
	}
	wantStatus(t, e.call(t, "DELETE", "/api/v1/sessions/current", tok, nil), 204, "")
	for _, path := range []string{"/api/v1/auth/check", "/api/v1/auth/forward"} {
		if r := e.ask(t, path, "Authorization", "Bearer "+tok); r.status != 401 {
			t.Fatalf("%s after revoking = %d, want 401", path, r.status)
		}
	}
}

func TestAPIAuthForwardOriginalURL(t *testing.T) {
	u, _ := url.Parse("https://id.example.com/")
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	forged := []string{"Accept", "text/html", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports/7?tab=a&x=%2F"}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		header  []string
		status  int
		next    string // "" is the request's own URL
	}{
		{"trusted proxy: the original URL", loopback, forged, 302, "https://app.example.com/reports/7?tab=a&x=%2F"},
		{"untrusted peer: forged headers ignored", nil, forged, 302, ""},
		{"trusted proxy: the original was a POST", loopback,
			[]string{"Accept", "text/html", "X-Forwarded-Method", "POST", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/x"}, 401, ""},
		{"untrusted peer: a forged POST is ignored too", nil,
			[]string{"Accept", "text/html", "X-Forwarded-Method", "POST"}, 302, ""},
		{"trusted proxy: a host with userinfo is not believed", loopback,
			[]string{"Accept", "text/html", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com@evil.net", "X-Forwarded-Uri", "/x"}, 302, "https://HOST/x"},
		{"trusted proxy: a scheme-relative uri is not believed", loopback,
			[]string{"Accept", "text/html", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "//evil.net/x"}, 302, "https://app.example.com/api/v1/auth/forward"},
		{"trusted proxy: an odd scheme is not believed", loopback,
			[]string{"Accept", "text/html", "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/x"}, 302, "http://app.example.com/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPI(t, keyward.DefaultConfig(), web.Config{PublicURL: u, TrustedProxies: tt.trusted})
			r := e.ask(t, "/api/v1/auth/forward", tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if r.status != 302 {
				return
			}
			own, _ := url.Parse(e.srv.URL)
			next := tt.next
			switch next {
			case "":
				next = e.srv.URL + "/api/v1/auth/forward"
			case "https://HOST/x":
				next = "https://" + own.Host + "/x"
			}
			want := "https://id.example.com/signin?next=" + url.QueryEscape(next)
			if got := r.header.Get("Location"); got != want {
				t.Fatalf("Location = %q, want %q", got, want)
			}
		})
	}
}
