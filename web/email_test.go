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
