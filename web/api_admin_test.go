package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// adminRoute is one route of the admin API with what it needs: the scope,
// a body, an account in the state it acts on, and its answer.
type adminRoute struct {
	method, path string // path with {id}
	scope        keyward.AdminScope
	body         any
	prepare      func(t *testing.T, e *adminEnv) string // the account's id
	status       int
	check        func(t *testing.T, e *adminEnv, r reply, id string)
}

// adminEnv is an API server whose admin token throttle stays out of the
// way of tests that send many refused tokens on purpose.
type adminEnv struct {
	*apiEnv
	web      *web.Server
	n        int
	lastName string // of the last token made
}

func newAdminEnv(t *testing.T, wcfg web.Config, log *slog.Logger) *adminEnv {
	t.Helper()
	cfg := keyward.DefaultConfig()
	cfg.AdminTokenThrottle = keyward.ThrottleRule{Free: 100_000, Base: time.Second, Max: time.Minute, Forget: time.Hour}
	env := keywardtest.New(t, keywardtest.Options{Config: cfg})
	h, err := web.New(env.Svc, wcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	// Every answer is held to the OpenAPI document (contract_test.go).
	srv := httptest.NewServer(checkedUnder(t, h, wcfg.BasePath))
	t.Cleanup(srv.Close)
	return &adminEnv{apiEnv: &apiEnv{Env: env, srv: srv}, web: h}
}

// token makes an admin token with scopes.
func (e *adminEnv) token(t testing.TB, scopes ...keyward.AdminScope) string {
	t.Helper()
	e.n++
	e.lastName = fmt.Sprintf("token-%d", e.n)
	tok, _, err := e.Svc.CreateAdminToken(context.Background(), e.lastName, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// account signs up a fresh account and returns its id and a session token.
func (e *adminEnv) account(t testing.TB) (string, string) {
	t.Helper()
	e.n++
	email := fmt.Sprintf("user%d@example.com", e.n)
	tok := e.signUpIn(t, email)
	r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
	wantStatus(t, r, 200, "")
	return r.json(t)["account"].(map[string]any)["id"].(string), tok
}

func adminRoutes() []adminRoute {
	plain := func(t *testing.T, e *adminEnv) string { id, _ := e.account(t); return id }
	return []adminRoute{
		{method: "GET", path: "/api/v1/admin/accounts?q=USER&limit=2", scope: keyward.ScopeAccountsRead, status: 200,
			prepare: func(t *testing.T, e *adminEnv) string { e.account(t); return plain(t, e) },
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				m := r.json(t)
				accts := m["accounts"].([]any)
				if len(accts) != 2 || m["next_cursor"] == nil {
					t.Fatalf("accounts page %s", r.body)
				}
				next := e.call(t, "GET", "/api/v1/admin/accounts?q=USER&limit=200&cursor="+url.QueryEscape(m["next_cursor"].(string)), e.token(t, keyward.ScopeAccountsRead), nil)
				wantStatus(t, next, 200, "")
				if next.json(t)["next_cursor"] != nil {
					t.Fatalf("second page %s", next.body)
				}
			}},
		{method: "GET", path: "/api/v1/admin/accounts/{id}", scope: keyward.ScopeAccountsRead, prepare: plain, status: 200,
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				m := r.json(t)
				if m["account"].(map[string]any)["id"] != id || len(m["sessions"].([]any)) != 1 || m["passkeys"] != 0.0 || m["disabled"] != false {
					t.Fatalf("account %s", r.body)
				}
				s := m["sessions"].([]any)[0].(map[string]any)
				if s["current"] != false || s["id"] == "" {
					t.Fatalf("session %v", s)
				}
			}},
		{method: "POST", path: "/api/v1/admin/accounts", scope: keyward.ScopeAccountsWrite, status: 201,
			body:    map[string]string{"email": "made.by.admin@example.com", "password": apiPassword},
			prepare: func(t *testing.T, e *adminEnv) string { return "" },
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				if r.json(t)["account"].(map[string]any)["email"] != "made.by.admin@example.com" {
					t.Fatalf("created %s", r.body)
				}
				e.signIn(t, "made.by.admin@example.com")
			}},
		{method: "POST", path: "/api/v1/admin/accounts/{id}/disable", scope: keyward.ScopeAccountsWrite, status: 200, prepare: plain,
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				m := r.json(t)
				if m["disabled"] != true || m["revoked_sessions"] != 1.0 || m["account"].(map[string]any)["id"] != id {
					t.Fatalf("disabled %s", r.body)
				}
			}},
		{method: "POST", path: "/api/v1/admin/accounts/{id}/enable", scope: keyward.ScopeAccountsWrite, status: 200,
			prepare: func(t *testing.T, e *adminEnv) string {
				id, _ := e.account(t)
				wantStatus(t, e.call(t, "POST", "/api/v1/admin/accounts/"+id+"/disable", e.token(t, keyward.ScopeAccountsWrite), nil), 200, "")
				return id
			},
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				if r.json(t)["disabled"] != false {
					t.Fatalf("enabled %s", r.body)
				}
			}},
		{method: "DELETE", path: "/api/v1/admin/accounts/{id}", scope: keyward.ScopeAccountsWrite, status: 204, prepare: plain,
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				wantStatus(t, e.call(t, "DELETE", "/api/v1/admin/accounts/"+id, e.token(t, keyward.ScopeAccountsWrite), nil), 404, "not_found")
			}},
		{method: "POST", path: "/api/v1/admin/accounts/{id}/sessions/revoke", scope: keyward.ScopeSessionsWrite, status: 200, prepare: plain,
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				if string(bytes.TrimSpace(r.body)) != `{"revoked":1}` {
					t.Fatalf("revoked %s", r.body)
				}
			}},
		{method: "POST", path: "/api/v1/admin/accounts/{id}/2fa/reset", scope: keyward.ScopeAccountsWrite, status: 204,
			prepare: func(t *testing.T, e *adminEnv) string {
				id, tok := e.account(t)
				r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
				e.twoFactorSession(t, tok, r.json(t)["account"].(map[string]any)["email"].(string))
				return id
			},
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				wantStatus(t, e.call(t, "POST", "/api/v1/admin/accounts/"+id+"/2fa/reset", e.token(t, keyward.ScopeAccountsWrite), nil), 409, "not_enabled")
			}},
		{method: "POST", path: "/api/v1/admin/clients", scope: keyward.ScopeClientsWrite, status: 201,
			body: map[string]any{"name": "PayDesk", "redirect_uris": []string{"https://pay.example/callback"},
				"post_logout_redirect_uris": []string{"https://pay.example/"}},
			prepare: func(t *testing.T, e *adminEnv) string { return "" },
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				m := r.json(t)
				c := m["client"].(map[string]any)
				secret, _ := m["client_secret"].(string)
				if c["name"] != "PayDesk" || c["public"] != false || !strings.HasPrefix(secret, "kwc_") {
					t.Fatalf("created %s", r.body)
				}
				if _, err := e.Svc.AuthenticateOIDCClient(t.Context(), c["id"].(string), secret); err != nil {
					t.Fatalf("the secret does not authenticate the client: %v", err)
				}
				bad := e.call(t, "POST", "/api/v1/admin/clients", e.token(t, keyward.ScopeClientsWrite),
					map[string]any{"name": "Evil", "redirect_uris": []string{"http://evil.example/cb"}})
				wantStatus(t, bad, 400, "invalid_request")
			}},
		{method: "GET", path: "/api/v1/admin/clients", scope: keyward.ScopeClientsWrite, status: 200,
			prepare: func(t *testing.T, e *adminEnv) string {
				if _, _, err := e.Svc.CreateOIDCClient(t.Context(), keyward.OIDCClientSpec{Name: "Listed", Public: true,
					RedirectURIs: []string{"http://127.0.0.1:8080/cb"}}); err != nil {
					t.Fatal(err)
				}
				return ""
			},
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				if !strings.Contains(string(r.body), `"name":"Listed"`) || strings.Contains(string(r.body), "secret") {
					t.Fatalf("clients %s", r.body)
				}
			}},
		{method: "DELETE", path: "/api/v1/admin/clients/{id}", scope: keyward.ScopeClientsWrite, status: 204,
			prepare: func(t *testing.T, e *adminEnv) string {
				c, _, err := e.Svc.CreateOIDCClient(t.Context(), keyward.OIDCClientSpec{Name: "Doomed",
					RedirectURIs: []string{"https://doomed.example/cb"}})
				if err != nil {
					t.Fatal(err)
				}
				return c.ID
			},
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				wantStatus(t, e.call(t, "DELETE", "/api/v1/admin/clients/"+id, e.token(t, keyward.ScopeClientsWrite), nil), 404, "not_found")
			}},
		{method: "GET", path: "/api/v1/admin/audit?account_id={id}&type=account.created&limit=5", scope: keyward.ScopeAuditRead, status: 200, prepare: plain,
			check: func(t *testing.T, e *adminEnv, r reply, id string) {
				evs := r.json(t)["events"].([]any)
				if len(evs) != 1 {
					t.Fatalf("events %s", r.body)
				}
				ev := evs[0].(map[string]any)
				if ev["account_id"] != id || ev["type"] != "account.created" || ev["actor"] != "self" {
					t.Fatalf("event %v", ev)
				}
			}},
	}
}

