package web

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// sudoPageEnv is a page server on a clock the test moves, with ada signed
// up and in.
func sudoPageEnv(t *testing.T, webCfg Config) (*pageEnv, *keywardtest.Clock) {
	t.Helper()
	clock := keywardtest.NewClock(time.Now().UTC())
	e := newPageEnvAt(t, keyward.DefaultConfig(), webCfg, nil, clock.Now)
	p := e.post(e.base+"/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {testPassword}})
	wantRedirect(t, "sign-up", p, e.base+"/settings/security")
	return e, clock
}

// pastTheWindow moves the clock past the sudo window, within the idle
// timeout.
func pastTheWindow(c *keywardtest.Clock) { c.Advance(keyward.DefaultConfig().SudoWindow + time.Minute) }

var sudoNextRE = regexp.MustCompile(`<input type="hidden" name="next" value="([^"]*)">`)

// TestSudoPage: the one page where a person confirms it is them, with the
// password (a hidden username beside it for password managers) or a code,
// and goes back to where it was sent from, a local path only.
func TestSudoPage(t *testing.T) {
	e, clock := sudoPageEnv(t, Config{AllowedReturnOrigins: []string{"https://app.example.com"}})
	pastTheWindow(clock)

	p := e.get("/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	wantStatus(t, "sudo page", p, 200)
	wantBody(t, "sudo page", p, "Confirm it is you", `action="/settings/security/confirm"`,
		`<input name="username" type="email" autocomplete="username" value="`+testEmail+`" readonly hidden>`,
		`id="password" name="password" type="password" autocomplete="current-password"`,
		`<input type="hidden" name="next" value="/settings/security/two-factor">`, "10 minutes")
	wantNoBody(t, "sudo page, no two-factor", p, "Use a code", `name="code"`)

	for _, c := range []struct{ name, next, want string }{
		{"a local page", "/settings/security/two-factor", "/settings/security/two-factor"},
		{"an application's page on this host", "/app/billing?x=1", "/app/billing?x=1"},
		{"another site", "https://evil.example/", "/settings/security"},
		{"an allowed return origin: not for this page", "https://app.example.com/settings", "/settings/security"},
		{"scheme-relative", "//evil.example/x", "/settings/security"},
		{"backslash", "/\\evil.example", "/settings/security"},
		{"javascript", "javascript:alert(1)", "/settings/security"},
		{"none", "", "/settings/security"},
	} {
		t.Run("next "+c.name, func(t *testing.T) {
			p := e.get("/settings/security/confirm?" + url.Values{"next": {c.next}}.Encode())
			m := sudoNextRE.FindStringSubmatch(p.body)
			if m == nil || m[1] != c.want {
				t.Fatalf("next kept as %v, want %q", m, c.want)
			}
			p = e.post("/settings/security/confirm", url.Values{"password": {testPassword}, "next": {c.next}})
			wantRedirect(t, "confirmed", p, c.want)
		})
	}

	p = e.post("/settings/security/confirm", url.Values{"password": {""}, "next": {"/settings/security/email"}})
	wantStatus(t, "empty password", p, 400)
	wantBody(t, "empty password", p, "Enter your password.")
	p = e.post("/settings/security/confirm", url.Values{"password": {"not it at all"}, "next": {"/settings/security/email"}})
	wantStatus(t, "wrong password", p, 403)
	wantBody(t, "wrong password", p, "Your current password is incorrect.", `aria-invalid="true"`,
		`<input type="hidden" name="next" value="/settings/security/email">`)
	if strings.Contains(p.body, "not it at all") {
		t.Errorf("wrong password: the page shows what was typed")
	}

	p = e.post("/settings/security/confirm", url.Values{"password": {testPassword}, "next": {"/settings/security/email"}})
	wantRedirect(t, "confirmed", p, "/settings/security/email")
	wantBody(t, "after confirming", e.get("/settings/security/email"), "You will not be asked again for 10 minutes.", `name="new_email"`)
}

// With two-factor on, the page takes a code too: TOTP or a backup code.
func TestSudoPageWithACode(t *testing.T) {
	e, clock := sudoPageEnv(t, Config{})
	secret, codes := e.enableTwoFactorAt(clock)
	clock.Advance(time.Minute) // past the step that confirmed the setup
	pastTheWindow(clock)

	p := e.get("/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	wantBody(t, "password form", p, `name="password"`, "Use a code from your authenticator app or a backup code instead",
		`href="/settings/security/confirm?method=code&amp;next=%2Fsettings%2Fsecurity%2Ftwo-factor"`)
	p = e.get("/settings/security/confirm?method=code&next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	wantStatus(t, "code form", p, 200)
	wantBody(t, "code form", p, `name="code"`, `autocomplete="one-time-code"`, `<input type="hidden" name="method" value="code">`, "Use your password instead")
	wantNoBody(t, "code form", p, `type="password"`)

	form := func(code string) url.Values {
		return url.Values{"method": {"code"}, "code": {code}, "next": {"/settings/security/two-factor"}}
	}
	p = e.post("/settings/security/confirm", form(""))
	wantStatus(t, "empty code", p, 400)
	p = e.post("/settings/security/confirm", form("aaaaa-bbbbb-ccccc"))
	wantStatus(t, "wrong code", p, 401)
	wantBody(t, "wrong code", p, "That code is not valid", `name="code"`, `aria-invalid="true"`)

	code, _ := totp.Code(secret, clock.Now())
	wantRedirect(t, "TOTP code", e.post("/settings/security/confirm", form(code)), "/settings/security/two-factor")
	p = e.post("/settings/security/confirm", form(code))
	wantStatus(t, "the same code again", p, 401)

	pastTheWindow(clock)
	wantRedirect(t, "backup code", e.post("/settings/security/confirm", form(codes[0])), "/settings/security/two-factor")
	wantBody(t, "after a backup code", e.get("/settings/security/two-factor"), "9 backup codes left.")
}

// Outside the window each sensitive action sends the person to the sudo
// page and back to its own page; confirming then lets it through. No form
// has a password field of its own.
func TestSensitivePagesAskForSudo(t *testing.T) {
	const to2FA = "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor"
	e, clock := sudoPageEnv(t, Config{})
	pastTheWindow(clock)

	p := e.get("/settings/security/two-factor")
	wantBody(t, "2FA page outside the window", p, `id="sudo-note"`, `action="/settings/security/two-factor/setup"`)
	wantNoBody(t, "2FA page outside the window", p, `type="password"`)
	wantRedirect(t, "setup", e.post("/settings/security/two-factor/setup", url.Values{}), to2FA)
	wantRedirect(t, "email page", e.get("/settings/security/email"), "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Femail")
	wantRedirect(t, "email change", e.post("/settings/security/email", url.Values{"new_email": {"ada.new@example.com"}}),
		"/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Femail")

	wantRedirect(t, "confirm", e.post("/settings/security/confirm", url.Values{"password": {testPassword}, "next": {"/settings/security/two-factor"}}),
		"/settings/security/two-factor")
	p = e.get("/settings/security/two-factor")
	wantNoBody(t, "2FA page inside the window", p, `id="sudo-note"`, `type="password"`)
	wantRedirect(t, "setup after confirming", e.post("/settings/security/two-factor/setup", url.Values{}), "/settings/security/two-factor#step-2")
	p = e.get("/settings/security/email")
	wantStatus(t, "email page after confirming", p, 200)
	wantNoBody(t, "email page", p, `type="password"`)
	wantRedirect(t, "email change after confirming", e.post("/settings/security/email", url.Values{"new_email": {"ada.new@example.com"}}), "/settings/security")

	// Confirming a setup once the window has closed: sent to confirm, and
	// the setup waits for a fresh code on return.
	secret := e.pendingSecret()
	pastTheWindow(clock)
	code, _ := totp.Code(secret, clock.Now())
	wantRedirect(t, "enable outside the window", e.post("/settings/security/two-factor/enable", url.Values{"code": {code}}), to2FA)
	wantRedirect(t, "confirm", e.post("/settings/security/confirm", url.Values{"password": {testPassword}, "next": {"/settings/security/two-factor"}}),
		"/settings/security/two-factor")
	p = e.post("/settings/security/two-factor/enable", url.Values{"code": {code}})
	wantRedirect(t, "enable", p, "/settings/security/two-factor")
	backupCodes(t, e.get("/settings/security/two-factor"))

	pastTheWindow(clock)
	wantRedirect(t, "new backup codes", e.post("/settings/security/two-factor/backup-codes", url.Values{}), to2FA)
	wantRedirect(t, "disable", e.post("/settings/security/two-factor/disable", url.Values{}), to2FA)
	// The old fields, sent by a stale form, are not a way around it.
	wantRedirect(t, "disable with a password field", e.post("/settings/security/two-factor/disable", url.Values{"password": {testPassword}}), to2FA)
	wantBody(t, "still on", e.get("/settings/security/two-factor"), "Two-factor authentication is on")
}

// Under a base path, the detour and the way back carry it.
func TestSudoUnderABasePath(t *testing.T) {
	e, clock := sudoPageEnv(t, Config{BasePath: "/auth"})
	pastTheWindow(clock)
	wantRedirect(t, "setup", e.post("/auth/settings/security/two-factor/setup", url.Values{}),
		"/auth/settings/security/confirm?next=%2Fauth%2Fsettings%2Fsecurity%2Ftwo-factor")
	p := e.get("/auth/settings/security/confirm?next=%2Fauth%2Fsettings%2Fsecurity%2Ftwo-factor")
	wantBody(t, "sudo page", p, `action="/auth/settings/security/confirm"`, `value="/auth/settings/security/two-factor"`)
	wantRedirect(t, "confirm", e.post("/auth/settings/security/confirm", url.Values{"password": {testPassword}, "next": {"/auth/settings/security/two-factor"}}),
		"/auth/settings/security/two-factor")
	wantRedirect(t, "setup after", e.post("/auth/settings/security/two-factor/setup", url.Values{}), "/auth/settings/security/two-factor#step-2")
}

// The Sessions page says how each session signed in.
func TestSessionsPageSaysHowEachSignedIn(t *testing.T) {
	e, clock := sudoPageEnv(t, Config{})
	wantBody(t, "password", e.get("/settings/security/sessions"), "<dt>Signed in with</dt><dd>Password</dd>")
	secret, _ := e.enableTwoFactorAt(clock)
	clock.Advance(time.Minute)
	wantRedirect(t, "sign out", e.post("/signout", url.Values{}), "/signin")
	wantRedirect(t, "password step", e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}}), "/signin/2fa?next=%2Fsettings%2Fsecurity")
	code, _ := totp.Code(secret, clock.Now())
	wantRedirect(t, "code step", e.post("/signin/2fa", url.Values{"code": {code}, "next": {"/settings/security"}}), "/settings/security")
	// html/template writes "+" as &#43;: the same character on the page.
	wantBody(t, "two steps", e.get("/settings/security/sessions"), "<dt>Signed in with</dt><dd>Password &#43; one-time code</dd>")
}

