package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
	"github.com/keyward/keyward/totp"
	"github.com/keyward/keyward/web"
)

// mailEnv is an API server whose mails go over the wire to a real SMTP
// server (STARTTLS), with links to the server's own URL.
type mailEnv struct {
	*apiEnv
	smtp   *mailtest.Server
	worker keyward.MailWorker
}

func newMailEnv(t *testing.T, cfg keyward.Config) *mailEnv {
	t.Helper()
	if cfg == (keyward.Config{}) {
		cfg = keyward.DefaultConfig()
	}
	cfg.ForgotPasswordTime = -1
	e := &mailEnv{apiEnv: newAPI(t, cfg, web.Config{}), smtp: mailtest.Start(t, mailtest.Options{STARTTLS: true})}
	tr, err := mail.NewSMTP(mail.SMTPConfig{URL: e.smtp.URL(), TLS: e.smtp.TLSConfig(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.New(mail.Config{ProductName: "Example", PublicURL: e.srv.URL, From: "Example <accounts@example.com>"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	e.worker = keyward.MailWorker{Sender: m}
	return e
}

// send runs the outbox worker once through, as a node's worker would.
func (e *mailEnv) send(t testing.TB) {
	t.Helper()
	for {
		n, err := e.Svc.SendDueMails(t.Context(), e.worker)
		if err != nil {
			t.Fatalf("SendDueMails: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// mailTo sends what waits and returns the mail to to about subject.
func (e *mailEnv) mailTo(t testing.TB, to, subject string) *mailtest.Message {
	t.Helper()
	e.send(t)
	return e.smtp.WaitFor(t, to, subject, 5*time.Second)
}

func get(t testing.TB, link string) (int, string) {
	t.Helper()
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestForgotPasswordAPI(t *testing.T) {
	e := newMailEnv(t, keyward.Config{})
	old := e.signUpIn(t, "ada@example.com")

	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		r := e.call(t, "POST", "/api/v1/password/forgot", "", map[string]string{"email": email})
		if r.status != http.StatusAccepted || len(r.body) != 0 {
			t.Fatalf("forgot %s: %d %q, want 202 and no body", email, r.status, r.body)
		}
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/password/forgot", "", `{}`), 400, "invalid_request")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/forgot", "", `{"email":"a@example.com","x":1}`), 400, "invalid_request")

	msg := e.mailTo(t, "ada@example.com", "Reset your Example password")
	link := msg.Link(t, "/reset-password")
	if !strings.HasPrefix(link, e.srv.URL+"/reset-password?token=kwr_") {
		t.Fatalf("link %q", link)
	}
	if strings.Contains(msg.Text+msg.HTML, old) {
		t.Fatal("the mail holds a session token")
	}
	// The link opens the page with the form (a real HTTP client follows it).
	status, body := get(t, link)
	if status != 200 || !strings.Contains(body, `name="token" value="`+msg.Token(t, "/reset-password")+`"`) || strings.Contains(body, `name="code"`) {
		t.Fatalf("reset page: %d\n%s", status, body)
	}

	token := msg.Token(t, "/reset-password")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token}), 400, "invalid_request")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": "short"}), 400, "password_too_short")
	r := e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": "a completely new passphrase 42"})
	wantStatus(t, r, 200, "")
	if n := r.json(t)["revoked_sessions"]; n != 1.0 {
		t.Errorf("revoked_sessions = %v, want 1", n)
	}
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", old, nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": "another new passphrase 43"}), 400, "invalid_token")
	if status, _ := get(t, link); status != 400 {
		t.Errorf("the used link's page: %d, want 400", status)
	}
	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "a completely new passphrase 42"})
	wantStatus(t, r, 201, "")
	e.mailTo(t, "ada@example.com", "Your password was reset")
}

