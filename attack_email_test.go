package keyward_test

import (
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// Attacks on the mailed links (reset, verify, lockdown) from outside.

// TestTokenGuessesNotClearedByALiveLink: an attacker who holds one live
// reset link (asked for his own account) and uses it with a weak password
// between guesses must not wipe his address's count of wrong tokens.
func TestTokenGuessesNotClearedByALiveLink(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "mallory@example.com")
	own := resetLink(t, e, "mallory@example.com")
	guess := "kwr_" + strings.Repeat("A", 43)
	limited := false
	for i := range 40 {
		if i%5 == 4 {
			_, err := e.Svc.ResetPassword(ctx, own, "short", "", laptop)
			if code := keyward.ErrorCode(err); code != keyward.CodePasswordTooShort && code != keyward.CodeTooManyAttempts {
				t.Fatalf("own live link %d: %v", i, err)
			}
			continue
		}
		_, err := e.Svc.ResetPassword(ctx, guess, "a completely new passphrase 42", "", laptop)
		if keyward.ErrorCode(err) == keyward.CodeTooManyAttempts {
			limited = true
			break
		}
		wantCode(t, err, keyward.CodeInvalidToken)
	}
	if !limited {
		t.Error("32 wrong tokens from one address, each few followed by a live link, were never throttled (10 are free)")
	}
}

// TestResetWrongBackupCodeRecorded: a wrong backup code at a reset is
// recorded like a wrong TOTP code (and like at sign-in): someone holding
// the reset link (a taken-over mailbox) trying backup codes leaves a
// trace in the account's log.
func TestResetWrongBackupCodeRecorded(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	_, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
	deliver(t, e)
	token := resetLink(t, e, "ada@example.com")
	before := count(eventTypes(t, e, a.ID), audit.SigninMFAFailed)
	wrong := []byte(codes[0])
	for i, c := range wrong { // another well-formed code
		if c >= 'a' && c <= 'z' && c != 'z' {
			wrong[i]++
			break
		}
		if c >= '2' && c <= '8' {
			wrong[i]++
			break
		}
	}
	_, err := e.Svc.ResetPassword(ctx, token, "a completely new passphrase 42", string(wrong), laptop)
	wantCode(t, err, keyward.CodeInvalidCode)
	if got := count(eventTypes(t, e, a.ID), audit.SigninMFAFailed) - before; got != 1 {
		t.Errorf("a wrong backup code at a reset left %d signin.mfa_failed events, want 1", got)
	}
	// The link still works with a right code.
	if _, err := e.Svc.ResetPassword(ctx, token, "a completely new passphrase 42", codes[1], laptop); err != nil {
		t.Fatalf("reset with a right backup code after a wrong one: %v", err)
	}
}

// TestPasswordResetCancelsAPendingEmailChange: an intruder with a session
// and the password asks to move the account to his address; the owner,
// warned by the notice, resets the password (or changes it, signing out
// the others) instead of pressing "This wasn't me". The intruder's
// confirmation link, asked with the old password, must die with it, or it
// moves the account to him afterwards and the next reset is his.
func TestPasswordResetCancelsAPendingEmailChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure func(t *testing.T, e *keywardtest.Env)
	}{
		{"reset by mail", func(t *testing.T, e *keywardtest.Env) {
			token := resetLink(t, e, "ada@example.com")
			if _, err := e.Svc.ResetPassword(ctx, token, "a completely new passphrase 42", "", laptop); err != nil {
				t.Fatal(err)
			}
		}},
		{"change, signing out the others", func(t *testing.T, e *keywardtest.Env) {
			owner := signIn(t, e, "ada@example.com", laptop)
			if _, err := e.Svc.ChangePassword(ctx, owner.Session, goodPassword, "a completely new passphrase 42", true, laptop); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
			a := signUp(t, e, "ada@example.com")
			intruder := signIn(t, e, "ada@example.com", phone)
			if err := e.Svc.RequestEmailChange(ctx, intruder.Session, "mallory@example.net", goodPassword, phone); err != nil {
				t.Fatal(err)
			}
			confirm := only(deliver(t, e), keyward.MailConfirmChange, "")
			if len(confirm) != 1 {
				t.Fatalf("confirmation mails: %+v", confirm)
			}
			tc.secure(t, e)
			_, err := e.Svc.VerifyEmail(ctx, confirm[0].Token, phone)
			wantCode(t, err, keyward.CodeInvalidToken)
			got, _ := e.Store.AccountByID(ctx, a.ID)
			if got.Email != "ada@example.com" {
				t.Errorf("the account moved to %q after the owner secured it", got.Email)
			}
		})
	}
}

