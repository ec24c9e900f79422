package web_test

import (
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
	"github.com/keyward/keyward/web"
)

// twoFactorToken turns two-factor on for the account of tok, signs in
// again with a code and returns the new token, the secret and the codes.
func (e *apiEnv) twoFactorToken(t *testing.T, tok, email string) (string, string, []string) {
	t.Helper()
	r := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil)
	wantStatus(t, r, 200, "")
	secret := r.json(t)["secret"].(string)
	code, _ := totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code})
	wantStatus(t, r, 200, "")
	var codes []string
	for _, c := range r.json(t)["backup_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	e.Clock.Advance(time.Minute)
	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": apiPassword})
	wantStatus(t, r, 200, "")
	code, _ = totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": r.json(t)["mfa_token"].(string), "code": code})
	wantStatus(t, r, 201, "")
	return r.json(t)["token"].(string), secret, codes
}

func sudoUntil(t *testing.T, r reply) any {
	t.Helper()
	m := r.json(t)
	v, ok := m["sudo_until"]
	if !ok || len(m) != 1 {
		t.Fatalf("body %s, want {\"sudo_until\": …}", r.body)
	}
	return v
}

// TestAPISudo: every answer of GET and POST /api/v1/account/sudo.
func TestAPISudo(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	plain := e.signUpIn(t, "bob@example.com")
	e.signUpIn(t, "ada@example.com")
	tok, secret, codes := e.twoFactorToken(t, e.signIn(t, "ada@example.com"), "ada@example.com")
	signedInAt := e.Clock.Now()

	r := e.call(t, "GET", "/api/v1/account/sudo", tok, nil)
	wantStatus(t, r, 200, "")
	if got, want := sudoUntil(t, r), signedInAt.Add(sudoWindow).UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("sudo_until after signing in = %v, want %v", got, want)
	}
	e.Clock.Advance(sudoWindow)
	r = e.call(t, "GET", "/api/v1/account/sudo", tok, nil)
	wantStatus(t, r, 200, "")
	if got := sudoUntil(t, r); got != nil {
		t.Errorf("sudo_until once closed = %v, want null", got)
	}

	nextCode := func() string {
		e.Clock.Advance(30 * time.Second)
		c, _ := totp.Code(secret, e.Clock.Now())
		return c
	}
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no session", "", map[string]string{"password": apiPassword}, 401, "unauthenticated"},
		{"no body", tok, nil, 415, "unsupported_media_type"},
		{"empty object", tok, map[string]string{}, 400, "invalid_request"},
		{"both", tok, map[string]string{"password": apiPassword, "code": "123456"}, 400, "invalid_request"},
		{"empty password", tok, map[string]string{"password": ""}, 400, "invalid_request"},
		{"unknown field", tok, map[string]string{"password": apiPassword, "challenge": "x"}, 400, "invalid_request"},
		{"wrong type", tok, map[string]any{"password": 12345678}, 400, "invalid_request"},
		{"not JSON", tok, "password=x", 400, "invalid_request"},
		{"wrong password", tok, map[string]string{"password": "not the password"}, 403, "invalid_current_password"},
		{"wrong code", tok, map[string]string{"code": "aaaaa-bbbbb-ccccc"}, 401, "invalid_code"},
		{"a code without two-factor", plain, map[string]string{"code": "123456"}, 401, "invalid_code"},
		{"password", tok, map[string]string{"password": apiPassword}, 200, ""},
		{"TOTP code", tok, map[string]string{"code": nextCode()}, 200, ""},
		{"backup code", tok, map[string]string{"code": codes[0]}, 200, ""},
		{"the backup code again", tok, map[string]string{"code": codes[0]}, 401, "invalid_code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(t, "POST", "/api/v1/account/sudo", c.token, c.body)
			wantStatus(t, r, c.status, c.code)
			if c.status == 200 {
				want := e.Clock.Now().Add(sudoWindow).UTC().Format(time.RFC3339Nano)
				if got := sudoUntil(t, r); got != want {
					t.Errorf("sudo_until = %v, want %v", got, want)
				}
			}
		})
	}

	t.Run("throttled", func(t *testing.T) {
		e.Clock.Advance(2 * time.Hour) // the earlier wrong password forgotten
		tok := e.signIn(t, "bob@example.com")
		for range 3 {
			wantStatus(t, e.call(t, "POST", "/api/v1/account/sudo", tok, map[string]string{"password": "not the password"}), 403, "invalid_current_password")
		}
		r := e.call(t, "POST", "/api/v1/account/sudo", tok, map[string]string{"password": apiPassword})
		wantStatus(t, r, 429, "too_many_attempts")
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
		}
	})
}