func TestResetPasswordAPIAsksForTheSecondFactor(t *testing.T) {
	e := newMailEnv(t, keyward.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	setup := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil).json(t)
	secret := setup["secret"].(string)
	code, _ := totp.Code(secret, e.Clock.Now())
	wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code}), 200, "")
	e.Clock.Advance(time.Minute)

	wantStatus(t, e.call(t, "POST", "/api/v1/password/forgot", "", map[string]string{"email": "ada@example.com"}), 202, "")
	msg := e.mailTo(t, "ada@example.com", "Reset your")
	token := msg.Token(t, "/reset-password")
	if _, body := get(t, msg.Link(t, "/reset-password")); !strings.Contains(body, `name="code"`) {
		t.Errorf("the reset page of a 2FA account asks for no code:\n%s", body)
	}
	pw := "a completely new passphrase 42"
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": pw}), 403, "mfa_required")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": pw, "code": "123456"}), 401, "invalid_code")
	code, _ = totp.Code(secret, e.Clock.Now())
	r := e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": token, "new_password": pw, "code": code})
	wantStatus(t, r, 200, "")
	// Nothing was opened: a sign-in still asks for the second factor.
	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": pw})
	if r.status != 200 || r.json(t)["mfa_required"] != true {
		t.Errorf("sign-in after the reset: %d %s", r.status, r.body)
	}
}

func TestVerifyAndChangeEmailAPI(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.RequireVerifiedEmail = true
	e := newMailEnv(t, cfg)
	r := e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	wantStatus(t, r, 201, "")
	if v := r.json(t)["account"].(map[string]any)["email_verified"]; v != false {
		t.Errorf("email_verified of a new account = %v", v)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "wrong password here"}), 401, "invalid_credentials")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword}), 403, "email_not_verified")

	msg := e.mailTo(t, "ada@example.com", "Confirm your email address")
	link := msg.Link(t, "/verify-email")
	// Opening the link confirms nothing by itself (scanners open links).
	if status, body := get(t, link); status != 200 || !strings.Contains(body, `action="/verify-email"`) {
		t.Fatalf("verify page: %d\n%s", status, body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": "kwv_nonsense"}), 400, "invalid_token")
	// The sign-in above mailed a newer link, which replaced the first.
	mails := e.smtp.Wait(t, 2, 5*time.Second)
	newer := mailtest.Parse(t, mails[1].Data)
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": msg.Token(t, "/verify-email")}), 400, "invalid_token")
	r = e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": newer.Token(t, "/verify-email")})
	wantStatus(t, r, 200, "")
	if v := r.json(t)["account"].(map[string]any)["email_verified"]; v != true {
		t.Errorf("email_verified after verifying = %v", v)
	}
	tok := e.signIn(t, "ada@example.com")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verification", tok, nil), 409, "already_verified")

	e.signUpInVerified(t, "taken@example.com")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/email", tok, map[string]string{"new_email": "ada.new@example.com", "password": "wrong"}), 403, "invalid_current_password")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/email", tok, map[string]string{"new_email": "taken@example.com", "password": apiPassword}), 409, "email_taken")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/email", tok, map[string]string{"new_email": "nope", "password": apiPassword}), 400, "invalid_email")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/email", tok, map[string]string{"new_email": "ada.new@example.com", "password": apiPassword}), 202, "")
	confirm := e.mailTo(t, "ada.new@example.com", "Confirm your new email address")
	notice := e.smtp.WaitFor(t, "ada@example.com", "A change of your account's email address was asked for", 5*time.Second)
	notice.Link(t, "/lockdown")

	// Confirmed through the page, as a person's browser posts its form.
	res, err := http.PostForm(e.srv.URL+"/verify-email", map[string][]string{"token": {confirm.Token(t, "/verify-email")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/signin" {
		t.Errorf("after confirming: at %s, want /signin", res.Request.URL.Path)
	}
	r = e.call(t, "GET", "/api/v1/sessions/current", tok, nil)
	wantStatus(t, r, 200, "")
	if got := r.json(t)["account"].(map[string]any); got["email"] != "ada.new@example.com" || got["email_verified"] != true {
		t.Errorf("account after the change: %v", got)
	}
	e.mailTo(t, "ada@example.com", "Your account's email address was changed")
}

// TestResendVerificationAPI: an unconfirmed address gets a new link, which
// replaces the one sign-up mailed.
func TestResendVerificationAPI(t *testing.T) {
	e := newMailEnv(t, keyward.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	first := e.mailTo(t, "ada@example.com", "Confirm your email address")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verification", tok, nil), 202, "")
	e.send(t)
	var newer *mailtest.Message
	for deadline := time.Now().Add(5 * time.Second); newer == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range e.smtp.Mails() {
			if msg := mailtest.Parse(t, m.Data); strings.HasPrefix(msg.Subject, "Confirm your email address") && msg.Token(t, "/verify-email") != first.Token(t, "/verify-email") {
				newer = msg
			}
		}
	}
	if newer == nil {
		t.Fatal("no second verification mail")
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": first.Token(t, "/verify-email")}), 400, "invalid_token")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": newer.Token(t, "/verify-email")}), 200, "")
}

