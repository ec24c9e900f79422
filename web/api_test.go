package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
	"github.com/keyward/keyward/web"
)

const apiPassword = "correct horse battery staple"

// sudoWindow is how long a session may do sensitive actions after a proof.
var sudoWindow = keyward.DefaultConfig().SudoWindow

// apiEnv is a keyward server over HTTP on a real store with a fake clock.
type apiEnv struct {
	*keywardtest.Env
	srv *httptest.Server
}

func newAPI(t *testing.T, cfg keyward.Config, wcfg web.Config) *apiEnv {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{Config: cfg})
	h, err := web.New(env.Svc, wcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apiEnv{Env: env, srv: srv}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (r reply) errorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// call sends a JSON request; token "" sends none. body may be a string (sent
// as is) or anything JSON-encodable.
func (e *apiEnv) call(t testing.TB, method, path, token string, body any, header ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

func (e *apiEnv) signUpIn(t testing.TB, email string) string {
	t.Helper()
	if r := e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": email, "password": apiPassword}); r.status != 201 {
		t.Fatalf("sign-up: %d %s", r.status, r.body)
	}
	return e.signIn(t, email)
}

func (e *apiEnv) signIn(t testing.TB, email string) string {
	t.Helper()
	r := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": apiPassword})
	if r.status != 201 {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	return r.json(t)["token"].(string)
}

func wantStatus(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errorCode(t); got != code {
			t.Fatalf("error code = %q, want %q; body %s", got, code, r.body)
		}
	}
}

func TestAPISignUp(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	e.signUpIn(t, "ada@example.com")
	tests := []struct {
		name   string
		body   any
		ctype  string
		status int
		code   string
	}{
		{"created", map[string]string{"email": "bob@example.com", "password": apiPassword}, "", 201, ""},
		{"email taken, other case", map[string]string{"email": "ADA@example.com", "password": apiPassword}, "", 409, "email_taken"},
		{"invalid email", map[string]string{"email": "not-an-email", "password": apiPassword}, "", 400, "invalid_email"},
		{"too short", map[string]string{"email": "c@example.com", "password": "abc"}, "", 400, "password_too_short"},
		{"too long", map[string]string{"email": "c@example.com", "password": strings.Repeat("long horse ", 103)}, "", 400, "password_too_long"},
		{"breached", map[string]string{"email": "c@example.com", "password": "iloveyou"}, "", 400, "password_breached"},
		{"contains email", map[string]string{"email": "carol.smith@example.com", "password": "carol.smith1999"}, "", 400, "password_contains_email"},
		{"weak", map[string]string{"email": "d@example.com", "password": "aaaaaaaaaa"}, "", 400, "password_too_weak"},
		{"missing password", map[string]string{"email": "e@example.com"}, "", 400, "invalid_request"},
		{"unknown field", map[string]any{"email": "e@example.com", "password": apiPassword, "admin": true}, "", 400, "invalid_request"},
		{"wrong type", map[string]any{"email": 7, "password": apiPassword}, "", 400, "invalid_request"},
		{"malformed JSON", `{"email": "e@example.com",`, "", 400, "invalid_request"},
		{"two objects", `{"email":"e@example.com","password":"x"}{}`, "", 400, "invalid_request"},
		{"empty body", ``, "", 400, "invalid_request"},
		{"text/plain", `{"email":"e@example.com","password":"x"}`, "text/plain", 415, "unsupported_media_type"},
		{"over 1 MiB", `{"email":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			r := e.call(t, "POST", "/api/v1/accounts", "", tt.body, hdr...)
			wantStatus(t, r, tt.status, tt.code)
			if tt.status == 201 {
				acct := r.json(t)["account"].(map[string]any)
				if acct["email"] != "bob@example.com" || acct["two_factor_enabled"] != false || !strings.HasPrefix(acct["id"].(string), "acct_") {
					t.Fatalf("account = %v", acct)
				}
				if _, err := time.Parse(time.RFC3339, acct["created_at"].(string)); err != nil {
					t.Fatalf("created_at: %v", err)
				}
			}
			if tt.status >= 400 && bytes.Contains(r.body, []byte(apiPassword)) {
				t.Fatalf("the password is echoed in %s", r.body)
			}
		})
	}

	cfg := keyward.DefaultConfig()
	cfg.SignupEnabled = false
	closed := newAPI(t, cfg, web.Config{})
	r := closed.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": "x@example.com", "password": apiPassword})
	wantStatus(t, r, 403, "signup_disabled")
}

func TestAPISignInSameAnswerForUnknownEmail(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	e.signUpIn(t, "ada@example.com")
	wrong := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "not it at all"})
	unknown := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "nobody@example.com", "password": "not it at all"})
	wantStatus(t, wrong, 401, "invalid_credentials")
	if unknown.status != wrong.status || !bytes.Equal(unknown.body, wrong.body) {
		t.Fatalf("unknown email answered %d %s, wrong password %d %s", unknown.status, unknown.body, wrong.status, wrong.body)
	}
	for _, h := range []string{"Content-Type", "Content-Security-Policy", "Cache-Control", "Retry-After"} {
		if unknown.header.Get(h) != wrong.header.Get(h) {
			t.Fatalf("header %s differs: %q vs %q", h, unknown.header.Get(h), wrong.header.Get(h))
		}
	}
}

// TestAPISessionCheckFollowsChanges: the check's answers are cached; a later
// last-seen time and a second factor must still show at once.
func TestAPISessionCheckFollowsChanges(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	current := func() (map[string]any, map[string]any) {
		t.Helper()
		r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
		wantStatus(t, r, 200, "")
		if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		m := r.json(t)
		return m["account"].(map[string]any), m["session"].(map[string]any)
	}
	_, s1 := current()
	_, s2 := current()
	if s1["last_seen_at"] != s2["last_seen_at"] {
		t.Fatalf("last seen moved without time passing: %v, %v", s1["last_seen_at"], s2["last_seen_at"])
	}
	e.Clock.Advance(2 * time.Minute)
	_, s3 := current()
	if s3["last_seen_at"] == s1["last_seen_at"] {
		t.Fatalf("last seen still %v after two minutes", s1["last_seen_at"])
	}

	setup := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil).json(t)
	code, _ := totp.Code(setup["secret"].(string), e.Clock.Now())
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code}), 200, "")
	a, s4 := current()
	if a["two_factor_enabled"] != true || s4["aal"] != 2.0 {
		t.Fatalf("after enabling 2FA: account %v, session %v", a, s4)
	}
}

func TestAPISessions(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	other := e.signIn(t, "ada@example.com")
	bob := e.signUpIn(t, "bob@example.com")

	r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0")
	wantStatus(t, r, 200, "")
	cur := r.json(t)
	sess := cur["session"].(map[string]any)
	if cur["account"].(map[string]any)["email"] != "ada@example.com" || sess["current"] != true || sess["aal"] != 1.0 {
		t.Fatalf("current = %s", r.body)
	}
	for _, k := range []string{"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "device"} {
		if _, ok := sess[k]; !ok {
			t.Fatalf("session lacks %q: %s", k, r.body)
		}
	}
	if strings.Contains(string(r.body), tok) {
		t.Fatal("the token appears in the session object")
	}

	r = e.call(t, "GET", "/api/v1/sessions", tok, nil)
	wantStatus(t, r, 200, "")
	list := r.json(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("%d sessions, want 2: %s", len(list), r.body)
	}
	bobID := e.call(t, "GET", "/api/v1/sessions/current", bob, nil).json(t)["session"].(map[string]any)["id"].(string)
	wantStatus(t, e.call(t, "DELETE", "/api/v1/sessions/"+bobID, tok, nil), 404, "not_found")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", bob, nil), 200, "")

	otherID := e.call(t, "GET", "/api/v1/sessions/current", other, nil).json(t)["session"].(map[string]any)["id"].(string)
	wantStatus(t, e.call(t, "DELETE", "/api/v1/sessions/"+otherID, tok, nil), 204, "")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", other, nil), 401, "unauthenticated")

	e.signIn(t, "ada@example.com")
	e.signIn(t, "ada@example.com")
	r = e.call(t, "POST", "/api/v1/sessions/revoke-others", tok, nil)
	wantStatus(t, r, 200, "")
	if n := r.json(t)["revoked"]; n != 2.0 {
		t.Fatalf("revoked = %v, want 2", n)
	}
	wantStatus(t, e.call(t, "DELETE", "/api/v1/sessions/current", tok, nil), 204, "")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", tok, nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions", "", nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions", "kws_forged", nil), 401, "unauthenticated")
}

func TestAPIChangePassword(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	other := e.signIn(t, "ada@example.com")
	const next = "violet lanterns drift over harbours"
	body := func(cur, nw string) map[string]any {
		return map[string]any{"current_password": cur, "new_password": nw}
	}
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/password", tok, body("nope", next)), 403, "invalid_current_password")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/password", tok, body(apiPassword, "password1")), 400, "password_breached")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/password", tok, map[string]any{"new_password": next}), 400, "invalid_request")
	r := e.call(t, "PUT", "/api/v1/account/password", tok, body(apiPassword, next))
	wantStatus(t, r, 200, "")
	if n := r.json(t)["revoked_sessions"]; n != 1.0 {
		t.Fatalf("revoked_sessions = %v, want 1", n)
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", other, nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", tok, nil), 200, "")

	// Guessing the current password through a session is throttled too.
	var last reply
	for range 10 {
		last = e.call(t, "PUT", "/api/v1/account/password", tok, body("guess", "another fine passphrase here"))
		if last.status == 429 {
			break
		}
	}
	wantStatus(t, last, 429, "too_many_attempts")
	if last.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestAPIThrottledSignIn(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	e.signUpIn(t, "ada@example.com")
	var r reply
	for range 7 {
		r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "nope nope"})
	}
	wantStatus(t, r, 429, "too_many_attempts")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
}

func TestAPITwoFactor(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	pw := map[string]string{"password": apiPassword}

	r := e.call(t, "GET", "/api/v1/account/2fa", tok, nil)
	wantStatus(t, r, 200, "")
	if st := r.json(t); st["enabled"] != false || st["enabled_at"] != nil || st["backup_codes_remaining"] != 0.0 {
		t.Fatalf("status = %s", r.body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": "123456"}), 409, "no_pending_setup")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, pw), 409, "not_enabled")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, pw), 409, "not_enabled")

	r = e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil)
	wantStatus(t, r, 200, "")
	setup := r.json(t)
	secret := setup["secret"].(string)
	if len(secret) != 32 || !strings.HasPrefix(setup["qr_png"].(string), "data:image/png;base64,") ||
		setup["otpauth_url"] != "otpauth://totp/keyward:ada@example.com?secret="+secret+"&issuer=keyward&algorithm=SHA1&digits=6&period=30" {
		t.Fatalf("setup = %s", r.body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": "000000"}), 400, "invalid_code")
	code, _ := totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code})
	wantStatus(t, r, 200, "")
	codes := r.json(t)["backup_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("%d backup codes", len(codes))
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil), 409, "already_enabled")
	r = e.call(t, "GET", "/api/v1/account/2fa", tok, nil)
	if st := r.json(t); st["enabled"] != true || st["backup_codes_remaining"] != 10.0 || st["enabled_at"] == nil {
		t.Fatalf("status = %s", r.body)
	}

	// Sign-in now takes two steps.
	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	wantStatus(t, r, 200, "")
	step := r.json(t)
	if step["mfa_required"] != true || fmt.Sprint(step["methods"]) != "[totp backup_code]" {
		t.Fatalf("password step = %s", r.body)
	}
	mfa := step["mfa_token"].(string)
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", mfa, nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": mfa, "code": "000000"}), 401, "invalid_code")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": "kwm_nope", "code": "000000"}), 401, "mfa_token_expired")
	r = e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": mfa, "code": strings.ToUpper(codes[0].(string))})
	wantStatus(t, r, 201, "")
	done := r.json(t)
	if done["session"].(map[string]any)["aal"] != 2.0 || done["backup_codes_remaining"] != 9.0 {
		t.Fatalf("mfa step = %s", r.body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": mfa, "code": codes[1].(string)}), 401, "mfa_token_expired")

	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, map[string]string{"password": "wrong"}), 403, "invalid_current_password")
	r = e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, pw)
	wantStatus(t, r, 200, "")
	if n := len(r.json(t)["backup_codes"].([]any)); n != 10 {
		t.Fatalf("%d regenerated codes", n)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, map[string]string{"password": "wrong"}), 403, "invalid_current_password")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, pw), 204, "")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword}), 201, "")
}

func TestAPIAudit(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	for range 3 {
		e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "not the one"})
		e.Clock.Advance(time.Second)
	}
	e.signIn(t, "ada@example.com")

	r := e.call(t, "GET", "/api/v1/account/audit?limit=2", tok, nil)
	wantStatus(t, r, 200, "")
	page := r.json(t)
	events := page["events"].([]any)
	if len(events) != 2 || page["next_cursor"] == nil {
		t.Fatalf("page = %s", r.body)
	}
	first := events[0].(map[string]any)
	if first["type"] != "signin.succeeded" || first["outcome"] != "success" || first["actor"] != "self" {
		t.Fatalf("newest event = %v", first)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.(map[string]any)["id"].(string)] = true
	}
	cursor := page["next_cursor"].(string)
	total := len(events)
	for cursor != "" {
		r = e.call(t, "GET", "/api/v1/account/audit?limit=2&cursor="+cursor, tok, nil)
		wantStatus(t, r, 200, "")
		p := r.json(t)
		for _, ev := range p["events"].([]any) {
			id := ev.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("event %s on two pages: %s", id, r.body)
			}
			seen[id] = true
			total++
		}
		cursor, _ = p["next_cursor"].(string)
	}
	if total != 6 { // created, signed in, 3 failures, signed in
		t.Fatalf("%d events in all pages, want 6", total)
	}

	r = e.call(t, "GET", "/api/v1/account/audit?type=signin.failed", tok, nil)
	if n := len(r.json(t)["events"].([]any)); n != 3 {
		t.Fatalf("type filter: %d events, want 3: %s", n, r.body)
	}
	forged := []byte(page["next_cursor"].(string))
	forged[len(forged)/2] ^= 1
	for name, q := range map[string]string{
		"forged cursor":  "cursor=" + string(forged),
		"limit 0":        "limit=0",
		"limit negative": "limit=-1",
		"limit 201":      "limit=201",
		"limit word":     "limit=ten",
		"unknown type":   "type=signin.hacked",
		"bad since":      "since=yesterday",
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, e.call(t, "GET", "/api/v1/account/audit?"+q, tok, nil), 400, "invalid_request")
		})
	}

	for _, format := range []string{"csv", "jsonl"} {
		r = e.call(t, "GET", "/api/v1/account/audit/export?format="+format, tok, nil)
		wantStatus(t, r, 200, "")
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Fatalf("%s Content-Disposition = %q", format, cd)
		}
		lines := strings.Count(strings.TrimSpace(string(r.body)), "\n") + 1
		want := 6
		if format == "csv" {
			want = 7 // header
		}
		if lines != want {
			t.Fatalf("%s export has %d lines, want %d:\n%s", format, lines, want, r.body)
		}
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/account/audit/export?format=xml", tok, nil), 400, "invalid_request")
}

func TestAPICrossOriginRequestsAreRefused(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	e.signIn(t, "ada@example.com")
	cookie := "keyward_session=" + tok
	for _, path := range []string{"/api/v1/sessions/revoke-others", "/signout"} {
		t.Run(path, func(t *testing.T) {
			r := e.call(t, "POST", path, "", nil, "Cookie", cookie, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
			if r.status != 403 {
				t.Fatalf("cross-site POST %s = %d, want 403", path, r.status)
			}
			list := e.call(t, "GET", "/api/v1/sessions", tok, nil).json(t)["sessions"].([]any)
			if len(list) != 2 {
				t.Fatalf("a refused request changed state: %d sessions left", len(list))
			}
		})
	}
	// The same request from the page's own origin works.
	r := e.call(t, "POST", "/api/v1/sessions/revoke-others", "", nil, "Cookie", cookie, "Sec-Fetch-Site", "same-origin")
	wantStatus(t, r, 200, "")
}

func TestAPIHygiene(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	tests := []struct {
		name, method, path string
		status             int
		code               string
		token              string // default: signed in
		body               any
		header             []string
	}{
		{name: "unknown API path", method: "GET", path: "/api/v1/nothing", status: 404, code: "not_found"},
		{name: "wrong method", method: "PATCH", path: "/api/v1/sessions/current", status: 405, code: "method_not_allowed"},
		{name: "body too large", method: "POST", path: "/api/v1/sessions", status: 413, code: "request_too_large",
			body: `{"email":"` + strings.Repeat("a", 2<<20) + `"}`},
		{name: "not JSON", method: "POST", path: "/api/v1/sessions", status: 415, code: "unsupported_media_type",
			body: `{}`, header: []string{"Content-Type", "text/plain"}},
		{name: "unknown token", method: "GET", path: "/api/v1/sessions/current", status: 401, code: "unauthenticated",
			token: "kws_" + strings.Repeat("A", 43)},
		{name: "healthz", method: "GET", path: "/healthz", status: 200},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "error page", method: "GET", path: "/no/such/page", status: 404},
		{name: "signed-in API", method: "GET", path: "/api/v1/sessions", status: 200},
		{name: "session check", method: "GET", path: "/api/v1/sessions/current", status: 200},
		// The checks' short way (see web.middleware) keeps every header.
		{name: "session check, request id given", method: "GET", path: "/api/v1/sessions/current", status: 200,
			header: []string{"X-Request-Id", "proxy-id-1"}},
		{name: "session check, no token", method: "GET", path: "/api/v1/sessions/current", status: 401, code: "unauthenticated", token: "-"},
		{name: "auth check, unknown token", method: "GET", path: "/api/v1/auth/check", status: 401, code: "unauthenticated",
			token: "kws_" + strings.Repeat("A", 43)},
		{name: "auth check, bad aal", method: "GET", path: "/api/v1/auth/check?aal=3", status: 400, code: "invalid_request"},
		{name: "auth forward, unknown token", method: "GET", path: "/api/v1/auth/forward", status: 401, code: "unauthenticated",
			token: "kws_" + strings.Repeat("A", 43)},
		{name: "session check, HEAD", method: "HEAD", path: "/api/v1/sessions/current", status: 200},
		{name: "sign-in page", method: "GET", path: "/signin", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tok
			if tt.token != "" {
				token = tt.token
			}
			if token == "-" {
				token = ""
			}
			r := e.call(t, tt.method, tt.path, token, tt.body, tt.header...)
			if tt.method == "HEAD" {
				wantStatus(t, r, tt.status, "")
			} else {
				wantStatus(t, r, tt.status, tt.code)
			}
			h := r.header
			if h.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				if tt.header[i] == "X-Request-Id" && h.Get("X-Request-Id") != tt.header[i+1] {
					t.Errorf("X-Request-Id = %q, want the one given, %q", h.Get("X-Request-Id"), tt.header[i+1])
				}
			}
			want := map[string]string{
				"X-Content-Type-Options":       "nosniff",
				"Cache-Control":                "no-store",
				"Referrer-Policy":              "no-referrer",
				"Cross-Origin-Resource-Policy": "same-origin",
			}
			if !strings.HasPrefix(tt.path, "/api/") {
				// Headers that act on documents only: pages carry them.
				want["X-Frame-Options"] = "DENY"
				want["Cross-Origin-Opener-Policy"] = "same-origin"
				want["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
			}
			for name, want := range want {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			csp := h.Get("Content-Security-Policy")
			for _, part := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, part) || strings.Contains(csp, "unsafe-inline") {
					t.Errorf("CSP %q lacks %q or allows unsafe-inline", csp, part)
				}
			}
			if !strings.Contains(h.Get("Content-Type"), "charset=utf-8") && tt.method != "HEAD" {
				t.Errorf("Content-Type = %q", h.Get("Content-Type"))
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent over plain http")
			}
		})
	}
}

func TestAPIForwardedForOnlyFromTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"untrusted peer: header ignored", nil, "127.0.0.1"},
		{"trusted proxy: nearest untrusted hop", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPI(t, keyward.DefaultConfig(), web.Config{TrustedProxies: tt.trusted})
			e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
			r := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword},
				"X-Forwarded-For", "198.51.100.1, 203.0.113.9")
			if ip := r.json(t)["session"].(map[string]any)["ip"]; ip != tt.want {
				t.Fatalf("session ip = %v, want %s", ip, tt.want)
			}
		})
	}
}

func TestSecureCookiesUnderHTTPS(t *testing.T) {
	u, _ := url.Parse("https://id.example.com")
	e := newAPI(t, keyward.DefaultConfig(), web.Config{PublicURL: u})
	e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	form := "email=ada%40example.com&password=" + strings.ReplaceAll(apiPassword, " ", "+")
	req, _ := http.NewRequest("POST", e.srv.URL+"/signin", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in form = %d, want 303", res.StatusCode)
	}
	set := res.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-keyward_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Fatalf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if strings.Contains(set, "Domain=") {
		t.Fatalf("Set-Cookie %q has a Domain", set)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS under an https public URL")
	}
}

func TestAPITwoFactorSetupAsksForThePasswordAfterAWhile(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	e.Clock.Advance(sudoWindow + time.Minute)
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil), 403, "reauthentication_required")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, map[string]string{"password": "wrong"}), 403, "invalid_current_password")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, map[string]string{"password": apiPassword}), 200, "")
}

// The two-factor page has no password field: it says when the actions will
// ask to confirm it is the person first, which is exactly when the service
// refuses them without it.
func TestTwoFactorPageSaysWhenItWillAskToConfirm(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	const note = `id="sudo-note"`
	for _, c := range []struct {
		name    string
		advance time.Duration
		want    bool
	}{
		{"just signed in", 0, false},
		{"a second before the window closes", sudoWindow - time.Second, false},
		{"as the window closes", time.Second, true},
	} {
		e.Clock.Advance(c.advance)
		r := e.call(t, "GET", "/settings/security/two-factor", tok, nil)
		wantStatus(t, r, 200, "")
		if got := bytes.Contains(r.body, []byte(note)); got != c.want {
			t.Errorf("%s: note shown = %v, want %v", c.name, got, c.want)
		}
		if bytes.Contains(r.body, []byte(`type="password"`)) {
			t.Errorf("%s: the page has a password field", c.name)
		}
	}
}

// The attack on a pending setup, over HTTP: a session outside its sudo
// window (someone else's, left signed in) may not start a setup
// without the password; it must not read the owner's setup on the page nor
// confirm it through the API, which would give it the seed and the backup
// codes and sign the owner out everywhere.
func TestAPIStaleSessionCannotTakeOverATwoFactorSetup(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	stale := e.signUpIn(t, "ada@example.com")
	e.Clock.Advance(sudoWindow + time.Minute)
	owner := e.signIn(t, "ada@example.com")

	r := e.call(t, "POST", "/api/v1/account/2fa/setup", owner, nil)
	wantStatus(t, r, 200, "")
	secret := r.json(t)["secret"].(string)
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", stale, nil), 403, "reauthentication_required")

	// The page shows the stale session the first step, not the owner's key.
	r = e.call(t, "GET", "/settings/security/two-factor", stale, nil)
	wantStatus(t, r, 200, "")
	for _, leak := range []string{secret, totp.GroupKey(secret), `class="qr"`, "data:image/png", `action="/settings/security/two-factor/enable"`} {
		if bytes.Contains(r.body, []byte(leak)) {
			t.Errorf("the stale session's page shows %q", leak)
		}
	}
	if !bytes.Contains(r.body, []byte(`action="/settings/security/two-factor/setup"`)) {
		t.Errorf("the stale session's page does not offer a setup of its own:\n%s", r.body)
	}

	code, _ := totp.Code(secret, e.Clock.Now())
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", stale, map[string]string{"code": code}), 409, "no_pending_setup")
	r = e.call(t, "GET", "/api/v1/account/2fa", owner, nil)
	wantStatus(t, r, 200, "")
	if r.json(t)["enabled"] != false {
		t.Fatalf("2FA turned on by the stale session: %s", r.body)
	}

	// The owner's session stands, its page shows its key, and it confirms.
	r = e.call(t, "GET", "/settings/security/two-factor", owner, nil)
	wantStatus(t, r, 200, "")
	if !bytes.Contains(r.body, []byte(totp.GroupKey(secret))) {
		t.Errorf("the owner's page does not show the key it is setting up")
	}
	r = e.call(t, "POST", "/api/v1/account/2fa/enable", owner, map[string]string{"code": code})
	wantStatus(t, r, 200, "")
	if n := len(r.json(t)["backup_codes"].([]any)); n != 10 {
		t.Fatalf("%d backup codes", n)
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", owner, nil), 200, "")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", stale, nil), 401, "unauthenticated")
}

// An old session that gives the password again may set up 2FA and confirm
// it: the setup step is where it proves itself.
func TestAPITwoFactorSetupWithThePasswordCanBeConfirmed(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	e.Clock.Advance(sudoWindow + 10*time.Minute) // within the idle timeout
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil), 403, "reauthentication_required")
	r := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, map[string]string{"password": apiPassword})
	wantStatus(t, r, 200, "")
	e.Clock.Advance(5 * time.Minute)
	code, _ := totp.Code(r.json(t)["secret"].(string), e.Clock.Now())
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code}), 200, "")
}

// TestCheckAnswersKeepEverySecurityHeader: the proxies' checks answer 200
// with no body on their short way through the middleware (see
// web.middleware), and still carry every security header of an API answer,
// the request id and the identity.
func TestCheckAnswersKeepEverySecurityHeader(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	for _, path := range []string{"/api/v1/auth/check", "/api/v1/auth/forward", "/api/v1/auth/check?aal=1"} {
		t.Run(path, func(t *testing.T) {
			r := e.call(t, "GET", path, tok, nil)
			wantStatus(t, r, 200, "")
			want := map[string]string{
				"Content-Security-Policy":      "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'",
				"X-Content-Type-Options":       "nosniff",
				"Cache-Control":                "no-store",
				"Referrer-Policy":              "no-referrer",
				"Cross-Origin-Resource-Policy": "same-origin",
				"X-Keyward-Email":              "ada@example.com",
				"X-Keyward-Aal":                "1",
				"X-Keyward-Amr":                "pwd",
			}
			for name, v := range want {
				if got := r.header.Get(name); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
			for _, name := range []string{"X-Request-Id", "X-Keyward-Account-Id", "X-Keyward-Session-Id"} {
				if r.header.Get(name) == "" {
					t.Errorf("no %s", name)
				}
			}
			if len(r.body) != 0 {
				t.Errorf("body %q, want none", r.body)
			}
		})
	}
}
