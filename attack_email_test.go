package keyward_test

import (
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
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