func TestSignedInWith(t *testing.T) {
	for _, c := range []struct {
		amr  keyward.AMR
		want string
	}{
		{keyward.AMRPassword, "Password"},
		{keyward.AMRPassword | keyward.AMROTP | keyward.AMRMultiFactor, "Password + one-time code"},
		{keyward.AMRSoftwareKey, "Passkey"},
		{keyward.AMRHardwareKey | keyward.AMRMultiFactor, "Passkey"},
		{keyward.AMRPassword | keyward.AMRHardwareKey | keyward.AMRMultiFactor, "Password + passkey"},
		{0, "Unknown"},
	} {
		if got := signedInWith(c.amr); got != c.want {
			t.Errorf("signedInWith(%v) = %q, want %q", c.amr.Values(), got, c.want)
		}
	}
}

func TestDurationWords(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Minute, "10 minutes"},
		{time.Minute, "1 minute"},
		{2 * time.Hour, "2 hours"},
		{90 * time.Minute, "90 minutes"},
		{90 * time.Second, "90 seconds"},
		{1500 * time.Millisecond, "2 seconds"},
	} {
		if got := durationWords(c.d); got != c.want {
			t.Errorf("durationWords(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// enableTwoFactorAt turns two-factor on through the page, with codes made
// at the clock's time, and returns the secret and the backup codes.
func (e *pageEnv) enableTwoFactorAt(clock *keywardtest.Clock) (string, []string) {
	e.t.Helper()
	wantRedirect(e.t, "setup", e.post(e.base+"/settings/security/two-factor/setup", url.Values{}), e.base+"/settings/security/two-factor#step-2")
	secret := e.pendingSecret()
	code, _ := totp.Code(secret, clock.Now())
	p := e.post(e.base+"/settings/security/two-factor/enable", url.Values{"code": {code}})
	wantRedirect(e.t, "enable", p, e.base+"/settings/security/two-factor")
	p = e.get(e.base + "/settings/security/two-factor")
	wantStatus(e.t, "enable", p, 200)
	return secret, backupCodes(e.t, p)
}

// pendingSecret reads the key of the pending setup off the page.
func (e *pageEnv) pendingSecret() string {
	e.t.Helper()
	p := e.get(e.base + "/settings/security/two-factor")
	m := manualKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		e.t.Fatalf("no pending setup on the page:\n%s", p.body)
	}
	return strings.ReplaceAll(m[1], " ", "")
}