// TestResetPageGuessesThrottled: the reset page's GET tells a live link
// from a dead one; it must count wrong tokens like the form does, or it
// is a guessing oracle without a limit.
func TestResetPageGuessesThrottled(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	guess := "kwr_" + strings.Repeat("A", 43)
	var err error
	for range 30 {
		if _, err = e.Svc.ResetNeedsCode(ctx, guess, laptop); keyward.ErrorCode(err) != keyward.CodeInvalidToken {
			break
		}
	}
	wantCode(t, err, keyward.CodeTooManyAttempts)
	_, err = e.Svc.ResetPassword(ctx, guess, "a completely new passphrase 42", "", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	// A live link from another address still reads, and counts nothing.
	token := resetLink(t, e, "ada@example.com")
	for range 20 {
		if _, err := e.Svc.ResetNeedsCode(ctx, token, phone); err != nil {
			t.Fatalf("a live link read from another address: %v", err)
		}
	}
}

// TestSignUpOpensNoSessionBeforeVerification: with RequireVerifiedEmail,
// sign-up's own session is a sign-in too. Without this, anyone signs up
// as victim@example.com (an address he cannot read) and is signed in at
// once, and forward auth hands applications X-Keyward-Email of an address
// nobody proved.
func TestSignUpOpensNoSessionBeforeVerification(t *testing.T) {
	cfg := fastForgot()
	cfg.RequireVerifiedEmail = true
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	res, err := e.Svc.SignUpAndSignIn(ctx, "victim@example.com", goodPassword, phone)
	wantCode(t, err, keyward.CodeEmailNotVerified)
	if res != nil {
		t.Fatalf("sign-up opened a session for an unverified address: %+v", res.Session)
	}
	// The account exists, and its owner got the link.
	verify := only(deliver(t, e), keyward.MailVerifyEmail, "")
	if len(verify) != 1 || verify[0].To != "victim@example.com" {
		t.Fatalf("verification mails: %+v", verify)
	}
	if _, err := e.Svc.VerifyEmail(ctx, verify[0].Token, laptop); err != nil {
		t.Fatal(err)
	}
	signIn(t, e, "victim@example.com", laptop)
}

// TestResetRefusesCodesUsedAtSignIn: a TOTP code or backup code someone
// watched being typed at a sign-in does not pass a reset afterwards.
func TestResetRefusesCodesUsedAtSignIn(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	secret, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
	e.Clock.Advance(time.Minute)
	code, _ := totp.Code(secret, e.Clock.Now())
	step := signIn(t, e, "ada@example.com", laptop)
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop); err != nil {
		t.Fatal(err)
	}
	step = signIn(t, e, "ada@example.com", laptop)
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], laptop); err != nil {
		t.Fatal(err)
	}
	deliver(t, e)
	token := resetLink(t, e, "ada@example.com")
	for _, used := range []string{code, codes[0]} {
		_, err := e.Svc.ResetPassword(ctx, token, "a completely new passphrase 42", used, phone)
		wantCode(t, err, keyward.CodeInvalidCode)
	}
}

// TestMailsCarryNoTextOfTheRequester: anyone can make keyward mail any
// account holder (forgot password). The device named in the mail comes
// from the requester's User-Agent, and for an agent the parser does not
// know it is the agent's own words: the product's trusted mail would
// carry a stranger's text ("call this number"). Only known names go in.
func TestMailsCarryNoTextOfTheRequester(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	deliver(t, e)
	stranger := keyward.Client{IP: "192.0.2.66", UserAgent: "Account suspended - call +1 555 0100 now"}
	if err := e.Svc.ForgotPassword(ctx, "ada@example.com", stranger); err != nil {
		t.Fatal(err)
	}
	mails := only(deliver(t, e), keyward.MailPasswordReset, "")
	if len(mails) != 1 {
		t.Fatalf("reset mails: %+v", mails)
	}
	if d := mails[0].Device; strings.Contains(d, "555") || strings.Contains(d, "suspended") {
		t.Errorf("the mail names the device %q: the requester's own words", d)
	}
	// A real browser is still named.
	if err := e.Svc.ForgotPassword(ctx, "ada@example.com", laptop); err != nil {
		t.Fatal(err)
	}
	if got := only(deliver(t, e), keyward.MailPasswordReset, ""); len(got) != 1 || got[0].Device != "Chrome on Windows" {
		t.Errorf("a known browser's mail names %+v, want Chrome on Windows", got)
	}
}