// TestAdminRoutes: every admin route, with no token, a session token, the
// session cookie, a token without its scope, a revoked token, and a token
// with its scope.
func TestAdminRoutes(t *testing.T) {
	e := newAdminEnv(t, web.Config{}, nil)
	_, session := e.account(t)
	for _, rt := range adminRoutes() {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			id := rt.prepare(t, e)
			path := strings.ReplaceAll(rt.path, "{id}", id)
			if id == "" {
				// The create route: any account id fills no path.
				other, _ := e.account(t)
				id = other
			}
			others := slices.DeleteFunc(keyward.AdminScopes(), func(s keyward.AdminScope) bool { return s == rt.scope })
			revoked := e.token(t, keyward.AdminScopes()...)
			if err := e.Svc.RevokeAdminToken(context.Background(), e.lastName); err != nil {
				t.Fatal(err)
			}
			cookie := "keyward_session=" + session
			for _, c := range []struct {
				name   string
				token  string
				header []string
				status int
				code   string
			}{
				{"no token", "", nil, 401, "unauthenticated"},
				{"a session token", session, nil, 401, "unauthenticated"},
				{"the session cookie", "", []string{"Cookie", cookie}, 401, "unauthenticated"},
				{"basic auth", "", []string{"Authorization", "Basic " + session}, 401, "unauthenticated"},
				{"a token without the scope", e.token(t, others...), nil, 403, "insufficient_scope"},
				{"a revoked token", revoked, nil, 401, "unauthenticated"},
			} {
				r := e.call(t, rt.method, path, c.token, rt.body, c.header...)
				if r.status != c.status || r.errorCode(t) != c.code {
					t.Fatalf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
				}
				if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%s: security headers missing: %v", c.name, r.header)
				}
			}
			// The refused calls changed nothing: the route still works.
			r := e.call(t, rt.method, path, e.token(t, rt.scope), rt.body)
			if r.status != rt.status {
				t.Fatalf("with the scope: %d %s, want %d", r.status, r.body, rt.status)
			}
			rt.check(t, e, r, id)
		})
	}
}

