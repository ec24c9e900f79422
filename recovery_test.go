package keyward_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// mailbox collects what the worker sends.
type mailbox struct {
	mu    sync.Mutex
	mails []*keyward.MailContent
	ids   []string
}

func (m *mailbox) SendMail(_ context.Context, id string, c *keyward.MailContent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails, m.ids = append(m.mails, c), append(m.ids, id)
	return nil
}

// deliver sends every due mail to a new mailbox and returns its mails.
func deliver(t testing.TB, e *keywardtest.Env) []*keyward.MailContent {
	t.Helper()
	box := &mailbox{}
	for {
		n, err := e.Svc.SendDueMails(ctx, keyward.MailWorker{Sender: box})
		if err != nil {
			t.Fatalf("SendDueMails: %v", err)
		}
		if n == 0 {
			return box.mails
		}
	}
}

// only returns the mails of kind (and, for notices, of event).
func only(mails []*keyward.MailContent, kind keyward.MailKind, event string) []*keyward.MailContent {
	var out []*keyward.MailContent
	for _, m := range mails {
		if m.Kind == kind && (event == "" || m.Event == event) {
			out = append(out, m)
		}
	}
	return out
}

func resetLink(t testing.TB, e *keywardtest.Env, email string) string {
	t.Helper()
	if err := e.Svc.ForgotPassword(ctx, email, laptop); err != nil {
		t.Fatalf("ForgotPassword(%q): %v", email, err)
	}
	got := only(deliver(t, e), keyward.MailPasswordReset, "")
	if len(got) != 1 || !strings.EqualFold(got[0].To, email) || got[0].Token == "" {
		t.Fatalf("reset mails: %+v", got)
	}
	return got[0].Token
}

func fastForgot() keyward.Config {
	cfg := keyward.DefaultConfig()
	cfg.ForgotPasswordTime = -1 // tests of the rules, not of the timing
	return cfg
}

func eventTypes(t testing.TB, e *keywardtest.Env, chain string) []audit.Type {
	t.Helper()
	evs, err := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: chain})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Type
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	slices.Reverse(out)
	return out
}

func TestForgotAndResetPassword(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	one, two := signIn(t, e, "ada@example.com", laptop), signIn(t, e, "ada@example.com", phone)
	deliver(t, e)

	token := resetLink(t, e, "ADA@example.com")
	const newPassword = "a completely new passphrase 42"
	wantCode(t, func() error { _, err := e.Svc.ResetPassword(ctx, token, "short", "", laptop); return err }(), keyward.CodePasswordTooShort)
	revoked, err := e.Svc.ResetPassword(ctx, token, newPassword, "", phone)
	if err != nil || revoked != 2 {
		t.Fatalf("ResetPassword = %d, %v; want 2 sessions ended", revoked, err)
	}
	for _, s := range []*keyward.SignInResult{one, two} {
		if _, _, err := e.Svc.Authenticate(ctx, s.Token); err == nil {
			t.Error("a session survived the reset")
		}
	}
	_, err = e.Svc.ResetPassword(ctx, token, "yet another passphrase 43", "", phone)
	wantCode(t, err, keyward.CodeInvalidToken)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)
	if _, err := e.Svc.SignIn(ctx, "ada@example.com", newPassword, laptop); err != nil {
		t.Fatalf("sign-in with the new password: %v", err)
	}
	got, _ := e.Store.AccountByID(ctx, a.ID)
	if !got.EmailVerified() {
		t.Error("following the reset link did not verify the address")
	}
	notices := only(deliver(t, e), keyward.MailNotice, "password.reset")
	if len(notices) != 1 || notices[0].LockdownToken == "" || notices[0].Device == "" || notices[0].IP != phone.IP {
		t.Errorf("password.reset notices: %+v", notices)
	}
	types := eventTypes(t, e, a.ID)
	for _, want := range []audit.Type{audit.PasswordResetRequested, audit.PasswordReset, audit.SessionRevoked} {
		if !slices.Contains(types, want) {
			t.Errorf("the log lacks %s: %v", want, types)
		}
	}
	// The used token: one failure recorded, in the account's log? No: a
	// consumed token is unknown, so in the system log.
	sys := eventTypes(t, e, audit.SystemChain)
	if n := count(sys, audit.PasswordReset); n != 1 {
		t.Errorf("system log has %d password.reset failures, want 1: %v", n, sys)
	}
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestForgotUnknownEmail: no mail, the same answer, a digest in the system log.
func TestForgotUnknownEmail(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	if err := e.Svc.ForgotPassword(ctx, "nobody@example.com", laptop); err != nil {
		t.Fatalf("ForgotPassword: %v", err)
	}
	if mails := deliver(t, e); len(mails) != 0 {
		t.Errorf("mails for an unknown email: %+v", mails)
	}
	evs, _ := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: audit.SystemChain})
	if len(evs) != 1 || evs[0].Type != audit.PasswordResetRequested || evs[0].Details[audit.DetailEmailDigest] == "" {
		t.Fatalf("system log: %+v", evs)
	}
	for _, v := range evs[0].Details {
		if v == "nobody@example.com" {
			t.Error("the system log holds the email in the clear")
		}
	}
}

