package web_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
	"github.com/keyward/keyward/web"
)

// newMailingBrowserSite is a browser site whose worker sends mails, as a
// node's does, to a real SMTP server on loopback.
func newMailingBrowserSite(t testing.TB) (*browserSite, *mailtest.Server) {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{RealTime: true})
	h, err := web.New(env.Svc, web.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(checked(t, h))
	t.Cleanup(srv.Close)
	smtp := mailtest.Start(t, mailtest.Options{STARTTLS: true})
	tr, err := mail.NewSMTP(mail.SMTPConfig{URL: smtp.URL(), TLS: smtp.TLSConfig(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.New(mail.Config{ProductName: "keyward", PublicURL: srv.URL, From: "keyward <noreply@example.com>"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.Svc.RunMailWorker(ctx, keyward.MailWorker{Sender: m, Poll: 50 * time.Millisecond})
	}()
	t.Cleanup(func() { stop(); <-done })
	return &browserSite{env: env, url: srv.URL}, smtp
}

// TestBrowserForgotPasswordJourney: a person with 2FA forgets the password:
// "Forgot password?" on the sign-in page, the mail, its link, a new
// password and a code from an authenticator keyward did not write, and
// then a sign-in with the new password.
func TestBrowserForgotPasswordJourney(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site, smtp := newMailingBrowserSite(t)
	b := startBrowser(t, site, "forgot")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)

	// Two-factor on, as the two-factor journey does it.
	d.open("/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	key := strings.Join(strings.Fields(d.text("#manual-key")), "")
	confirmAt := time.Now()
	d.fill("#code", oathtoolCode(t, oathtool, key, confirmAt))
	d.press(`form[action="/settings/security/two-factor/enable"] button`)
	d.wantText("enable", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`)
	d.signOut()

	d.press(`a[href="/forgot-password"]`)
	d.wantPath("forgot link", "/forgot-password")
	d.fill("#email", journeyEmail)
	d.screenshot("forgot")
	d.press(`form[action="/forgot-password"] button[type="submit"]`)
	d.wantText("sent", "main", "Check your mail.", journeyEmail)

	msg := smtp.WaitFor(t, journeyEmail, "Reset your keyward password", 10*time.Second)
	link, err := url.Parse(msg.Link(t, "/reset-password"))
	if err != nil {
		t.Fatal(err)
	}
	d.open(link.RequestURI())
	d.wantText("reset page", "main h1", "Choose a new password")
	d.wantText("reset page", `label[for="code"]`, "Authentication code")
	// The account, for password managers.
	if got := d.value(`form[action="/reset-password"] input[name="username"][autocomplete="username"]`); got != journeyEmail {
		d.fatalf("the reset form names %q, want %q", got, journeyEmail)
	}
	const newPassword = "a fresh passphrase for the journey"
	d.fill("#new_password", newPassword)
	d.fill("#new_password_confirmation", newPassword)
	// The next time step: the confirming code's is spent.
	next := time.Unix((confirmAt.Unix()/30+1)*30, 0)
	d.fill("#code", oathtoolCode(t, oathtool, key, next))
	d.screenshot("reset")
	d.press(`form[action="/reset-password"] button[type="submit"]`)
	d.wantPath("reset", "/signin")
	d.wantText("reset", "p.flash", "Your password is reset", "Sign in with your new password")

	// The old password is refused; the new one leads to the second step.
	d.signIn(journeyEmail, journeyPassword)
	d.wantText("old password", "main", "The email or password is incorrect.")
	d.signIn(journeyEmail, newPassword)
	d.wantPath("new password", "/signin/2fa?next=%2Fsettings%2Fsecurity")

	// The link worked once.
	d.open(link.RequestURI())
	d.wantText("used link", "main", "This link is not valid")
	smtp.WaitFor(t, journeyEmail, "Your password was reset", 10*time.Second)
}

// TestBrowserVerifyAndLockdownJourney: a person confirms the address from
// the sign-up mail; later a sign-in from another device is mailed about,
// and "This wasn't me" in that mail signs every device out and stops the
// password.
func TestBrowserVerifyAndLockdownJourney(t *testing.T) {
	site, smtp := newMailingBrowserSite(t)
	b := startBrowser(t, site, "lockdown")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)
	d.wantText("unconfirmed", "main", "This address is not confirmed yet.")
	if !d.attrChecked("#new_device_signin") {
		d.fatalf("the new-device mail is off for a new account")
	}

	verify := smtp.WaitFor(t, journeyEmail, "Confirm your email address", 10*time.Second)
	link, _ := url.Parse(verify.Link(t, "/verify-email"))
	d.open(link.RequestURI())
	d.wantText("verify page", "main h1", "Confirm your email address")
	d.press(`form[action="/verify-email"] button[type="submit"]`)
	d.wantPath("verified", "/settings/security")
	d.wantText("verified", "p.flash", "is confirmed")
	d.wantText("verified", "main", journeyEmail+" (confirmed)")
	d.screenshot("security-page")

	// Moving to another address: a link to the new one, a notice to the old.
	const newEmail = "ada.new@example.com"
	d.press(`a[href="/settings/security/email"]`)
	d.fill("#new_email", newEmail)
	d.screenshot("change-email")
	d.press(`form[action="/settings/security/email"] button[type="submit"]`)
	d.wantPath("change asked", "/settings/security")
	d.wantText("change asked", "p.flash", "We mailed a link to "+newEmail)
	smtp.WaitFor(t, journeyEmail, "A change of your account's email address was asked for", 10*time.Second)
	confirm := smtp.WaitFor(t, newEmail, "Confirm your new email address", 10*time.Second)
	link, _ = url.Parse(confirm.Link(t, "/verify-email"))
	d.open(link.RequestURI())
	d.press(`form[action="/verify-email"] button[type="submit"]`)
	d.wantText("changed", "p.flash", "Your email address "+newEmail+" is confirmed.")
	d.wantText("changed", "header .who", newEmail)
	smtp.WaitFor(t, journeyEmail, "Your account's email address was changed", 10*time.Second)

	other := b.newDevice("device 2")
	other.signIn(newEmail, journeyPassword)
	other.wantPath("device 2 signs in", "/settings/security")

	notice := smtp.WaitFor(t, newEmail, "A new device signed in to your account", 10*time.Second)
	lockdown, _ := url.Parse(notice.Link(t, "/lockdown"))
	d.open(lockdown.RequestURI())
	d.wantText("lockdown page", "main", "Lock down my account")
	d.screenshot("lockdown")
	d.press(`form[action="/lockdown"] button[type="submit"]`)
	d.wantText("locked down", "main", "Your account is locked down.", "Reset my password")
	d.screenshot("locked-down")

	other.open("/settings/security")
	if !strings.HasPrefix(other.path(), "/signin") {
		other.fatalf("device 2 is still signed in: at %s", other.path())
	}
	d.signIn(newEmail, journeyPassword)
	d.wantText("password stopped", "main", "This account was locked down")
}

// attrChecked reports whether the checkbox css selects is checked.
func (d *device) attrChecked(css string) bool {
	d.t.Helper()
	d.mustHave(css)
	return act(d, "read "+css, chromedp.Evaluate[bool](`document.querySelector(`+jsString(css)+`).checked`))
}
