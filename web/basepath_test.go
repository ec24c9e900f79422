package web

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
)

func TestParseBasePath(t *testing.T) {
	plain, _ := url.Parse("https://id.example.com")
	slash, _ := url.Parse("https://id.example.com/")
	withBase, _ := url.Parse("https://example.com/auth")
	withBaseSlash, _ := url.Parse("https://example.com/auth/")
	other, _ := url.Parse("https://example.com/login")
	tests := []struct {
		name, in string
		public   *url.URL
		want     string
		wantErr  string
	}{
		{"empty", "", nil, "", ""},
		{"root", "/", nil, "", ""},
		{"one segment", "/auth", nil, "/auth", ""},
		{"two segments", "/id/auth", nil, "/id/auth", ""},
		{"unreserved characters", "/a-b_c.d~e", nil, "/a-b_c.d~e", ""},
		{"a dot inside a segment", "/v1.2", nil, "/v1.2", ""},
		{"public url without a path", "/auth", plain, "/auth", ""},
		{"public url with /", "/auth", slash, "/auth", ""},
		{"public url with the base path", "/auth", withBase, "/auth", ""},
		{"public url with the base path and /", "/auth", withBaseSlash, "/auth", ""},
		{"no leading slash", "auth", nil, "", "must start with /"},
		{"trailing slash", "/auth/", nil, "", "must not end with /"},
		{"two trailing slashes", "/auth//", nil, "", "must not end with /"},
		{"empty segment", "/a//b", nil, "", "empty segment"},
		{"leading double slash", "//evil.example", nil, "", "empty segment"},
		{"dot dot", "/a/../b", nil, "", `".." segment`},
		{"only dot dot", "/..", nil, "", `".." segment`},
		{"dot", "/a/./b", nil, "", `"." segment`},
		{"query", "/auth?x=1", nil, "", "query or fragment"},
		{"fragment", "/auth#x", nil, "", "query or fragment"},
		{"percent-encoding", "/a%2Fb", nil, "", "percent-encoded"},
		{"encoded dot", "/%2e%2e", nil, "", "percent-encoded"},
		{"space", "/my auth", nil, "", "only letters"},
		{"tab", "/a\tb", nil, "", "only letters"},
		{"newline", "/a\nSet-Cookie: x", nil, "", "only letters"},
		{"NUL", "/a\x00", nil, "", "only letters"},
		{"semicolon (ends a cookie attribute)", "/a;b", nil, "", "only letters"},
		{"backslash", "/a\\b", nil, "", "only letters"},
		{"non-ASCII", "/äuth", nil, "", "only letters"},
		{"too long", "/" + strings.Repeat("a", maxBasePathLen), nil, "", "longer than"},
		{"keyward's api", "/api", nil, "", "keyward's own paths"},
		{"keyward's static", "/static/x", nil, "", "keyward's own paths"},
		{"keyward's settings, other case", "/Settings", nil, "", "keyward's own paths"},
		{"public url with a path, no base path", "", withBase, "", "set --base-path /auth"},
		{"public url with another path", "/auth", other, "", `has the path "/login"`},
		{"public url with a path, base path a child", "/auth/x", withBase, "", `has the path "/auth"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBasePath(tt.in, tt.public)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseBasePath(%q) = %q, %v, want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseBasePath(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseBasePath(f *testing.F) {
	for _, s := range []string{"", "/", "/auth", "/a/b", "/a/../b", "//x", "/a%2F", "/a b", "/api"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		base, err := ParseBasePath(in, nil)
		if err != nil || base == "" {
			return
		}
		// An accepted base path is a clean path that survives a URL, a
		// cookie attribute and path.Clean unchanged.
		u, perr := url.Parse(base)
		if perr != nil || u.Path != base || u.EscapedPath() != base || cleanPath(base) != base ||
			strings.ContainsAny(base, ";, \t\r\n\\\"%?#") || strings.HasPrefix(base, "//") {
			t.Fatalf("ParseBasePath(%q) = %q, which is not a plain clean path", in, base)
		}
	})
}

func TestParseCookiePath(t *testing.T) {
	tests := []struct {
		name, in, base, want, wantErr string
	}{
		{"default, no base path", "", "", "/", ""},
		{"default, base path", "", "/auth", "/auth", ""},
		{"root, no base path", "/", "", "/", ""},
		{"root under a base path", "/", "/auth", "/", ""},
		{"the base path", "/auth", "/auth", "/auth", ""},
		{"a parent of the base path", "/id", "/id/auth", "/id", ""},
		{"not on a segment boundary", "/au", "/auth", "", "segment boundary"},
		{"a child of the base path", "/auth/x", "/auth", "", "segment boundary"},
		{"another path", "/app", "/auth", "", "segment boundary"},
		{"a path without a base path", "/auth", "", "", "segment boundary"},
		{"trailing slash", "/auth/", "/auth", "", "segment boundary"},
		{"parent with a trailing slash", "/id/", "/id/auth", "", "segment boundary"},
		{"no leading slash", "auth", "/auth", "", "segment boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCookiePath(tt.in, tt.base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCookiePath(%q, %q) = %q, %v, want an error with %q", tt.in, tt.base, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCookiePath(%q, %q) = %q, %v, want %q", tt.in, tt.base, got, err, tt.want)
			}
		})
	}
}

// New refuses what the parsers refuse: a Go application that fills Config
// by hand gets the same checks as the flags.
func TestNewRefusesBadBasePaths(t *testing.T) {
	withPath, _ := url.Parse("https://example.com/auth")
	for _, cfg := range []Config{
		{BasePath: "auth"},
		{BasePath: "/auth/"},
		{BasePath: "/a/../b"},
		{BasePath: "/auth", CookiePath: "/app"},
		{CookiePath: "/auth"},
		{PublicURL: withPath},
		{PublicURL: withPath, BasePath: "/other"},
	} {
		if _, err := New(nil, cfg, nil); err == nil {
			t.Errorf("New(BasePath %q, CookiePath %q, PublicURL %v) = nil error, want one", cfg.BasePath, cfg.CookiePath, cfg.PublicURL)
		}
	}
}

// Every first segment of a route is reserved, so that no base path can be
// confused with a route when requests come both stripped and not.
func TestReservedFirstSegmentsCoverRoutes(t *testing.T) {
	srv, err := New(nil, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pattern := range srv.RoutePatterns() {
		_, p, found := strings.Cut(pattern, " ")
		if !found {
			p = pattern
		}
		n++
		first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if first == "" || first == "{$}" {
			continue
		}
		if !reservedFirstSegments[first] {
			t.Errorf("route %q: its first segment %q is not in reservedFirstSegments", p, first)
		}
	}
	if n < 20 {
		t.Fatalf("found %d routes, want every one of routes.go", n)
	}
}

// linksOutside walks a page's HTML and returns every link to this origin
// (href, src, action, formaction, data-*-url) that is not under base. A
// scheme-relative //host link counts as outside too.
func linksOutside(body, base string) (outside []string, links int, err error) {
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return outside, links, nil
		}
		if err != nil {
			return nil, 0, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range el.Attr {
			name := strings.ToLower(a.Name.Local)
			if name != "href" && name != "src" && name != "action" && name != "formaction" &&
				!(strings.HasPrefix(name, "data-") && strings.HasSuffix(name, "-url")) {
				continue
			}
			v := strings.TrimSpace(a.Value)
			if !strings.HasPrefix(v, "/") {
				continue // absolute (the app link), data:, #fragment
			}
			links++
			if strings.HasPrefix(v, "//") || !(v == base || strings.HasPrefix(v, base+"/") || strings.HasPrefix(v, base+"?")) {
				outside = append(outside, el.Name.Local+" "+name+"="+v)
			}
		}
	}
}

// checkUnderBase fails the test for a page with a link outside the base
// path, or a redirect to this origin outside it.
func (e *pageEnv) checkUnderBase(what string, p page) {
	e.t.Helper()
	if strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		out, n, err := linksOutside(p.body, e.base)
		if err != nil {
			e.t.Errorf("%s: reading the page's HTML: %v", what, err)
		}
		if n == 0 && (p.status < 300 || p.status >= 400) { // a redirect's body links only its target
			e.t.Errorf("%s: the page has no link at all (the stylesheet at least)", what)
		}
		for _, l := range out {
			e.t.Errorf("%s: link outside the base path %s: %s", what, e.base, l)
		}
	}
	if loc := p.header.Get("Location"); loc != "" && loc != e.outside {
		u, err := url.Parse(loc)
		if err != nil || u.Host == "" && !(u.Path == e.base || strings.HasPrefix(u.Path, e.base+"/")) {
			e.t.Errorf("%s: redirect to %q, outside the base path %s", what, loc, e.base)
		}
	}
}

// The link walker itself must catch what the page tests rely on it for.
func TestLinksOutside(t *testing.T) {
	body := `<!doctype html><html><head><link rel="stylesheet" href="/auth/static/style.css"><script src="/static/x.js" defer></script></head>
<body><a href="/authx">x</a><a href="//evil.example/">e</a><a href="https://app.example.com/">app</a><a href="#main">skip</a>
<form method="post" action="/signin"><input type="hidden" name="next" value="/dashboard"><button formaction="/auth/signout">o</button></form>
<p data-strength-url="/api/v1/password/strength" data-strength-for="p"></p><img src="data:image/png;base64,AA" alt=""><a href="/auth?x=1">q</a></body></html>`
	out, n, err := linksOutside(body, "/auth")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"script src=/static/x.js", "a href=/authx", "a href=//evil.example/", "form action=/signin", "p data-strength-url=/api/v1/password/strength"}
	if !slices.Equal(out, want) || n != 8 {
		t.Fatalf("linksOutside = %q (%d links), want %q (8 links)", out, n, want)
	}
}

// With a base path, requests are served whether the path still carries it
// or was stripped; links and redirects always carry it; what is outside both
// is a 404 in the caller's shape.
func TestBasePathRouting(t *testing.T) {
	u, _ := url.Parse("https://id.example.com")
	srv := newPageEnvWeb(t, keyward.DefaultConfig(), Config{PublicURL: u, BasePath: "/auth", AccentColor: "#123456"}).srv
	const html, json, css = "text/html", "application/json", "text/css"
	tests := []struct {
		name, path string
		status     int
		kind       string // Content-Type prefix, "" for no check
		location   string
	}{
		{"base path alone", "/auth", 303, "", "/auth/signin"},
		{"base path and slash", "/auth/", 303, "", "/auth/signin"},
		{"stripped root", "/", 303, "", "/auth/signin"},
		{"sign-in", "/auth/signin", 200, html, ""},
		{"sign-in, stripped", "/signin", 200, html, ""},
		{"settings, signed out", "/auth/settings/security", 303, "", "/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity"},
		{"settings, stripped, signed out", "/settings/security/sessions", 303, "", "/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity%2Fsessions"},
		{"health", "/auth/healthz", 200, "", ""},
		{"health, stripped", "/healthz", 200, "", ""},
		{"stylesheet", "/auth/static/style.css", 200, css, ""},
		{"stylesheet, stripped", "/static/style.css", 200, css, ""},
		{"brand stylesheet", "/auth/static/brand.css", 200, css, ""},
		{"API check", "/auth/api/v1/auth/check", 401, json, ""},
		{"API check, stripped", "/api/v1/auth/check", 401, json, ""},
		{"forward auth sends to sign-in under the base path", "/auth/api/v1/auth/forward", 302, "", "https://id.example.com/auth/signin?next="},
		{"unknown API path", "/auth/api/v1/nope", 404, json, ""},
		{"unknown API path, stripped", "/api/v1/nope", 404, json, ""},
		{"unknown page", "/auth/nope", 404, html, ""},
		{"the application's page", "/dashboard", 404, html, ""},
		{"base path as a prefix, not a segment", "/authx/signin", 404, html, ""},
		{"base path twice", "/auth/auth/signin", 404, html, ""},
		{"empty segment stays under the base path", "/auth//signin", 301, "", "/auth/signin"},
		{"dot segments stay under the base path", "/auth/x/../signin?next=%2Fa", 301, "", "/auth/signin?next=%2Fa"},
		{"dot dot out of the base path is cleaned back in", "/auth/../signin", 301, "", "/auth/signin"},
		{"scheme-relative trick", "//evil.example/x", 301, "", "/auth/evil.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://id.example.com"+tt.path, nil)
			r.Header.Set("Accept", "text/html")
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("GET %s: status %d, want %d\n%s", tt.path, w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); tt.kind != "" && !strings.HasPrefix(ct, tt.kind) {
				t.Fatalf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.kind)
			}
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, tt.location) || (tt.location == "") != (loc == "") {
				t.Fatalf("GET %s: Location %q, want %q", tt.path, loc, tt.location)
			}
			// Every answer, the clean-path redirects included, goes through
			// the middleware.
			for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Request-Id"} {
				if w.Header().Get(h) == "" {
					t.Fatalf("GET %s: no %s header", tt.path, h)
				}
			}
			if tt.kind == html {
				out, _, err := linksOutside(w.Body.String(), "/auth")
				if err != nil || len(out) > 0 {
					t.Fatalf("GET %s: links outside the base path: %q %v", tt.path, out, err)
				}
			}
		})
	}
}

// An application mounts keyward under /auth in the two ways Go allows; a
// proxy does the same with or without stripping. Both serve the pages with
// links under /auth.
func TestBasePathMounts(t *testing.T) {
	mounts := []struct {
		name  string
		mount func(http.Handler) http.Handler
	}{
		{"http.StripPrefix", func(h http.Handler) http.Handler { return http.StripPrefix("/auth", h) }},
		{"mux.Handle /auth/", func(h http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/auth/", h)
			mux.Handle("/dashboard", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "the app") }))
			return mux
		}},
	}
	for _, m := range mounts {
		t.Run(m.name, func(t *testing.T) {
			e := newPageEnvMounted(t, keyward.DefaultConfig(), Config{BasePath: "/auth", CookiePath: "/"}, m.mount)
			wantStatus(t, "sign-in page", e.get("/auth/signin"), 200)
			p := e.post("/auth/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {testPassword}})
			wantRedirect(t, "sign-up", p, "/auth/settings/security")
			wantStatus(t, "overview", e.get("/auth/settings/security"), 200)
			wantStatus(t, "sessions", e.get("/auth/settings/security/sessions"), 200)
			res, err := e.c.Get(e.ts.URL + "/auth/static/style.css")
			if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
				t.Fatalf("stylesheet: %v %v", res, err)
			}
			res.Body.Close()
			wantRedirect(t, "sign out", e.post("/auth/signout", url.Values{}), "/auth/signin")
		})
	}
}

// Walks every page under a base path, signed out and in, through sign-up
// with next, two-factor, sessions and sign-out: pageEnv.do fails on any
// link or redirect outside the base path. The session cookie's Path is the
// base path or, with CookiePath "/", the whole host (the application's
// pages carry it too); sign-out clears it with the same Path.
func TestBasePathWalk(t *testing.T) {
	for _, cookiePath := range []string{"", "/"} {
		t.Run("cookie path "+cookiePath, func(t *testing.T) {
			app, _ := url.Parse("https://app.example.com/")
			e := newPageEnvWeb(t, keyward.DefaultConfig(), Config{BasePath: "/auth", CookiePath: cookiePath,
				AppURL: app, AccentColor: "#123456", AllowedReturnOrigins: []string{"https://app.example.com"}})
			wantSessionPath := "/auth"
			if cookiePath == "/" {
				wantSessionPath = "/"
			}

			// Signed out.
			wantRedirect(t, "home", e.get("/auth/"), "/auth/signin")
			p := e.get("/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity%2Fsessions")
			wantStatus(t, "sign-in page", p, 200)
			wantBody(t, "sign-in page", p, `action="/auth/signin"`, `name="next" value="/auth/settings/security/sessions"`,
				`href="/auth/signup?next=%2Fauth%2Fsettings%2Fsecurity%2Fsessions"`, `href="/auth/static/style.css"`, `href="/auth/static/brand.css"`)
			p = e.get("/auth/signup?next=%2Fauth%2Fsettings%2Fsecurity%2Fsessions")
			wantStatus(t, "sign-up page", p, 200)
			wantBody(t, "sign-up page", p, `action="/auth/signup"`, `name="next" value="/auth/settings/security/sessions"`,
				`href="/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity%2Fsessions"`, `src="/auth/static/password-meter.js"`,
				`data-strength-url="/auth/api/v1/password/strength"`)
			wantStatus(t, "not found", e.get("/auth/no/such/page"), 404)
			// The pages a mailed link opens, signed out.
			for path, status := range map[string]int{"/auth/forgot-password": 200, "/auth/reset-password?token=x": 400,
				"/auth/verify-email?token=x": 200, "/auth/lockdown?token=x": 200} {
				wantStatus(t, path, e.get(path), status)
			}
			wantRedirect(t, "second step without a first", e.get("/auth/signin/2fa"), "/auth/signin")

			// Sign-up lands on next.
			res := e.post("/auth/signup", url.Values{"email": {testEmail}, "password": {testPassword},
				"password_confirmation": {testPassword}, "next": {"/auth/settings/security/sessions"}})
			wantRedirect(t, "sign-up", res, "/auth/settings/security/sessions")
			wantCookiePath(t, "sign-up", res, "keyward_session", wantSessionPath)
			// The flash is at Path=/ to be __Host- under https (see TestCookieAttributes).
			wantCookiePath(t, "sign-up", res, "keyward_flash", "/")
			wantCookiePath(t, "sign-up", res, "keyward_device", "/auth")
			// The application beside keyward gets the cookie only with Path=/.
			appURL, _ := url.Parse(e.ts.URL + "/dashboard")
			if got := hasCookie(e.c.Jar.Cookies(appURL), "keyward_session"); got != (cookiePath == "/") {
				t.Errorf("the application's /dashboard carries the session cookie: %v, want %v", got, cookiePath == "/")
			}

			// Every settings page.
			for _, path := range []string{"/auth/settings/security", "/auth/settings/security/password", "/auth/settings/security/email",
				"/auth/settings/security/sessions", "/auth/settings/security/audit", "/auth/settings/security/audit?type=account.created"} {
				p := e.get(path)
				wantStatus(t, path, p, 200)
				wantBody(t, path, p, `action="/auth/signout"`, `href="https://app.example.com/"`)
			}
			wantRedirect(t, "password change", e.post("/auth/settings/security/password", url.Values{
				"current_password": {testPassword}, "new_password": {testPassword + " again"}, "new_password_confirmation": {testPassword + " again"}}),
				"/auth/settings/security/password")
			pw := testPassword + " again"
			secret, backup := e.enableTwoFactor()

			// A second browser, signed in with both steps, shows on the
			// sessions page and is ended from it.
			other := e.newClient()
			p = e.do(other, "POST", "/auth/signin", url.Values{"email": {testEmail}, "password": {pw}, "next": {"/auth/settings/security/audit"}})
			wantRedirect(t, "other: password step", p, "/auth/signin/2fa?next=%2Fauth%2Fsettings%2Fsecurity%2Faudit")
			wantStatus(t, "other: second step page", e.do(other, "GET", "/auth/signin/2fa?next=%2Fauth%2Fsettings%2Fsecurity%2Faudit", nil), 200)
			wantStatus(t, "other: backup code page", e.do(other, "GET", "/auth/signin/2fa?method=backup&next=%2Fauth%2Fsettings%2Fsecurity%2Faudit", nil), 200)
			code, _ := totp.Code(secret, time.Now().Add(30*time.Second)) // not the code that enabled 2FA
			p = e.do(other, "POST", "/auth/signin/2fa", url.Values{"code": {code}, "next": {"/auth/settings/security/audit"}})
			wantRedirect(t, "other: second step", p, "/auth/settings/security/audit")
			p = e.get("/auth/settings/security/sessions")
			wantBody(t, "sessions", p, `action="/auth/settings/security/sessions/end-others"`)
			m := regexp.MustCompile(`action="(/auth/settings/security/sessions/[^"]+/end)"`).FindStringSubmatch(p.body)
			if m == nil {
				t.Fatalf("sessions: no end button for the other session\n%s", p.body)
			}
			wantRedirect(t, "end the other session", e.post(m[1], url.Values{}), "/auth/settings/security/sessions")

			// Sign-out clears the session cookie with the Path it was set with.
			res = e.post("/auth/signout", url.Values{})
			wantRedirect(t, "sign out", res, "/auth/signin")
			wantCookiePath(t, "sign out", res, "keyward_session", wantSessionPath)
			if hasCookie(e.c.Jar.Cookies(appURL), "keyward_session") {
				t.Errorf("after sign-out the session cookie is still sent to the application")
			}
			wantRedirect(t, "settings after sign-out", e.get("/auth/settings/security"), "/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity")

			// next may be the application's page on this host, or an
			// allowed origin; anything else lands on the settings page.
			e.outside = "/dashboard"
			p = e.post("/auth/signin", url.Values{"email": {testEmail}, "password": {pw}, "next": {"/dashboard"}})
			wantRedirect(t, "sign in for the application", p, "/auth/signin/2fa?next=%2Fdashboard")
			wantRedirect(t, "second step for the application", e.post("/auth/signin/2fa", url.Values{"code": {backup[0]}, "method": {"backup"}, "next": {"/dashboard"}}), "/dashboard")
			e.outside = "https://app.example.com/x"
			wantRedirect(t, "signed in, allowed origin", e.get("/auth/signin?next=https%3A%2F%2Fapp.example.com%2Fx"), "https://app.example.com/x")
			wantRedirect(t, "signed in, refused origin", e.get("/auth/signin?next=https%3A%2F%2Fevil.example%2F"), "/auth/settings/security")
			wantRedirect(t, "signed in, sign-up page", e.get("/auth/signup?next=%2Fauth%2Fsettings%2Fsecurity%2Faudit"), "/auth/settings/security/audit")
		})
	}
}