func TestResetTokenRefused(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	token := resetLink(t, e, "ada@example.com")
	newer := resetLink(t, e, "ada@example.com")
	cases := []struct {
		name, token string
		advance     time.Duration
	}{
		{"garbage", "not a token", 0},
		{"another kind", "kws_" + token[4:], 0},
		{"replaced by a newer link", token, 0},
		{"expired", newer, 30 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.Clock.Advance(c.advance)
			_, err := e.Svc.ResetPassword(ctx, c.token, "a completely new passphrase 42", "", laptop)
			wantCode(t, err, keyward.CodeInvalidToken)
		})
	}
	if _, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop); err != nil {
		t.Errorf("the password changed: %v", err)
	}
	if n := count(eventTypes(t, e, a.ID), audit.PasswordReset); n != 1 {
		t.Errorf("account log has %d password.reset failures, want 1 (the expired link)", n)
	}
}

// TestResetAsksForTheSecondFactor: a reset never bypasses 2FA, and wrong
// codes count in the sign-in's second-factor throttle.
func TestResetAsksForTheSecondFactor(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	secret, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
	deliver(t, e)
	e.Clock.Advance(time.Minute)
	token := resetLink(t, e, "ada@example.com")
	const newPassword = "a completely new passphrase 42"

	_, err := e.Svc.ResetPassword(ctx, token, newPassword, "", laptop)
	wantCode(t, err, keyward.CodeMFARequired)
	for i := range 6 {
		_, err = e.Svc.ResetPassword(ctx, token, newPassword, "000000", laptop)
		if keyward.ErrorCode(err) != keyward.CodeInvalidCode {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	// Past the rule's free failures the next code waits, as at sign-in;
	// a sign-in's second step now waits too.
	_, err = e.Svc.ResetPassword(ctx, token, newPassword, "000000", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	res := signIn(t, e, "ada@example.com", laptop)
	_, err = e.Svc.CompleteSignIn(ctx, res.MFAToken, "000000", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)

	e.Clock.Advance(2 * time.Second)
	code, _ := totp.Code(secret, e.Clock.Now())
	if _, err := e.Svc.ResetPassword(ctx, token, newPassword, code, laptop); err != nil {
		t.Fatalf("reset with the right code: %v", err)
	}
	// The code's step is used up: it cannot sign in afterwards.
	res, err = e.Svc.SignIn(ctx, "ada@example.com", newPassword, laptop)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.CompleteSignIn(ctx, res.MFAToken, code, laptop)
	wantCode(t, err, keyward.CodeInvalidCode)

	t.Run("backup code", func(t *testing.T) {
		e.Clock.Advance(time.Hour)
		token := resetLink(t, e, "ada@example.com")
		if _, err := e.Svc.ResetPassword(ctx, token, "a third passphrase, quite long 44", codes[0], laptop); err != nil {
			t.Fatalf("reset with a backup code: %v", err)
		}
		res, err := e.Svc.SignIn(ctx, "ada@example.com", "a third passphrase, quite long 44", laptop)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.CompleteSignIn(ctx, res.MFAToken, codes[0], laptop)
		wantCode(t, err, keyward.CodeInvalidCode)
	})
}

func TestForgotPasswordThrottled(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	// 3 free, and a fourth that starts the wait.
	for i := range 4 {
		if err := e.Svc.ForgotPassword(ctx, "ada@example.com", keyward.Client{IP: "192.0.2." + string(rune('1'+i))}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// The fifth for this email, from anywhere, waits; an unknown email
	// answers alike.
	wantCode(t, e.Svc.ForgotPassword(ctx, "ada@example.com", keyward.Client{IP: "192.0.2.9"}), keyward.CodeTooManyAttempts)
	for range 4 {
		_ = e.Svc.ForgotPassword(ctx, "nobody@example.com", laptop)
	}
	wantCode(t, e.Svc.ForgotPassword(ctx, "nobody@example.com", phone), keyward.CodeTooManyAttempts)
	if n := len(only(deliver(t, e), keyward.MailPasswordReset, "")); n != 4 {
		t.Errorf("%d reset mails, want 4", n)
	}
}

// TestForgotPasswordTakesTheSameTime measures known and unknown emails
// interleaved, with the default floor.
func TestForgotPasswordTakesTheSameTime(t *testing.T) {
	if testing.Short() {
		t.Skip("measures")
	}
	cfg := keyward.DefaultConfig()
	cfg.ForgotEmailThrottle = keyward.ThrottleRule{Free: 1000, Base: time.Second, Max: time.Second, Forget: time.Hour}
	cfg.ForgotAddressThrottle = cfg.ForgotEmailThrottle
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	signUp(t, e, "ada@example.com")
	const rounds = 10
	var known, unknown []time.Duration
	for range rounds {
		for _, email := range []string{"ada@example.com", "nobody@example.com"} {
			start := time.Now()
			if err := e.Svc.ForgotPassword(ctx, email, laptop); err != nil {
				t.Fatal(err)
			}
			d := time.Since(start)
			if email == "ada@example.com" {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	mk, mu := median(known), median(unknown)
	t.Logf("forgot password, median of %d: known %s, unknown %s", rounds, mk, mu)
	if diff := (mk - mu).Abs(); diff > 10*time.Millisecond {
		t.Errorf("known and unknown emails differ by %s (known %s, unknown %s)", diff, mk, mu)
	}
	if mk < cfg.ForgotPasswordTime || mu < cfg.ForgotPasswordTime {
		t.Errorf("answered under the floor %s: known %s, unknown %s", cfg.ForgotPasswordTime, mk, mu)
	}
}

// TestTokenGuessesThrottled: wrong link tokens are counted per client
// address; what a person does with a live link is not.
func TestTokenGuessesThrottled(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	token := resetLink(t, e, "ada@example.com")
	for i := range 15 {
		_, err := e.Svc.ResetPassword(ctx, token, "short", "", laptop)
		if keyward.ErrorCode(err) != keyward.CodePasswordTooShort {
			t.Fatalf("weak password %d with a live link: %v", i, err)
		}
	}
	guess := "kwr_" + strings.Repeat("A", 43)
	for i := range 11 {
		_, err := e.Svc.ResetPassword(ctx, guess, "a completely new passphrase 42", "", laptop)
		if keyward.ErrorCode(err) != keyward.CodeInvalidToken {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err := e.Svc.ResetPassword(ctx, guess, "a completely new passphrase 42", "", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	// Another address is not slowed.
	_, err = e.Svc.ResetPassword(ctx, guess, "a completely new passphrase 42", "", phone)
	wantCode(t, err, keyward.CodeInvalidToken)
}