// TestAdminTokenOpensNoUserRoute: on every other route of the API an admin
// token is answered as no token at all, and the admin routes refuse it in
// the other direction (TestAdminRoutes).
func TestAdminTokenOpensNoUserRoute(t *testing.T) {
	e := newAdminEnv(t, web.Config{}, nil)
	id, session := e.account(t)
	admin := e.token(t, keyward.AdminScopes()...)
	r := e.call(t, "GET", "/api/v1/sessions", session, nil)
	wantStatus(t, r, 200, "")
	sessionID := r.json(t)["sessions"].([]any)[0].(map[string]any)["id"].(string)
	checked := 0
	for _, p := range e.web.RoutePatterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, "/api/v1/") || strings.HasPrefix(path, "/api/v1/admin/") {
			continue
		}
		path = strings.ReplaceAll(path, "{id}", sessionID)
		var body any
		if method != "GET" && method != "DELETE" {
			body = map[string]string{}
		}
		none := e.call(t, method, path, "", body)
		with := e.call(t, method, path, admin, body)
		if with.status != none.status || with.errorCode(t) != none.errorCode(t) {
			t.Errorf("%s %s: with an admin token %d %s, without %d %s", method, path, with.status, with.body, none.status, none.body)
		}
		// The OpenAPI document is public: it answers with or without any token.
		if with.status < 400 && with.status != 302 && path != "/api/v1/openapi.json" {
			t.Errorf("%s %s answered %d to an admin token", method, path, with.status)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d user routes checked", checked)
	}
	// Nothing happened to the account or the session.
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", session, nil), 200, "")
	r = e.call(t, "GET", "/api/v1/admin/accounts/"+id, admin, nil)
	wantStatus(t, r, 200, "")
	t.Logf("%d user routes answered an admin token as no token", checked)
}

