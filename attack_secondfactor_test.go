package keyward_test

import (
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// TestAttackSecondFactorCapRace: an attacker who knows the password fires
// many wrong TOTP codes at once around the cap (the throttle loosened, as a
// slow attacker gets over hours). At most MaxSecondFactorFailures codes may
// be checked, and the right code is refused afterwards until a backup code
// signs in.
func TestAttackSecondFactorCapRace(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SecondFactorRule.Free = 10_000
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	signUp(t, e, "ada@example.com")
	secret, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
	e.Clock.Advance(time.Minute)
	step := signIn(t, e, "ada@example.com", laptop)
	wrong := wrongTOTP(t, secret, e.Clock.Now())

	const n = 140
	var (
		mu      sync.Mutex
		checked int // answered with the ordinary wrong-code message
		other   []error
		wg      sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, wrong, laptop)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case keyward.IsCode(err, keyward.CodeInvalidCode) && keyward.ErrorMessage(err) == "That code is not valid. Check your authenticator app or backup codes and try again.":
				checked++
			case keyward.IsCode(err, keyward.CodeInvalidCode):
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected answers: %v", other)
	}
	if checked >= keyward.MaxSecondFactorFailures {
		t.Errorf("%d of %d parallel wrong codes were checked; want fewer than %d (the cap's own failure says to use a backup code)", checked, n, keyward.MaxSecondFactorFailures)
	}
	right, err := totp.Code(secret, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, right, laptop); !keyward.IsCode(err, keyward.CodeInvalidCode) {
		t.Fatalf("right TOTP code after %d parallel wrong ones: %v, want invalid_code (suspended)", n, err)
	}
	// A new password step does not lift it.
	e.Clock.Advance(time.Minute)
	step = signIn(t, e, "ada@example.com", laptop)
	if !step.TOTPSuspended {
		t.Fatal("the password step does not report the suspension")
	}
	right, _ = totp.Code(secret, e.Clock.Now())
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, right, laptop); !keyward.IsCode(err, keyward.CodeInvalidCode) {
		t.Fatalf("right TOTP after a new password step: %v, want suspended", err)
	}
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], laptop); err != nil {
		t.Fatalf("backup code while suspended: %v", err)
	}
}
