package keyward_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// wrongTOTP is a six-digit code that no step near now accepts.
func wrongTOTP(t testing.TB, secret string, now time.Time) string {
	t.Helper()
	near := map[string]bool{}
	for _, d := range []time.Duration{-totp.Period, 0, totp.Period} {
		c, err := totp.Code(secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !near[c] {
			return c
		}
	}
}

// secondStep signs in with the password after the throttle's longest wait,
// then tries code (a func of the time) at the second step.
func secondStep(t testing.TB, e *keywardtest.Env, code func(now time.Time) string) (*keyward.SignInResult, *keyward.SignInResult, error) {
	t.Helper()
	e.Clock.Advance(keyward.DefaultConfig().SecondFactorRule.Max)
	step := signIn(t, e, "ada@example.com", laptop)
	if !step.MFARequired() {
		t.Fatal("no second step asked")
	}
	res, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code(e.Clock.Now()), laptop)
	return step, res, err
}

// TestSecondFactorCap: after MaxSecondFactorFailures consecutive wrong
// codes, TOTP codes are refused unchecked (even the right one), for good
// and not only for a while, until a backup code signs in; the password
// step still works and says so; a success before the cap resets the count.
func TestSecondFactorCap(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	secret, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
	wrong := func(now time.Time) string { return wrongTOTP(t, secret, now) }
	right := func(now time.Time) string { c, _ := totp.Code(secret, now); return c }

	fail := func(n int) {
		t.Helper()
		for i := range n {
			_, _, err := secondStep(t, e, wrong)
			wantCode(t, err, keyward.CodeInvalidCode)
			_ = i
		}
	}
	// A success before the cap starts the count again.
	fail(keyward.MaxSecondFactorFailures - 1)
	if _, _, err := secondStep(t, e, right); err != nil {
		t.Fatalf("right code after %d wrong ones: %v", keyward.MaxSecondFactorFailures-1, err)
	}
	fail(keyward.MaxSecondFactorFailures - 1)
	step, _, err := secondStep(t, e, wrong) // the cap's failure
	wantCode(t, err, keyward.CodeInvalidCode)
	if !strings.Contains(keyward.ErrorMessage(err), "backup code") {
		t.Errorf("the failure at the cap says %q, want it to point to backup codes", keyward.ErrorMessage(err))
	}
	_ = step

	// Not forgotten by time: a month later the right code is still refused
	// without being checked, and the password step says only a backup code
	// will do.
	e.Clock.Advance(30 * 24 * time.Hour)
	step, _, err = secondStep(t, e, right)
	if !step.TOTPSuspended {
		t.Error("the password step does not report that TOTP is suspended")
	}
	wantCode(t, err, keyward.CodeInvalidCode)
	if !strings.Contains(keyward.ErrorMessage(err), "backup code") {
		t.Errorf("a refused TOTP says %q, want it to point to backup codes", keyward.ErrorMessage(err))
	}

	// A backup code still works, and brings TOTP back.
	_, res, err := secondStep(t, e, func(time.Time) string { return codes[0] })
	if err != nil || !res.UsedBackupCode {
		t.Fatalf("backup code while TOTP is suspended: %+v, %v", res, err)
	}
	step, _, err = secondStep(t, e, right)
	if err != nil || step.TOTPSuspended {
		t.Fatalf("right TOTP code after the backup code: suspended %v, %v", step.TOTPSuspended, err)
	}

	// The log: the suspension recorded once, each refused TOTP with its reason.
	var suspended, refused int
	err = e.Svc.OperatorEvents(ctx, a.ID, keyward.EventQuery{}, func(ev *keyward.Event) error {
		switch {
		case ev.Type == audit.SigninThrottled && ev.Reason == audit.ReasonTOTPSuspended:
			suspended++
		case ev.Type == audit.SigninMFAFailed && ev.Reason == audit.ReasonTOTPSuspended:
			refused++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if suspended != 1 || refused != 1 {
		t.Fatalf("log has %d suspensions and %d TOTP codes refused unchecked, want 1 and 1", suspended, refused)
	}
}
