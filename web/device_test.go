package web_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// form posts a sign-in form like a browser that sends cookies; redirects
// are not followed.
func (e *apiEnv) form(t testing.TB, path string, f url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestDeviceTokenOverHTTP replays the distributed attack over HTTP (behind
// a trusted proxy, a new address each time): an API client that sends back
// its device_token and a browser that sends its device cookie sign in at
// the first try throughout; a new device gets 429 while it goes on.
func TestDeviceTokenOverHTTP(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	creds := map[string]string{"email": "ada@example.com", "password": apiPassword}
	wantStatus(t, e.call(t, "POST", "/api/v1/accounts", "", creds), 201, "")
	r := e.call(t, "POST", "/api/v1/sessions", "", creds)
	wantStatus(t, r, 201, "")
	apiToken, _ := r.json(t)["device_token"].(string)
	if !strings.HasPrefix(apiToken, "kwd_") {
		t.Fatalf("sign-in body has device_token %q, want kwd_…: %s", apiToken, r.body)
	}

	signin := url.Values{"email": {"ada@example.com"}, "password": {apiPassword}, "next": {"/settings/security"}}
	res := e.form(t, "/signin", signin)
	device, session := cookieNamed(res, "keyward_device"), cookieNamed(res, "keyward_session")
	if res.StatusCode != http.StatusSeeOther || device == nil || session == nil {
		t.Fatalf("page sign-in = %d, cookies %v", res.StatusCode, res.Cookies())
	}
	life := keyward.DefaultConfig().DeviceTokenLifetime
	if !device.HttpOnly || device.SameSite != http.SameSiteLaxMode || device.Path != "/" || device.MaxAge != int(life.Seconds()) {
		t.Fatalf("device cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age=%d", device, int(life.Seconds()))
	}
	// Signing out ends the session, not the browser's device cookie.
	res = e.form(t, "/signout", url.Values{}, session)
	if res.StatusCode != http.StatusSeeOther || cookieNamed(res, "keyward_device") != nil {
		t.Fatalf("sign-out = %d, cookies %v: the device cookie must stay", res.StatusCode, res.Cookies())
	}

	n := 0
	var next time.Time
	failures := 0
	attack := func() {
		if e.Clock.Now().Before(next) {
			return
		}
		n++
		r := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": fmt.Sprintf("guess %d", n)},
			"X-Forwarded-For", fmt.Sprintf("192.0.%d.%d", 2+n/250, 1+n%250))
		switch r.status {
		case 401:
			failures++
		case 429:
			secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
			next = e.Clock.Now().Add(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("attacker: %d %s", r.status, r.body)
		}
	}
	for failures < 34 {
		attack()
		e.Clock.Advance(time.Second)
	}
	for i := range 150 {
		attack()
		if i%5 == 0 {
			known := map[string]string{"email": "ada@example.com", "password": apiPassword, "device_token": apiToken}
			r := e.call(t, "POST", "/api/v1/sessions", "", known, "X-Forwarded-For", "203.0.113.50")
			wantStatus(t, r, 201, "")
			apiToken = r.json(t)["device_token"].(string)

			res := e.form(t, "/signin", signin, device)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings/security" {
				t.Fatalf("at %ds, the browser with its device cookie: %d %s", i, res.StatusCode, res.Header.Get("Location"))
			}
			device = cookieNamed(res, "keyward_device")

			wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", creds, "X-Forwarded-For", "198.51.100.60"), 429, "too_many_attempts")
		}
		e.Clock.Advance(time.Second)
	}
}

// TestDeviceCookieNames: page sign-up's first session marks the browser
// too, and under https the cookie is __Host- and Secure like the session's.
// With a cookie domain, the session and device cookies carry it (and become
// __Secure- under https, since __Host- forbids Domain); the flash stays
// host-only.
func TestDeviceCookieNames(t *testing.T) {
	u, _ := url.Parse("https://id.example.com")
	plain, _ := url.Parse("http://id.example.test")
	type want struct{ name, domain string }
	tests := []struct {
		name                   string
		cfg                    web.Config
		session, device, flash want
		secure                 bool
	}{
		{"http", web.Config{}, want{"keyward_session", ""}, want{"keyward_device", ""}, want{"keyward_flash", ""}, false},
		{"https", web.Config{PublicURL: u}, want{"__Host-keyward_session", ""}, want{"__Host-keyward_device", ""}, want{"__Host-keyward_flash", ""}, true},
		{"http with a cookie domain", web.Config{PublicURL: plain, CookieDomain: "example.test"},
			want{"keyward_session", "example.test"}, want{"keyward_device", ""}, want{"keyward_flash", ""}, false},
		{"https with a cookie domain", web.Config{PublicURL: u, CookieDomain: ".Example.com"},
			want{"__Secure-keyward_session", "example.com"}, want{"__Host-keyward_device", ""}, want{"__Host-keyward_flash", ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPI(t, keyward.DefaultConfig(), tt.cfg)
			res := e.form(t, "/signup", url.Values{"email": {"ada@example.com"}, "password": {apiPassword}, "password_confirmation": {apiPassword}})
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-up = %d, want 303", res.StatusCode)
			}
			if c := cookieNamed(res, tt.device.name); c == nil || !strings.HasPrefix(c.Value, "kwd_") {
				t.Fatalf("sign-up cookies %v: want %s", res.Cookies(), tt.device.name)
			}
			for _, w := range []want{tt.session, tt.device, tt.flash} {
				c := cookieNamed(res, w.name)
				if c == nil {
					t.Fatalf("sign-up cookies %v: no %s", res.Cookies(), w.name)
				}
				if c.Secure != tt.secure || !c.HttpOnly || c.Path != "/" || c.Domain != w.domain || c.SameSite != http.SameSiteLaxMode {
					t.Fatalf("cookie %+v: want Secure=%v, HttpOnly, Path=/, Domain=%q, SameSite=Lax", c, tt.secure, w.domain)
				}
			}
		})
	}
}
