package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// hookStore runs a hook right after a sign-in has read the account, that
// is, after it has the hash it will check but before it opens a session:
// the window a concurrent change has in production.
type hookStore struct {
	keyward.Store
	afterRead func()
}

func (h *hookStore) AccountByEmail(ctx context.Context, email string) (*keyward.Account, error) {
	a, err := h.Store.AccountByEmail(ctx, email)
	if h.afterRead != nil {
		h.afterRead()
		h.afterRead = nil
	}
	return a, err
}

func TestSignInRacingAFactorChangeOpensNoSession(t *testing.T) {
	const next = "violet lanterns drift over harbours"
	tests := []struct {
		name   string
		change func(t *testing.T, owner *keywardtest.Env, me *keyward.SignInResult)
		want   keyward.Code
	}{
		{"password changed", func(t *testing.T, owner *keywardtest.Env, me *keyward.SignInResult) {
			if _, err := owner.Svc.ChangePassword(ctx, me.Session, goodPassword, next, true, laptop); err != nil {
				t.Fatal(err)
			}
		}, keyward.CodeInvalidCredentials},
		{"2fa enabled", func(t *testing.T, owner *keywardtest.Env, me *keyward.SignInResult) {
			enableTOTP(t, owner, me)
		}, keyward.CodeInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := keywardtest.New(t, keywardtest.Options{})
			signUp(t, owner, "ada@example.com")
			me := signIn(t, owner, "ada@example.com", laptop)
			hook := &hookStore{Store: owner.Store}
			attacker := keywardtest.New(t, keywardtest.Options{Store: hook, Clock: owner.Clock, Keys: owner.Keys})
			hook.afterRead = func() { tt.change(t, owner, me) }

			res, err := attacker.Svc.SignIn(ctx, "ada@example.com", goodPassword, phone)
			wantCode(t, err, tt.want)
			if res != nil {
				t.Fatalf("a session was opened with credentials that changed meanwhile: %+v", res.Session)
			}
			list, _ := owner.Svc.Sessions(ctx, me.Account.ID)
			if len(list) != 1 || list[0].ID != me.Session.ID {
				t.Fatalf("sessions after the race = %d, want only the owner's", len(list))
			}
		})
	}
}

func TestPasswordChangeEndsWaitingSecondSteps(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	secret, _ := enableTOTP(t, e, me)
	waiting := signIn(t, e, "ada@example.com", phone) // an attacker who knows the old password
	if _, err := e.Svc.ChangePassword(ctx, me.Session, goodPassword, "violet lanterns drift over harbours", true, laptop); err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(secret, e.Clock.Now().Add(totp.Period))
	_, err := e.Svc.CompleteSignIn(ctx, waiting.MFAToken, code, phone)
	wantCode(t, err, keyward.CodeMFATokenExpired)
}

func TestFactorChangesNeedASecondFactorSession(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	enableTOTP(t, e, me)
	weak := *me.Session
	weak.AAL = 1 // a session that never proved the second factor
	_, err := e.Svc.RegenerateBackupCodes(ctx, &weak, goodPassword, laptop)
	wantCode(t, err, keyward.CodeReauthRequired)
	wantCode(t, e.Svc.DisableTOTP(ctx, &weak, goodPassword, laptop), keyward.CodeReauthRequired)
}

// Requests in flight together are counted before the slow check, so a
// burst gets no more guesses than the rule's free ones.
func TestThrottleHoldsAgainstABurst(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	const burst = 40
	var wg sync.WaitGroup
	results := make(chan error, burst)
	start := make(chan struct{})
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.Svc.SignIn(ctx, "ada@example.com", "a guess at the password", phone)
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	checked := 0
	for err := range results {
		switch {
		case keyward.IsCode(err, keyward.CodeInvalidCredentials):
			checked++
		case keyward.IsCode(err, keyward.CodeTooManyAttempts):
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	free := keyward.DefaultConfig().SignInThrottle.Free
	if checked > free+1 {
		t.Fatalf("%d of %d guesses in one burst were checked, want at most %d", checked, burst, free+1)
	}
	t.Logf("%d of %d guesses in a burst were checked", checked, burst)
}

// An attacker who keeps failing slowly from one address never keeps the
// owner, at another address, out for longer than the looser rule's cap.
func TestSlowAttackerDoesNotLockTheOwnerOut(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	attacker := keyward.Client{IP: "192.0.2.66", UserAgent: "guesser"}
	for range 60 {
		e.Clock.Advance(time.Minute)
		_, err := e.Svc.SignIn(ctx, "ada@example.com", "one guess a minute", attacker)
		if !keyward.IsCode(err, keyward.CodeInvalidCredentials) && !keyward.IsCode(err, keyward.CodeTooManyAttempts) {
			t.Fatal(err)
		}
	}
	_, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	var ke *keyward.Error
	if err != nil {
		if !errors.As(err, &ke) || ke.Code != keyward.CodeTooManyAttempts {
			t.Fatal(err)
		}
		if max := keyward.DefaultConfig().AccountThrottle.Max; ke.RetryAfter > max {
			t.Fatalf("owner told to wait %v, more than %v", ke.RetryAfter, max)
		}
		e.Clock.Advance(ke.RetryAfter)
		signIn(t, e, "ada@example.com", laptop)
	}
}

func TestSignUpIsThrottledPerAddress(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	rule := keyward.DefaultConfig().SignupThrottle
	prober := keyward.Client{IP: "192.0.2.77"}
	var last error
	for i := range rule.Free + 2 {
		_, last = e.Svc.SignUp(ctx, fmt.Sprintf("user%d@example.com", i), goodPassword, prober)
		if keyward.IsCode(last, keyward.CodeTooManyAttempts) {
			break
		}
	}
	wantCode(t, last, keyward.CodeTooManyAttempts)
	if _, err := e.Svc.SignUp(ctx, "someone.else@example.com", goodPassword, laptop); err != nil {
		t.Fatalf("another address must not be slowed: %v", err)
	}
}

// A session used on node B stays alive on node A, whose cached copy has an
// old last-seen time: touches are no invalidations.
func TestSessionUsedOnAnotherNodeIsNotIdleHere(t *testing.T) {
	a := keywardtest.New(t, keywardtest.Options{})
	b := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: a.Keys})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Svc.RunCacheWatcher(runCtx)
	waitForCache(t, a)
	signUp(t, a, "ada@example.com")
	me := signIn(t, a, "ada@example.com", laptop)
	if _, _, err := a.Svc.Authenticate(ctx, me.Token); err != nil { // now in A's cache
		t.Fatal(err)
	}
	for range 4 {
		a.Clock.Advance(10 * time.Minute)
		if _, _, err := b.Svc.Authenticate(ctx, me.Token); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.Svc.Authenticate(ctx, me.Token); err != nil {
		t.Fatalf("node A called a session idle that node B used 0 minutes ago: %v", err)
	}
}
