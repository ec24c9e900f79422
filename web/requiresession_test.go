package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// appEnv is an application with keyward mounted beside its own routes:
// /app/dashboard behind RequireSession, /app/admin behind RequireTwoFactor,
// /app/do (POST) behind RequireSession, and /stripped/dashboard behind
// RequireSession inside http.StripPrefix.
type appEnv struct {
	*apiEnv
	reached atomic.Int64 // requests the application's handlers saw
}

// identityJSON is what the application's handlers answer: the identity
// the middleware put in the context, and whether it holds a secret.
type identityJSON struct {
	AccountID, Email, SessionID string
	AAL                         int
	Secrets                     bool
	Path                        string
}

func newAppEnv(t *testing.T) *appEnv {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{Config: keyward.DefaultConfig()})
	kw, err := web.New(env.Svc, web.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &appEnv{}
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.reached.Add(1)
		id, ok := keyward.FromContext(r.Context())
		if !ok {
			http.Error(w, "no identity in the context", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(identityJSON{
			AccountID: id.Account.ID, Email: id.Account.Email, SessionID: id.Session.ID, AAL: id.Session.AAL,
			Secrets: id.Account.PasswordHash != "" || len(id.Session.TokenHash) > 0, Path: r.URL.Path,
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/", kw)
	mux.Handle("GET /app/dashboard", kw.RequireSession(whoami))
	mux.Handle("GET /app/admin", kw.RequireTwoFactor(whoami))
	mux.Handle("POST /app/do", kw.RequireSession(whoami))
	mux.Handle("/stripped/", http.StripPrefix("/stripped", kw.RequireSession(whoami)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.apiEnv = &apiEnv{Env: env, srv: srv}
	return a
}

// visit sends a request without following redirects. header is pairs.
func (a *appEnv) visit(t testing.TB, method, path string, header ...string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, nil)
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

func (a *appEnv) sessionID(t testing.TB, tok string) string {
	t.Helper()
	r := a.call(t, "GET", "/api/v1/sessions/current", tok, nil)
	wantStatus(t, r, 200, "")
	return r.json(t)["session"].(map[string]any)["id"].(string)
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func TestRequireSession(t *testing.T) {
	a := newAppEnv(t)
	one := a.signUpIn(t, "ada@example.com")
	two := a.twoFactorSession(t, a.signUpIn(t, "bob@example.com"), "bob@example.com")
	adaSession, bobSession := a.sessionID(t, one), a.sessionID(t, two)
	cookie := func(tok string) string { return "keyward_session=" + tok }

	tests := []struct {
		name   string
		method string
		path   string
		header []string
		status int
		// code is the JSON error's, location the redirect's, page a text
		// the HTML answer must hold; identity the session that got through.
		code, location, page string
		session              string
		aal                  int
	}{
		{"anonymous browser is sent to sign in and back", "GET", "/app/dashboard?tab=1", []string{"Accept", browserAccept}, 303,
			"", "/signin?next=%2Fapp%2Fdashboard%3Ftab%3D1", "", "", 0},
		{"anonymous HEAD from a browser too", "HEAD", "/app/dashboard", []string{"Accept", browserAccept}, 303,
			"", "/signin?next=%2Fapp%2Fdashboard", "", "", 0},
		{"a stripped prefix still comes back to the original path", "GET", "/stripped/dashboard", []string{"Accept", browserAccept}, 303,
			"", "/signin?next=%2Fstripped%2Fdashboard", "", "", 0},
		{"anonymous program gets the API's 401", "GET", "/app/dashboard", []string{"Accept", "application/json"}, 401,
			"unauthenticated", "", "", "", 0},
		{"no Accept at all is a program", "GET", "/app/dashboard", nil, 401, "unauthenticated", "", "", "", 0},
		{"anonymous POST is 401, never a redirect", "POST", "/app/do", []string{"Sec-Fetch-Site", "same-origin"}, 401,
			"unauthenticated", "", "", "", 0},
		{"anonymous form POST from a browser gets a page, never a redirect", "POST", "/app/do", []string{"Accept", browserAccept, "Sec-Fetch-Site", "same-origin"}, 401,
			"", "", "Sign in to continue", "", 0},
		{"an unknown cookie from a browser is sent to sign in", "GET", "/app/dashboard", []string{"Accept", browserAccept, "Cookie", cookie("nope")}, 303,
			"", "/signin?next=%2Fapp%2Fdashboard", "", "", 0},
		{"an unknown bearer token is 401 even for a browser", "GET", "/app/dashboard", []string{"Accept", browserAccept, "Authorization", "Bearer nope"}, 401,
			"unauthenticated", "", "", "", 0},
		{"not a bearer scheme", "GET", "/app/dashboard", []string{"Authorization", "Basic " + one}, 401, "unauthenticated", "", "", "", 0},
		{"cookie session", "GET", "/app/dashboard", []string{"Accept", browserAccept, "Cookie", cookie(one)}, 200, "", "", "", adaSession, 1},
		{"bearer session", "GET", "/app/dashboard", []string{"Authorization", "Bearer " + one}, 200, "", "", "", adaSession, 1},
		{"bearer wins over a cookie beside it", "GET", "/app/dashboard", []string{"Authorization", "Bearer " + two, "Cookie", cookie(one)}, 200, "", "", "", bobSession, 2},
		{"behind StripPrefix", "GET", "/stripped/dashboard", []string{"Cookie", cookie(one)}, 200, "", "", "", adaSession, 1},
		{"one factor at a two-factor route, browser", "GET", "/app/admin", []string{"Accept", browserAccept, "Cookie", cookie(one)}, 403,
			"", "", `href="/settings/security/two-factor"`, "", 0},
		{"one factor at a two-factor route, program", "GET", "/app/admin", []string{"Authorization", "Bearer " + one}, 403,
			"mfa_required", "", "", "", 0},
		{"one factor at a two-factor route, bearer from a browser", "GET", "/app/admin", []string{"Accept", browserAccept, "Authorization", "Bearer " + one}, 403,
			"mfa_required", "", "", "", 0},
		{"anonymous at a two-factor route", "GET", "/app/admin", []string{"Accept", browserAccept}, 303,
			"", "/signin?next=%2Fapp%2Fadmin", "", "", 0},
		{"two factors at a two-factor route", "GET", "/app/admin", []string{"Cookie", cookie(two)}, 200, "", "", "", bobSession, 2},
		{"same-origin POST with the cookie", "POST", "/app/do", []string{"Cookie", cookie(one), "Sec-Fetch-Site", "same-origin"}, 200, "", "", "", adaSession, 1},
		{"cross-site POST with the cookie", "POST", "/app/do", []string{"Cookie", cookie(one), "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403,
			"forbidden", "", "", "", 0},
		{"cross-site form POST from a browser gets a page", "POST", "/app/do", []string{"Accept", browserAccept, "Cookie", cookie(one), "Origin", "https://evil.example"}, 403,
			"", "", "another site", "", 0},
		{"cross-site POST with a bearer token is exempt", "POST", "/app/do", []string{"Authorization", "Bearer " + one, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 200,
			"", "", "", adaSession, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.reached.Load()
			r := a.visit(t, tt.method, tt.path, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			reached := a.reached.Load() != before
			if reached != (tt.status == 200) {
				t.Fatalf("the application's handler was reached: %v, want %v", reached, tt.status == 200)
			}
			if tt.code != "" {
				if got := r.errorCode(t); got != tt.code {
					t.Errorf("error code = %q, want %q", got, tt.code)
				}
				if got := r.header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") {
					t.Errorf("the middleware's own answer has CSP %q, want keyward's", got)
				}
			}
			if got := r.header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.page != "" {
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type = %q, want a page", ct)
				}
				if !strings.Contains(string(r.body), tt.page) {
					t.Errorf("page does not hold %q:\n%s", tt.page, r.body)
				}
				if got := r.header.Get("X-Frame-Options"); got != "DENY" {
					t.Errorf("the middleware's page has X-Frame-Options %q, want DENY", got)
				}
			}
			if tt.session == "" {
				return
			}
			var id identityJSON
			if err := json.Unmarshal(r.body, &id); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if id.SessionID != tt.session || id.AAL != tt.aal || id.AccountID == "" || id.Email == "" {
				t.Errorf("identity = %+v, want session %s at aal %d", id, tt.session, tt.aal)
			}
			if id.Secrets {
				t.Errorf("the identity in the context carries a password or token hash")
			}
		})
	}
}

func TestRequireSessionClearsAnEndedSessionsCookie(t *testing.T) {
	a := newAppEnv(t)
	tok := a.signUpIn(t, "ada@example.com")
	wantStatus(t, a.call(t, "DELETE", "/api/v1/sessions/current", tok, nil), 204, "")
	r := a.visit(t, "GET", "/app/dashboard", "Accept", browserAccept, "Cookie", "keyward_session="+tok)
	if r.status != 303 {
		t.Fatalf("status = %d, want 303", r.status)
	}
	if got := r.header.Get("Set-Cookie"); !strings.HasPrefix(got, "keyward_session=;") || !strings.Contains(got, "Max-Age=0") {
		t.Errorf("Set-Cookie = %q, want the session cookie cleared", got)
	}
}

// TestRequireSessionSeesEndsAtOnce: a session revoked from another one, or
// idle or past its lifetime, is refused at the very next request.
func TestRequireSessionSeesEndsAtOnce(t *testing.T) {
	a := newAppEnv(t)
	laptop := a.signUpIn(t, "ada@example.com")
	phone := a.signIn(t, "ada@example.com")
	ask := func(tok string) int {
		return a.visit(t, "GET", "/app/dashboard", "Cookie", "keyward_session="+tok).status
	}
	if got := ask(laptop); got != 200 {
		t.Fatalf("before revoking: %d, want 200", got)
	}
	wantStatus(t, a.call(t, "DELETE", "/api/v1/sessions/"+a.sessionID(t, laptop), phone, nil), 204, "")
	if got := ask(laptop); got != 401 {
		t.Fatalf("revoked from the phone, the laptop's next request: %d, want 401", got)
	}

	cfg := keyward.DefaultConfig()
	for _, tt := range []struct {
		name  string
		steps []time.Duration // each followed by a request
		want  int
	}{
		{"used within the idle timeout", []time.Duration{cfg.SessionIdleTimeout - time.Minute, cfg.SessionIdleTimeout - time.Minute}, 200},
		{"idle too long", []time.Duration{cfg.SessionIdleTimeout + time.Second}, 401},
		{"past its lifetime however used", splitDuration(cfg.SessionLifetime+time.Minute, cfg.SessionIdleTimeout/2), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := a.signIn(t, "ada@example.com")
			got := 0
			for _, d := range tt.steps {
				a.Clock.Advance(d)
				got = ask(tok)
			}
			if got != tt.want {
				t.Fatalf("last request: %d, want %d", got, tt.want)
			}
		})
	}
}

// splitDuration cuts total into steps of at most step.
func splitDuration(total, step time.Duration) []time.Duration {
	var out []time.Duration
	for total > 0 {
		d := min(step, total)
		out = append(out, d)
		total -= d
	}
	return out
}

// TestRequireTwoFactorPage: the page tells a person without two-factor to
// turn it on, and one who has it (a session that did not use it, as a
// passkey without user verification will make) to sign in again with it.
func TestRequireTwoFactorPage(t *testing.T) {
	a := newAppEnv(t)
	without := a.signUpIn(t, "ada@example.com")
	with := a.twoFactorSession(t, a.signUpIn(t, "bob@example.com"), "bob@example.com")
	if err := a.Store.SetSessionAAL(t.Context(), a.sessionID(t, with), 1, keyward.AMRPassword); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, tok, want, not string
	}{
		{"account without two-factor", without, "Turn it on", "sign in again"},
		{"account with two-factor", with, "sign in again", "Turn it on"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := a.visit(t, "GET", "/app/admin", "Accept", browserAccept, "Cookie", "keyward_session="+tt.tok)
			body := string(r.body)
			if r.status != 403 || !strings.Contains(body, tt.want) || strings.Contains(body, tt.not) {
				t.Fatalf("status %d, want 403 with %q and without %q:\n%s", r.status, tt.want, tt.not, body)
			}
		})
	}
}

// TestRequireSessionUnderABasePath: the sign-in and the two-factor
// settings the middleware points to are keyward's, under its base path.
func TestRequireSessionUnderABasePath(t *testing.T) {
	env := keywardtest.New(t, keywardtest.Options{Config: keyward.DefaultConfig()})
	kw, err := web.New(env.Svc, web.Config{BasePath: "/auth", CookiePath: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", kw)
	mux.Handle("GET /app/admin", kw.RequireTwoFactor(http.NotFoundHandler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a := &appEnv{apiEnv: &apiEnv{Env: env, srv: srv}}

	r := a.visit(t, "GET", "/app/admin", "Accept", browserAccept)
	if got := r.header.Get("Location"); r.status != 303 || got != "/auth/signin?next=%2Fapp%2Fadmin" {
		t.Fatalf("signed out: %d, Location %q; want 303 to /auth/signin?next=%%2Fapp%%2Fadmin", r.status, got)
	}
	r = a.call(t, "POST", "/auth/api/v1/accounts", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	wantStatus(t, r, 201, "")
	r = a.call(t, "POST", "/auth/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	wantStatus(t, r, 201, "")
	tok := r.json(t)["token"].(string)
	r = a.visit(t, "GET", "/app/admin", "Accept", browserAccept, "Cookie", "keyward_session="+tok)
	if r.status != 403 || !strings.Contains(string(r.body), `href="/auth/settings/security/two-factor"`) {
		t.Fatalf("one factor: %d, want 403 with a link to /auth/settings/security/two-factor:\n%s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `href="/auth/static/style.css"`) {
		t.Errorf("the 403 page's stylesheet is not under the base path:\n%s", r.body)
	}
}
