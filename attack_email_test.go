package keyward_test

import (
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
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