func wantCookiePath(t testing.TB, what string, p page, name, path string) {
	t.Helper()
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == name {
			if c.Path != path {
				t.Errorf("%s: cookie %s has Path=%q, want %q", what, name, c.Path, path)
			}
			return
		}
	}
	t.Errorf("%s: no Set-Cookie for %s in %q", what, name, p.header.Values("Set-Cookie"))
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Set-Cookie attributes for every combination of scheme, base path, cookie
// path and cookie domain, for setting and for clearing (a clear without the
// same Path and Domain leaves the browser's cookie in place).
// The flash cookie is always at Path=/ so that under https it is __Host-:
// a __Secure- one under a base path could be set by any sibling subdomain
// (Domain=example.com; Path=/auth), and keyward would show that site's text
// as its own message. It holds no secret, so reaching the application's
// paths costs nothing.
func TestCookieAttributes(t *testing.T) {
	type want struct{ name, path, domain string }
	tests := []struct {
		name                             string
		scheme, base, cookiePath, domain string
		session, mfa, flash, device      want
	}{
		{"http, root", "http", "", "", "",
			want{"keyward_session", "/", ""}, want{"keyward_mfa", "/", ""}, want{"keyward_flash", "/", ""}, want{"keyward_device", "/", ""}},
		{"http, base path", "http", "/auth", "", "",
			want{"keyward_session", "/auth", ""}, want{"keyward_mfa", "/auth", ""}, want{"keyward_flash", "/", ""}, want{"keyward_device", "/auth", ""}},
		{"http, base path, cookie path /", "http", "/auth", "/", "",
			want{"keyward_session", "/", ""}, want{"keyward_mfa", "/auth", ""}, want{"keyward_flash", "/", ""}, want{"keyward_device", "/auth", ""}},
		{"http, base path, domain", "http", "/auth", "", "example.com",
			want{"keyward_session", "/auth", "example.com"}, want{"keyward_mfa", "/auth", ""}, want{"keyward_flash", "/", ""}, want{"keyward_device", "/auth", ""}},
		{"https, root", "https", "", "", "",
			want{"__Host-keyward_session", "/", ""}, want{"__Host-keyward_mfa", "/", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Host-keyward_device", "/", ""}},
		{"https, root, domain", "https", "", "", "example.com",
			want{"__Secure-keyward_session", "/", "example.com"}, want{"__Host-keyward_mfa", "/", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Host-keyward_device", "/", ""}},
		{"https, base path", "https", "/auth", "", "",
			want{"__Secure-keyward_session", "/auth", ""}, want{"__Secure-keyward_mfa", "/auth", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Secure-keyward_device", "/auth", ""}},
		{"https, base path, cookie path /", "https", "/auth", "/", "",
			want{"__Host-keyward_session", "/", ""}, want{"__Secure-keyward_mfa", "/auth", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Secure-keyward_device", "/auth", ""}},
		{"https, base path, cookie path /, domain", "https", "/auth", "/", "example.com",
			want{"__Secure-keyward_session", "/", "example.com"}, want{"__Secure-keyward_mfa", "/auth", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Secure-keyward_device", "/auth", ""}},
		{"https, two-segment base path, parent cookie path", "https", "/id/auth", "/id", "",
			want{"__Secure-keyward_session", "/id", ""}, want{"__Secure-keyward_mfa", "/id/auth", ""}, want{"__Host-keyward_flash", "/", ""}, want{"__Secure-keyward_device", "/id/auth", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse(tt.scheme + "://id.example.com")
			s, err := New(nil, Config{PublicURL: u, BasePath: tt.base, CookiePath: tt.cookiePath, CookieDomain: tt.domain}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				kind string
				name string
				want want
			}{{"session", s.cookie.session, tt.session}, {"mfa", s.cookie.mfa, tt.mfa}, {"flash", s.cookie.flash, tt.flash}, {"device", s.cookie.device, tt.device}} {
				for _, clear := range []bool{false, true} {
					w := httptest.NewRecorder()
					if clear {
						s.clearCookie(w, c.name)
					} else {
						s.setCookie(w, c.name, "v", time.Time{})
					}
					cs := (&http.Response{Header: w.Header()}).Cookies()
					if len(cs) != 1 {
						t.Fatalf("%s: %d cookies set", c.kind, len(cs))
					}
					got := cs[0]
					if got.Name != c.want.name || got.Path != c.want.path || got.Domain != c.want.domain ||
						got.Secure != (tt.scheme == "https") || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode {
						t.Errorf("%s (clear=%v): Set-Cookie %q, want name %s, Path=%s, Domain=%q, Secure=%v, HttpOnly, SameSite=Lax",
							c.kind, clear, w.Header().Get("Set-Cookie"), c.want.name, c.want.path, c.want.domain, tt.scheme == "https")
					}
					if clear && got.MaxAge >= 0 {
						t.Errorf("%s: clearing sets Max-Age %d", c.kind, got.MaxAge)
					}
				}
			}
			// A browser holds what was set and drops it on the clear.
			jar, _ := cookiejar.New(nil)
			page, _ := url.Parse(tt.scheme + "://id.example.com" + tt.base + "/settings/security")
			w := httptest.NewRecorder()
			s.setCookie(w, s.cookie.session, "v", time.Now().Add(time.Hour))
			jar.SetCookies(page, (&http.Response{Header: w.Header()}).Cookies())
			if !hasCookie(jar.Cookies(page), s.cookie.session) {
				t.Fatalf("a browser does not keep the session cookie set for %s", page)
			}
			w = httptest.NewRecorder()
			s.clearCookie(w, s.cookie.session)
			jar.SetCookies(page, (&http.Response{Header: w.Header()}).Cookies())
			if hasCookie(jar.Cookies(page), s.cookie.session) {
				t.Fatalf("the clear leaves the session cookie in the browser")
			}
		})
	}
}

// Sign-up carries next like sign-in: through the page, its form and the
// links between the two pages, to where the person lands.
func TestSignupNext(t *testing.T) {
	e := newPageEnvWeb(t, keyward.DefaultConfig(), Config{AllowedReturnOrigins: []string{"https://app.example.com"}})
	p := e.get("/signup?next=https%3A%2F%2Fapp.example.com%2Fwelcome")
	wantBody(t, "sign-up page", p, `name="next" value="https://app.example.com/welcome"`,
		`href="/signin?next=https%3A%2F%2Fapp.example.com%2Fwelcome"`)
	p = e.get("/signin?next=https%3A%2F%2Fapp.example.com%2Fwelcome")
	wantBody(t, "sign-in page", p, `href="/signup?next=https%3A%2F%2Fapp.example.com%2Fwelcome"`)
	p = e.get("/signup?next=https%3A%2F%2Fapp.example.com.evil.net%2F")
	wantBody(t, "sign-up page, refused next", p, `name="next" value="/settings/security"`, `href="/signin"`)
	wantNoBody(t, "sign-up page, refused next", p, "evil.net")

	form := func(email, next string) url.Values {
		return url.Values{"email": {email}, "password": {testPassword}, "password_confirmation": {testPassword}, "next": {next}}
	}
	p = e.post("/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {"other"}, "next": {"https://app.example.com/welcome"}})
	wantStatus(t, "sign-up error keeps next", p, 400)
	wantBody(t, "sign-up error keeps next", p, `name="next" value="https://app.example.com/welcome"`)

	tests := []struct{ name, next, want string }{
		{"allowed origin", "https://app.example.com/welcome?x=1", "https://app.example.com/welcome?x=1"},
		{"refused origin", "https://evil.example/", "/settings/security"},
		{"userinfo trick", "https://app.example.com@evil.example/", "/settings/security"},
		{"scheme-relative", "//evil.example/", "/settings/security"},
		{"local path", "/settings/security/two-factor", "/settings/security/two-factor"},
		{"none", "", "/settings/security"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.newClient()
			email := "next" + string(rune('a'+i)) + "@example.com"
			wantRedirect(t, "sign-up", e.do(c, "POST", "/signup", form(email, tt.next)), tt.want)
		})
	}
}

// Whatever path a request has, taking the base path off leaves a path the
// routes can read, and a redirect for an unclean path stays on this origin
// under the base path.
func FuzzUnderBase(f *testing.F) {
	for _, s := range []string{"/", "/auth", "/auth/", "/auth/signin", "/signin", "//evil.example", "/auth//x", "/auth/../..//x",
		"/auth/./x", "/authx", "/auth/%2e%2e/x", "/auth\\x", "/auth/.well-known/x"} {
		f.Add(s)
	}
	s, err := New(nil, Config{BasePath: "/auth"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse("http://id.example.com" + p)
		if err != nil || u.Host != "id.example.com" || !strings.HasPrefix(u.Path, "/") {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL = u
		r2, loc := s.underBase(r)
		if loc != "" {
			lu, err := url.Parse(loc)
			if err != nil || lu.Host != "" || lu.Scheme != "" ||
				!strings.HasPrefix(loc, "/auth/") || strings.HasPrefix(loc, "//") || cleanPath(lu.Path) != lu.Path {
				t.Fatalf("path %q: sent to %q, want a clean path under /auth", u.Path, loc)
			}
			return
		}
		got := r2.URL.Path
		if !strings.HasPrefix(got, "/") || cleanPath(got) != got {
			t.Fatalf("path %q is routed as %q, not a clean path", u.Path, got)
		}
		if got != u.Path && "/auth"+strings.TrimSuffix(got, "/") != strings.TrimSuffix(u.Path, "/") && !(got == "/" && u.Path == "/auth") {
			t.Fatalf("path %q is routed as %q, neither itself nor itself without /auth", u.Path, got)
		}
		if r.URL.Path != u.Path {
			t.Fatalf("the caller's request was changed: %q", r.URL.Path)
		}
	})
}