// TestAdminAPIInput: bad ids, queries and bodies are answered with the
// contract's codes, never a 500.
func TestAdminAPIInput(t *testing.T) {
	e := newAdminEnv(t, web.Config{}, nil)
	id, _ := e.account(t)
	tok := e.token(t, keyward.AdminScopes()...)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown account", "GET", "/api/v1/admin/accounts/acct_" + strings.Repeat("0", 26), nil, 404, "not_found"},
		{"not an account id", "GET", "/api/v1/admin/accounts/" + url.PathEscape("ada@example.com"), nil, 404, "not_found"},
		{"a session id", "DELETE", "/api/v1/admin/accounts/sess_" + id[5:], nil, 404, "not_found"},
		{"a NUL in the id", "POST", "/api/v1/admin/accounts/" + id + "%00/disable", nil, 404, "not_found"},
		{"limit 0", "GET", "/api/v1/admin/accounts?limit=0", nil, 400, "invalid_request"},
		{"limit 201", "GET", "/api/v1/admin/accounts?limit=201", nil, 400, "invalid_request"},
		{"limit not a number", "GET", "/api/v1/admin/accounts?limit=ten", nil, 400, "invalid_request"},
		{"a made-up cursor", "GET", "/api/v1/admin/accounts?cursor=AAAA", nil, 400, "invalid_request"},
		{"q with wildcards", "GET", "/api/v1/admin/accounts?q=%25", nil, 200, ""},
		{"q too long", "GET", "/api/v1/admin/accounts?q=" + strings.Repeat("a", 5000), nil, 200, ""},
		{"q invalid UTF-8", "GET", "/api/v1/admin/accounts?q=%FF", nil, 200, ""},
		{"audit: bad account_id", "GET", "/api/v1/admin/audit?account_id=bob", nil, 400, "invalid_request"},
		{"audit: unknown type", "GET", "/api/v1/admin/audit?type=nope", nil, 400, "invalid_request"},
		{"audit: bad since", "GET", "/api/v1/admin/audit?since=yesterday", nil, 400, "invalid_request"},
		{"audit: the system log", "GET", "/api/v1/admin/audit?account_id=system", nil, 200, ""},
		{"create: unknown field", "POST", "/api/v1/admin/accounts", map[string]any{"email": "x@example.com", "password": apiPassword, "admin": true}, 400, "invalid_request"},
		{"create: missing password", "POST", "/api/v1/admin/accounts", map[string]any{"email": "x@example.com"}, 400, "invalid_request"},
		{"create: weak password", "POST", "/api/v1/admin/accounts", map[string]any{"email": "x@example.com", "password": "password"}, 400, "password_breached"},
		{"create: taken", "POST", "/api/v1/admin/accounts", map[string]any{"email": "USER1@example.com", "password": apiPassword}, 409, "email_taken"},
		{"create: text/plain", "POST", "/api/v1/admin/accounts", `{"email":"x@example.com","password":"x"}`, 415, "unsupported_media_type"},
		{"wrong method", "PUT", "/api/v1/admin/accounts", nil, 405, "method_not_allowed"},
		{"no such admin path", "GET", "/api/v1/admin/tokens", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if s, ok := tt.body.(string); ok && strings.HasPrefix(s, "{") {
				hdr = []string{"Content-Type", "text/plain"}
			}
			r := e.call(t, tt.method, tt.path, tok, tt.body, hdr...)
			wantStatus(t, r, tt.status, tt.code)
			if tt.status == 200 && strings.Contains(tt.path, "accounts?q=") && len(r.json(t)["accounts"].([]any)) != 0 {
				t.Fatalf("q matched %s", r.body)
			}
		})
	}
}