// TestEmailChangeRequestsThrottled: each request mails a link to an
// address of the requester's choosing. Unbounded, one account makes
// keyward mail anyone, as often as it likes (measured: 30 requests, 30
// mails to the victim's address). Counted like "forgot password": per
// account and per address mailed.
func TestEmailChangeRequestsThrottled(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "mallory@example.com")
	me := signIn(t, e, "mallory@example.com", laptop)
	var err error
	sent := 0
	for i := range 10 {
		if err = e.Svc.RequestEmailChange(ctx, me.Session, "victim@example.org", goodPassword, laptop); err != nil {
			break
		}
		sent = i + 1
	}
	wantCode(t, err, keyward.CodeTooManyAttempts)
	if sent > 4 {
		t.Errorf("%d change requests to one address passed, want at most 4", sent)
	}
	// Other addresses from the same account wait too.
	wantCode(t, e.Svc.RequestEmailChange(ctx, me.Session, "someone.else@example.org", goodPassword, laptop), keyward.CodeTooManyAttempts)
	// And other accounts asking for the same address.
	signUp(t, e, "eve@example.com")
	eve := signIn(t, e, "eve@example.com", phone)
	wantCode(t, e.Svc.RequestEmailChange(ctx, eve.Session, "victim@example.org", goodPassword, phone), keyward.CodeTooManyAttempts)
}

// TestEmailChangeRacingTheOwner: the intruder's change request passed its
// password check; before it writes its link, the owner resets the
// password or locks the account down (both cancel pending changes). The
// link must not come out of the race alive.
func TestEmailChangeRacingTheOwner(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure func(t *testing.T, e *keywardtest.Env, reset, lockdown string)
	}{
		{"reset", func(t *testing.T, e *keywardtest.Env, reset, _ string) {
			if _, err := e.Svc.ResetPassword(ctx, reset, "a completely new passphrase 42", "", laptop); err != nil {
				t.Error(err)
			}
		}},
		{"lockdown", func(t *testing.T, e *keywardtest.Env, _, lockdown string) {
			if _, err := e.Svc.Lockdown(ctx, lockdown, laptop); err != nil {
				t.Error(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := &hookStore{Store: keywardtest.NewStore(t)}
			e := keywardtest.New(t, keywardtest.Options{Store: hs, Config: fastForgot()})
			a := signUp(t, e, "ada@example.com")
			intruder := signIn(t, e, "ada@example.com", phone)
			lockdown := only(deliver(t, e), keyward.MailNotice, keyward.NoticeNewDevice)
			if len(lockdown) != 1 {
				t.Fatalf("new-device notices: %+v", lockdown)
			}
			reset := resetLink(t, e, "ada@example.com")
			// RequestEmailChange looks the new address up after the password
			// check and before its transaction (hookStore: race_test.go).
			hs.afterRead = func() { tc.secure(t, e, reset, lockdown[0].LockdownToken) }
			_ = e.Svc.RequestEmailChange(ctx, intruder.Session, "mallory@example.net", goodPassword, phone)
			for _, m := range only(deliver(t, e), keyward.MailConfirmChange, "") {
				if _, err := e.Svc.VerifyEmail(ctx, m.Token, phone); err == nil {
					t.Error("the intruder's change link, written after the owner secured the account, worked")
				}
			}
			if got, _ := e.Store.AccountByID(ctx, a.ID); got.Email != "ada@example.com" {
				t.Errorf("the account moved to %q", got.Email)
			}
		})
	}
}

// TestForgotPasswordRacingAnEmailChange: a reset link asked for the old
// address while the account moves to a new one must not be written after
// the move (which ends the old address's links): it would let whoever
// holds the old address reset the account that left it.
func TestForgotPasswordRacingAnEmailChange(t *testing.T) {
	hs := &hookStore{Store: keywardtest.NewStore(t)}
	e := keywardtest.New(t, keywardtest.Options{Store: hs, Config: fastForgot()})
	a := signUp(t, e, "old@example.com")
	me := signIn(t, e, "old@example.com", laptop)
	if err := e.Svc.RequestEmailChange(ctx, me.Session, "new@example.com", goodPassword, laptop); err != nil {
		t.Fatal(err)
	}
	confirm := only(deliver(t, e), keyward.MailConfirmChange, "")
	if len(confirm) != 1 {
		t.Fatalf("confirmation mails: %+v", confirm)
	}
	// ForgotPassword has found the account at its old address; the move
	// commits before it writes the link.
	hs.afterRead = func() {
		if _, err := e.Svc.VerifyEmail(ctx, confirm[0].Token, laptop); err != nil {
			t.Error(err)
		}
	}
	if err := e.Svc.ForgotPassword(ctx, "old@example.com", phone); err != nil {
		t.Fatal(err)
	}
	resets := only(deliver(t, e), keyward.MailPasswordReset, "")
	for _, m := range resets {
		_, err := e.Svc.ResetPassword(ctx, m.Token, "violet lanterns drift over harbours", "", phone)
		if err == nil {
			t.Errorf("a reset link mailed to %s reset the account now at new@example.com", m.To)
		}
	}
	if got, _ := e.Store.AccountByID(ctx, a.ID); got.Email != "new@example.com" {
		t.Fatalf("account at %q", got.Email)
	}
}
