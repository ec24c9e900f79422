package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/totp"
)

const (
	email    = "ada@example.com"
	password = "correct horse battery staple"
	accept   = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// TestGoapp walks the example as a person and a program would, with keyward
// mounted both ways an application can: the whole path handed over
// (mux.Handle("/auth/", kw), as main does) and the prefix stripped first.
func TestGoapp(t *testing.T) {
	mounts := []struct {
		name string
		app  func(kw *server.Server) http.Handler
	}{
		{"mux.Handle", newApp},
		{"http.StripPrefix", func(kw *server.Server) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/auth/", http.StripPrefix("/auth", kw))
			mux.Handle("/", newApp(kw))
			return mux
		}},
	}
	for _, m := range mounts {
		t.Run(m.name, func(t *testing.T) {
			kw, err := openKeyward(t.Context(), t.TempDir(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { kw.Close() })
			ts := httptest.NewServer(m.app(kw))
			t.Cleanup(ts.Close)
			walk(t, ts.URL)
		})
	}
}

func walk(t *testing.T, base string) {
	browser := newClient(t, base)

	// Anyone sees the home page; the dashboard sends them to sign in.
	browser.want(browser.get("/"), 200, "", "A public page")
	browser.want(browser.get("/dashboard"), 303, "/auth/signin?next=%2Fdashboard", "")
	browser.want(browser.get("/auth/signin?next=%2Fdashboard"), 200, "", `name="next" value="/dashboard"`)

	// Sign up on keyward's page, and back at the dashboard.
	browser.want(browser.post("/auth/signup", url.Values{"email": {email}, "password": {password}, "password_confirmation": {password}, "next": {"/dashboard"}}), 303, "/dashboard", "")
	browser.want(browser.get("/dashboard"), 200, "", `<strong id="email">`+email+`</strong>`)

	// One factor is not enough for /admin: a page pointing to the settings,
	// or a JSON error for a program.
	browser.want(browser.get("/admin"), 403, "", `href="/auth/settings/security/two-factor"`)
	r := browser.do("GET", "/admin", nil, "Accept", "application/json")
	browser.want(r, 403, "", `"code":"mfa_required"`)

	// Turn on two-factor through keyward's API with the browser's cookie:
	// this very session is raised to two factors.
	r = browser.do("POST", "/auth/api/v1/account/2fa/setup", nil)
	browser.want(r, 200, "", "")
	secret := field(t, r, "secret").(string)
	code, err := totp.Code(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = browser.do("POST", "/auth/api/v1/account/2fa/enable", map[string]string{"code": code})
	browser.want(r, 200, "", "")
	var backupCodes []string
	for _, c := range field(t, r, "backup_codes").([]any) {
		backupCodes = append(backupCodes, c.(string))
	}
	browser.want(browser.get("/admin"), 200, "", email+" is signed in with a second factor")

	// The application's own form, behind RequireSession: refused from
	// another site, taken from its own pages.
	crossSite := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"}
	browser.want(browser.do("POST", "/dashboard/sign-out-others", nil, crossSite...), 403, "", "")
	browser.want(browser.post("/dashboard/sign-out-others", url.Values{}), 303, "/dashboard", "")

	// A laptop signs in with the password and a backup code, sees the
	// dashboard, and signs out with keyward's form.
	laptop := newClient(t, base)
	laptop.want(laptop.post("/auth/signin", url.Values{"email": {email}, "password": {password}, "next": {"/dashboard"}}), 303, "/auth/signin/2fa?next=%2Fdashboard", "")
	laptop.want(laptop.post("/auth/signin/2fa", url.Values{"code": {backupCodes[0]}, "method": {"backup"}, "next": {"/dashboard"}}), 303, "/dashboard", "")
	laptop.want(laptop.get("/admin"), 200, "", email)
	laptop.want(laptop.post("/auth/signout", url.Values{}), 303, "/auth/signin", "")
	laptop.want(laptop.get("/dashboard"), 303, "/auth/signin?next=%2Fdashboard", "")

	// A program signs in through the API with a bearer token and ends the
	// browser's session: the browser's next request is refused at once.
	phone := newClient(t, base)
	r = phone.do("POST", "/auth/api/v1/sessions", map[string]string{"email": email, "password": password})
	phone.want(r, 200, "", "mfa_token")
	r = phone.do("POST", "/auth/api/v1/sessions/mfa", map[string]string{"mfa_token": field(t, r, "mfa_token").(string), "code": backupCodes[1]})
	phone.want(r, 201, "", "")
	phone.token = field(t, r, "token").(string)
	phone.want(phone.do("GET", "/dashboard", nil), 200, "", email) // a bearer token works behind RequireSession too
	r = browser.do("GET", "/auth/api/v1/sessions/current", nil)
	browser.want(r, 200, "", "")
	browserSession := field(t, r, "session").(map[string]any)["id"].(string)
	phone.want(phone.do("DELETE", "/auth/api/v1/sessions/"+browserSession, nil), 204, "", "")
	browser.want(browser.get("/dashboard"), 303, "/auth/signin?next=%2Fdashboard", "")
	browser.want(browser.get("/admin"), 303, "/auth/signin?next=%2Fadmin", "")
}

// client is a browser (a cookie jar, redirects not followed) or, with a
// token, a program.
type client struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type reply struct {
	method, path string
	status       int
	location     string
	body         string
}

// get is a browser's navigation.
func (c *client) get(path string) reply { return c.do("GET", path, nil, "Accept", accept) }

// post is a form submitted from the application's own pages.
func (c *client) post(path string, form url.Values) reply {
	return c.do("POST", path, strings.NewReader(form.Encode()),
		"Accept", accept, "Content-Type", "application/x-www-form-urlencoded", "Origin", c.base, "Sec-Fetch-Site", "same-origin")
}

// do sends body: nil, a reader, or anything JSON-encodable. header is pairs.
func (c *client) do(method, path string, body any, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		js, _ := json.Marshal(b)
		rd, isJSON = bytes.NewReader(js), true
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{method: method, path: path, status: res.StatusCode, location: res.Header.Get("Location"), body: string(b)}
}

// want checks a reply's status, its Location ("" for none) and that its
// body holds text.
func (c *client) want(r reply, status int, location, text string) {
	c.t.Helper()
	if r.status != status || r.location != location || !strings.Contains(r.body, text) {
		c.t.Fatalf("%s %s = %d, Location %q; want %d, Location %q, a body with %q; body:\n%s",
			r.method, r.path, r.status, r.location, status, location, text, r.body)
	}
}

// field is a top-level field of a JSON reply.
func field(t *testing.T, r reply, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("%s %s: %q is not JSON: %v", r.method, r.path, r.body, err)
	}
	v, ok := m[name]
	if !ok {
		t.Fatalf("%s %s: no %q in %s", r.method, r.path, name, r.body)
	}
	return v
}

// TestRunPrintsWhereToOpen starts the example as main does, on a free port,
// and stops it.
func TestRunPrintsWhereToOpen(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncBuffer{lines: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", t.TempDir(), out) }()
	var line string
	select {
	case line = <-out.lines:
	case err := <-done:
		t.Fatalf("run ended before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run printed nothing in 30s")
	}
	u := strings.TrimSuffix(strings.TrimPrefix(line, "goapp is running: open "), " in your browser\n")
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d, want 200", u, res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after its context ended: %v", err)
	}
}

// syncBuffer hands each write to the test as a line.
type syncBuffer struct{ lines chan string }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lines <- string(p)
	return len(p), nil
}