// signUpInVerified makes an account and confirms its address.
func (e *mailEnv) signUpInVerified(t *testing.T, email string) {
	t.Helper()
	wantStatus(t, e.call(t, "POST", "/api/v1/accounts", "", map[string]string{"email": email, "password": apiPassword}), 201, "")
	msg := e.mailTo(t, email, "Confirm your email address")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/email/verify", "", map[string]string{"token": msg.Token(t, "/verify-email")}), 200, "")
}

func TestNotificationsAndLockdownAPI(t *testing.T) {
	e := newMailEnv(t, keyward.Config{})
	tok := e.signUpIn(t, "ada@example.com") // a sign-in from a device never seen

	msg := e.mailTo(t, "ada@example.com", "A new device signed in to your account")
	// The address; not the Go client's name: only browsers and systems
	// the parser knows are named (an agent's own text is the sender's).
	for _, s := range []string{"127.0.0.1"} {
		if !strings.Contains(msg.Text, s) {
			t.Errorf("the notice lacks %q:\n%s", s, msg.Text)
		}
	}
	link := msg.Link(t, "/lockdown")
	if status, body := get(t, link); status != 200 || !strings.Contains(body, `action="/lockdown"`) {
		t.Fatalf("lockdown page: %d\n%s", status, body)
	}
	// Opening the page changed nothing.
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", tok, nil), 200, "")

	r := e.call(t, "GET", "/api/v1/account/notifications", tok, nil)
	if wantStatus(t, r, 200, ""); r.json(t)["new_device_signin"] != true {
		t.Errorf("notifications: %s", r.body)
	}
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/notifications", tok, `{}`), 400, "invalid_request")
	wantStatus(t, e.call(t, "PUT", "/api/v1/account/notifications", tok, map[string]bool{"new_device_signin": false}), 200, "")
	if r := e.call(t, "GET", "/api/v1/account/notifications", tok, nil); r.json(t)["new_device_signin"] != false {
		t.Errorf("notifications after turning off: %s", r.body)
	}

	token := msg.Token(t, "/lockdown")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/lockdown", "", map[string]string{"token": "kwl_x"}), 400, "invalid_token")
	r = e.call(t, "POST", "/api/v1/account/lockdown", "", map[string]string{"token": token})
	wantStatus(t, r, 200, "")
	if r.json(t)["revoked_sessions"] != 1.0 {
		t.Errorf("lockdown: %s", r.body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/lockdown", "", map[string]string{"token": token}), 400, "invalid_token")
	wantStatus(t, e.call(t, "GET", "/api/v1/sessions/current", tok, nil), 401, "unauthenticated")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "not the password"}), 401, "invalid_credentials")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword}), 403, "password_reset_required")

	// Back in by mail.
	wantStatus(t, e.call(t, "POST", "/api/v1/password/forgot", "", map[string]string{"email": "ada@example.com"}), 202, "")
	reset := e.mailTo(t, "ada@example.com", "Reset your")
	wantStatus(t, e.call(t, "POST", "/api/v1/password/reset", "", map[string]string{"token": reset.Token(t, "/reset-password"), "new_password": "a completely new passphrase 42"}), 200, "")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": "a completely new passphrase 42"}), 201, "")
}