// TestAPISensitiveActionsOutsideTheWindow: each answers 403
// reauthentication_required without a password, works with one (API
// version 1's bodies), and works without one once the window is open.
func TestAPISensitiveActionsOutsideTheWindow(t *testing.T) {
	type route struct {
		name, method, path string
		body, withPassword any
		status             int
	}
	pw := apiPassword
	run := func(t *testing.T, e *apiEnv, tok string, r route) {
		t.Helper()
		wantStatus(t, e.call(t, r.method, r.path, tok, r.body), 403, "reauthentication_required")
		wantStatus(t, e.call(t, r.method, r.path, tok, r.withPassword), r.status, "")
		e.Clock.Advance(sudoWindow)
		wantStatus(t, e.call(t, r.method, r.path, tok, r.body), 403, "reauthentication_required")
		wantStatus(t, e.call(t, "POST", "/api/v1/account/sudo", tok, map[string]string{"password": pw}), 200, "")
		wantStatus(t, e.call(t, r.method, r.path, tok, r.body), r.status, "")
	}
	t.Run("without two-factor", func(t *testing.T) {
		for _, r := range []route{
			{"setup, no body", "POST", "/api/v1/account/2fa/setup", nil, map[string]string{"password": pw}, 200},
			{"setup, empty object", "POST", "/api/v1/account/2fa/setup", map[string]string{}, map[string]string{"password": pw}, 200},
			{"email change", "PUT", "/api/v1/account/email", map[string]string{"new_email": "ada.new@example.com"},
				map[string]string{"new_email": "ada.new@example.com", "password": pw}, 202},
		} {
			t.Run(r.name, func(t *testing.T) {
				e := newAPI(t, keyward.DefaultConfig(), web.Config{})
				tok := e.signUpIn(t, "ada@example.com")
				e.Clock.Advance(sudoWindow)
				run(t, e, tok, r)
			})
		}
	})
	t.Run("with two-factor", func(t *testing.T) {
		for _, r := range []route{
			{"new backup codes, no body", "POST", "/api/v1/account/2fa/backup-codes", nil, map[string]string{"password": pw}, 200},
			{"new backup codes, empty object", "POST", "/api/v1/account/2fa/backup-codes", map[string]string{}, map[string]string{"password": pw}, 200},
		} {
			t.Run(r.name, func(t *testing.T) {
				e := newAPI(t, keyward.DefaultConfig(), web.Config{})
				tok, _, _ := e.twoFactorToken(t, e.signUpIn(t, "ada@example.com"), "ada@example.com")
				e.Clock.Advance(sudoWindow)
				run(t, e, tok, r)
			})
		}
	})
	t.Run("disable", func(t *testing.T) {
		e := newAPI(t, keyward.DefaultConfig(), web.Config{})
		tok, _, _ := e.twoFactorToken(t, e.signUpIn(t, "ada@example.com"), "ada@example.com")
		e.Clock.Advance(sudoWindow)
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, nil), 403, "reauthentication_required")
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, map[string]string{"password": "not the password"}), 403, "invalid_current_password")
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, map[string]string{"password": pw}), 204, "")
	})
	t.Run("enable", func(t *testing.T) {
		e := newAPI(t, keyward.DefaultConfig(), web.Config{})
		tok := e.signUpIn(t, "ada@example.com")
		r := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil)
		wantStatus(t, r, 200, "")
		secret := r.json(t)["secret"].(string)
		e.Clock.Advance(sudoWindow)
		code, _ := totp.Code(secret, e.Clock.Now())
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code}), 403, "reauthentication_required")
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code, "password": "nope, not it"}), 403, "invalid_current_password")
		wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code, "password": pw}), 200, "")
	})
}

// TestAPIVersion1BodiesKeepWorking: the rows of API version 1, byte for
// byte, inside the window and out: {"password"} for new backup codes and
// disabling, the setup without a body right after signing in.
func TestAPIVersion1BodiesKeepWorking(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil), 200, "")
	tok, _, _ = e.twoFactorToken(t, tok, "ada@example.com")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, `{"password":"`+apiPassword+`"}`), 200, "")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, `{"password":"wrong one"}`), 403, "invalid_current_password")
	e.Clock.Advance(sudoWindow + time.Minute)
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/backup-codes", tok, `{"password":"`+apiPassword+`"}`), 200, "")
	e.Clock.Advance(sudoWindow + time.Minute)
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/disable", tok, `{"password":"`+apiPassword+`"}`), 204, "")
}

// TestAPISessionAMR: the Session object says how the session signed in.
func TestAPISessionAMR(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	amrOf := func(t *testing.T, tok string) []any {
		t.Helper()
		r := e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
		wantStatus(t, r, 200, "")
		amr, _ := r.json(t)["session"].(map[string]any)["amr"].([]any)
		return amr
	}
	if got := amrOf(t, tok); len(got) != 1 || got[0] != "pwd" {
		t.Errorf("password session amr = %v, want [pwd]", got)
	}
	two, _, _ := e.twoFactorToken(t, tok, "ada@example.com")
	want := []any{"pwd", "otp", "mfa"}
	for _, tok := range []string{tok, two} { // the enabling session proved a code too
		got := amrOf(t, tok)
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("amr = %v, want %v", got, want)
		}
	}
	r := e.call(t, "GET", "/api/v1/sessions", two, nil)
	wantStatus(t, r, 200, "")
	for _, s := range r.json(t)["sessions"].([]any) {
		if amr, _ := s.(map[string]any)["amr"].([]any); len(amr) != 3 {
			t.Errorf("listed session amr = %v, want %v", amr, want)
		}
	}
}
