package keyward_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/password"
)

// TestPasswordChecksPerAddressAreBounded: a burst from one address may hold
// only so many password checks; the rest are refused at once instead of
// queueing for the hashing slots ahead of the owner signing in elsewhere.
func TestPasswordChecksPerAddressAreBounded(t *testing.T) {
	const attacker, owner = "192.0.2.1", "198.51.100.2"
	hasher := password.NewHasher(keywardtest.FastParams(), 1, 10*time.Second) // one slot
	cfg := keyward.DefaultConfig()
	cfg.PasswordChecksPerAddress = 2
	env := keywardtest.New(t, keywardtest.Options{Config: cfg, Hasher: hasher})
	ctx := t.Context()
	if _, err := env.Svc.SignUp(ctx, "ada@example.com", "correct horse battery staple", keyward.Client{IP: owner}); err != nil {
		t.Fatal(err)
	}

	// Hold the only hashing slot, so that checks that get in stay in flight.
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = hasher.Bounded(context.Background(), func() { close(held); <-release })
	}()
	<-held
	var wg sync.WaitGroup
	results := make(chan error, 3)
	for _, email := range []string{"x1@example.com", "x2@example.com"} {
		wg.Go(func() {
			_, err := env.Svc.SignIn(ctx, email, "wrong password 1", keyward.Client{IP: attacker})
			results <- err
		})
	}
	for deadline := time.Now().Add(5 * time.Second); env.Svc.PasswordChecksInFlight(attacker) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks in flight, want 2", env.Svc.PasswordChecksInFlight(attacker))
		}
	}

	// The attacker's third sign-in and a sign-up are refused without waiting.
	for name, try := range map[string]func() error{
		"sign-in": func() error {
			_, err := env.Svc.SignIn(ctx, "x3@example.com", "wrong password 1", keyward.Client{IP: attacker})
			return err
		},
		"sign-up": func() error {
			_, err := env.Svc.SignUp(ctx, "x4@example.com", "another fine passphrase", keyward.Client{IP: attacker})
			return err
		},
	} {
		start := time.Now()
		err := try()
		var kerr *keyward.Error
		if !keyward.IsCode(err, keyward.CodeTooManyAttempts) || !errors.As(err, &kerr) || kerr.RetryAfter < time.Second {
			t.Fatalf("%s beyond the bound = %v, want 429 with a Retry-After", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s beyond the bound took %v: it waited for a hashing slot", name, d)
		}
	}

	// The owner, from another address, gets in line for the slot.
	wg.Go(func() {
		_, err := env.Svc.SignIn(ctx, "ada@example.com", "correct horse battery staple", keyward.Client{IP: owner})
		results <- err
	})
	for deadline := time.Now().Add(5 * time.Second); env.Svc.PasswordChecksInFlight(owner) < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the owner's sign-in never started")
		}
	}
	close(release)
	wg.Wait()
	close(results)
	var ok, wrong int
	for err := range results {
		switch {
		case err == nil:
			ok++
		case keyward.IsCode(err, keyward.CodeInvalidCredentials):
			wrong++
		default:
			t.Errorf("unexpected answer %v", err)
		}
	}
	if ok != 1 || wrong != 2 {
		t.Fatalf("%d signed in and %d refused as wrong, want the owner in and the two checks answered", ok, wrong)
	}
	if n := env.Svc.PasswordChecksInFlight(attacker); n != 0 {
		t.Fatalf("%d checks still counted in flight after they ended", n)
	}
	if _, err := env.Svc.SignIn(ctx, "x6@example.com", "wrong password 1", keyward.Client{IP: attacker}); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
		t.Fatalf("a sign-in after the burst = %v, want it checked again", err)
	}
}