// TestAdminAPIThrottlesGuesses: refused admin tokens are counted per
// client address over HTTP too, with Retry-After.
func TestAdminAPIThrottlesGuesses(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok, _, err := e.Svc.CreateAdminToken(context.Background(), "ci", keyward.AdminScopes())
	if err != nil {
		t.Fatal(err)
	}
	free := keyward.DefaultConfig().AdminTokenThrottle.Free
	for range free + 1 {
		wantStatus(t, e.call(t, "GET", "/api/v1/admin/accounts", "kwa_"+strings.Repeat("A", 43), nil), 401, "unauthenticated")
	}
	r := e.call(t, "GET", "/api/v1/admin/accounts", tok, nil)
	wantStatus(t, r, 429, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// A request without a token is no guess.
	e.Clock.Advance(2 * time.Second)
	for range 3 {
		wantStatus(t, e.call(t, "GET", "/api/v1/admin/accounts", "", nil), 401, "unauthenticated")
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/admin/accounts", tok, nil), 200, "")
}

// TestAdminAPICrossOrigin: the admin API never reads a cookie, so the
// cross-origin check does not stand between a request and its 401; and no
// page of another origin may read an admin answer, even one allowed to
// call the user API.
func TestAdminAPICrossOrigin(t *testing.T) {
	e := newAdminEnv(t, web.Config{CORSOrigins: []string{"https://app.example.com"}}, nil)
	_, session := e.account(t)
	id, _ := e.account(t)
	tok := e.token(t, keyward.AdminScopes()...)
	fromSite := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "Cookie", "keyward_session=" + session}
	r := e.call(t, "POST", "/api/v1/admin/accounts/"+id+"/disable", "", nil, fromSite...)
	wantStatus(t, r, 401, "unauthenticated")
	r = e.call(t, "POST", "/api/v1/admin/accounts/"+id+"/disable", tok, nil, "Origin", "https://app.example.com")
	wantStatus(t, r, 200, "")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an admin answer is readable by %s", r.header.Get("Access-Control-Allow-Origin"))
	}
	pre := e.call(t, "OPTIONS", "/api/v1/admin/accounts", "", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
	if pre.header.Get("Access-Control-Allow-Origin") != "" || pre.header.Get("Access-Control-Allow-Headers") != "" {
		t.Fatalf("a preflight for the admin API was allowed: %v", pre.header)
	}
	// The user API keeps its CORS.
	pre = e.call(t, "OPTIONS", "/api/v1/sessions", "", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
	if pre.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("the user API's preflight: %v", pre.header)
	}
	// A path that only looks like an admin one takes no exemption with it:
	// the mux cleans it to a user route, whose check still holds.
	r = e.call(t, "POST", "/api/v1/admin/../sessions/revoke-others", "", nil, fromSite...)
	if r.status == 200 {
		t.Fatalf("a cross-site request reached a user route through the admin prefix: %d %s", r.status, r.body)
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", session, nil), 200, "")
}

// TestSeparateAdminListener: with SeparateAdmin the public handler answers
// the admin paths 404 without reading the token, and the admin handler
// serves them alone, with the same security headers, request ids, access
// log and base path handling.
func TestSeparateAdminListener(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	e := newAdminEnv(t, web.Config{SeparateAdmin: true, BasePath: "/auth"}, log)
	// The admin listener serves the admin API alone: its answers there are
	// held to the document; the rest is its own 404/405.
	adminSrv := httptest.NewServer(checkedAdmin(t, e.web.AdminHandler(), "/auth"))
	t.Cleanup(adminSrv.Close)
	onAdmin := &apiEnv{Env: e.Env, srv: adminSrv}
	id, session := e.account(t)
	tok := e.token(t, keyward.AdminScopes()...)

	for _, rt := range adminRoutes() {
		path := strings.ReplaceAll(rt.path, "{id}", id)
		for _, p := range []string{path, "/auth" + path} {
			r := e.call(t, rt.method, p, tok, rt.body)
			wantStatus(t, r, 404, "not_found")
		}
	}
	tokens, err := e.Svc.ListAdminTokens(context.Background())
	if err != nil || len(tokens) != 1 || tokens[0].LastUsedAt != nil {
		t.Fatalf("tokens %+v, %v: the public listener looked the token up", tokens, err)
	}

	for _, p := range []string{"/api/v1/admin/accounts/" + id, "/auth/api/v1/admin/accounts/" + id} {
		r := onAdmin.call(t, "GET", p, tok, nil, "X-Request-Id", "admin-req-1")
		wantStatus(t, r, 200, "")
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "X-Request-Id": "admin-req-1",
			"Content-Security-Policy": "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"} {
			if got := r.header.Get(h); got != want {
				t.Fatalf("%s: %s = %q, want %q", p, h, got, want)
			}
		}
	}
	if !strings.Contains(logs.String(), "path=/api/v1/admin/accounts/"+id) || !strings.Contains(logs.String(), "request_id=admin-req-1") {
		t.Fatalf("no access log line for the admin listener:\n%s", logs.String())
	}
	// Nothing else is on the admin listener, not even with a session.
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/v1/sessions/current", session},
		{"POST", "/api/v1/sessions", ""},
		{"GET", "/healthz", ""},
		{"GET", "/settings/security", ""},
		{"GET", "/", ""},
		{"GET", "/static/brand.css", ""},
	} {
		r := onAdmin.call(t, c.method, c.path, c.token, nil)
		wantStatus(t, r, 404, "not_found")
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %s", c.path, r.header.Get("Content-Type"))
		}
	}
	r := onAdmin.call(t, "PUT", "/api/v1/admin/accounts", tok, nil)
	wantStatus(t, r, 405, "method_not_allowed")
	if allow := r.header.Values("Allow"); !slices.Equal(allow, []string{"GET", "POST"}) {
		t.Fatalf("Allow = %v", allow)
	}
	// The user API stays on the public listener.
	wantStatus(t, e.call(t, "GET", "/auth/api/v1/sessions/current", session, nil), 200, "")
}

// TestDisabledAccountSignInPage: the sign-in page says the account is
// disabled after a correct password only, and sets no session cookie.
func TestDisabledAccountSignInPage(t *testing.T) {
	e := newAdminEnv(t, web.Config{}, nil)
	id, _ := e.account(t)
	wantStatus(t, e.call(t, "POST", "/api/v1/admin/accounts/"+id+"/disable", e.token(t, keyward.ScopeAccountsWrite), nil), 200, "")
	post := func(pw string) (int, string, []*http.Cookie) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/signin", strings.NewReader(url.Values{"email": {"user1@example.com"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Cookies()
	}
	status, body, cookies := post(apiPassword)
	if status != 403 || !strings.Contains(body, "This account is disabled.") {
		t.Fatalf("right password: %d\n%s", status, body)
	}
	for _, c := range cookies {
		if strings.Contains(c.Name, "session") && c.Value != "" {
			t.Fatalf("a session cookie was set: %v", c)
		}
	}
	status, body, _ = post("not the password")
	if status != 401 || strings.Contains(body, "disabled") {
		t.Fatalf("wrong password: %d\n%s", status, body)
	}
}
