package keyward_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/password"
)

// holdHashing takes the only slot of hasher until the test ends: a call that
// needs a hash can then only answer unavailable.
func holdHashing(t testing.TB, hasher *password.Hasher) {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hasher.Bounded(context.Background(), func() { close(held); <-release })
	}()
	<-held
	t.Cleanup(func() { close(release); <-done })
}

// TestOverLongPasswordsAreRefusedUnhashed: a password over the policy's
// byte bound (4 × 1024) is refused at sign-up, change and the strength
// meter, and is a wrong password at sign-in and re-authentication, all
// without a hash: the only hashing slot is held throughout, so a call that
// wanted one could only answer unavailable.
func TestOverLongPasswordsAreRefusedUnhashed(t *testing.T) {
	hasher := password.NewHasher(keywardtest.FastParams(), 1, time.Millisecond)
	e := keywardtest.New(t, keywardtest.Options{Hasher: hasher})
	a := signUp(t, e, "ada@example.com")
	sess := signIn(t, e, "ada@example.com", laptop).Session
	holdHashing(t, hasher)

	longest := strings.Repeat("🐎", 1024) // 4096 bytes: the bound itself
	overs := []struct{ name, pw string }{
		{"one byte over", longest + "!"},
		{"1 MiB of U+FDFA", strings.Repeat("\uFDFA", 349000)},
	}
	for _, over := range overs {
		t.Run(over.name, func(t *testing.T) {
			_, err := e.Svc.SignUp(ctx, "bob@example.com", over.pw, laptop)
			wantCode(t, err, keyward.CodePasswordTooLong)
			_, err = e.Svc.SignIn(ctx, "ada@example.com", over.pw, laptop)
			wantCode(t, err, keyward.CodeInvalidCredentials)
			_, err = e.Svc.SignIn(ctx, "nobody@example.com", over.pw, laptop)
			wantCode(t, err, keyward.CodeInvalidCredentials)
			_, err = e.Svc.ChangePassword(ctx, sess, over.pw, goodPassword+"!", true, laptop)
			wantCode(t, err, keyward.CodeInvalidCurrentPass)
			_, err = e.Svc.PasswordStrength(over.pw, "", nil, laptop)
			wantCode(t, err, keyward.CodePasswordTooLong)
		})
	}
	// The control: a password within the bound needs the held slot.
	_, err := e.Svc.SignIn(ctx, "ada@example.com", longest, laptop)
	wantCode(t, err, keyward.CodeUnavailable)

	// Each wrong sign-in was recorded as any other: two per case.
	page, err := e.Svc.Events(ctx, a.ID, keyward.EventQuery{Types: []audit.Type{audit.SigninFailed}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(page.Events), len(overs); got != want {
		t.Fatalf("%d signin.failed events for the account, want %d", got, want)
	}
	page, err = e.Svc.Events(ctx, a.ID, keyward.EventQuery{Types: []audit.Type{audit.PasswordChanged}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(page.Events), len(overs); got != want {
		t.Fatalf("%d failed password.changed events, want %d", got, want)
	}
}

// TestNewPasswordOverTheBoundIsRefused: change password refuses an
// over-long new password (after the current one checks out) without
// hashing it.
func TestNewPasswordOverTheBoundIsRefused(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	sess := signIn(t, e, "ada@example.com", laptop).Session
	_, err := e.Svc.ChangePassword(ctx, sess, goodPassword, strings.Repeat("🐎", 1024)+"!", true, laptop)
	wantCode(t, err, keyward.CodePasswordTooLong)
	_, err = e.Svc.ChangePassword(ctx, sess, goodPassword, "Zq7#xW2!lantern\xff", true, laptop)
	wantCode(t, err, keyward.CodeInvalidRequest)
	signIn(t, e, "ada@example.com", laptop) // unchanged
}

// TestPasswordNotUTF8IsRefused: the policy refuses invalid UTF-8 (only a
// hand-made form post can send it) as invalid_request.
func TestPasswordNotUTF8IsRefused(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	_, err := e.Svc.SignUp(ctx, "ada@example.com", "correct horse \xff\xfe staple", laptop)
	wantCode(t, err, keyward.CodeInvalidRequest)
	_, err = e.Svc.PasswordStrength("correct horse \xff\xfe staple", "", nil, laptop)
	wantCode(t, err, keyward.CodeInvalidRequest)
}

// TestStrengthAdviceIsBounded counts: per caller per minute (the account
// when signed in, else the address), per address in flight, per node in
// flight. No timing: the in-flight places are taken by the test itself.
func TestStrengthAdviceIsBounded(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.StrengthChecksPerMinute = 3
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	a := signUp(t, e, "ada@example.com")
	// Mid-minute, so that the window's turn is what the test moves to.
	e.Clock.Advance(30 * time.Second)
	strength := func(caller *keyward.Account, c keyward.Client) error {
		t.Helper()
		_, err := e.Svc.PasswordStrength("correct horse battery staple", "", caller, c)
		return err
	}
	for i := range 3 {
		if err := strength(nil, laptop); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := strength(nil, laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	if ke := (*keyward.Error)(nil); !errors.As(err, &ke) || ke.RetryAfter != 30*time.Second {
		t.Fatalf("%v: want Retry-After 30s (the rest of the minute)", err)
	}
	// Another address, and a signed-in account at the same address, have
	// budgets of their own.
	if err := strength(nil, phone); err != nil {
		t.Fatalf("other address: %v", err)
	}
	for i := range 3 {
		if err := strength(a, laptop); err != nil {
			t.Fatalf("signed in, call %d: %v", i+1, err)
		}
	}
	wantCode(t, strength(a, laptop), keyward.CodeTooManyAttempts)
	// A minute on, every count is forgotten.
	e.Clock.Advance(30 * time.Second)
	if err := strength(nil, laptop); err != nil {
		t.Fatalf("next minute: %v", err)
	}

	// In flight: the address's places taken, its next call is refused
	// (429) while another address's is not; the node's taken, all are (503).
	release := e.Svc.HoldStrengthAddress(laptop.IP)
	wantCode(t, strength(a, laptop), keyward.CodeTooManyAttempts)
	if err := strength(nil, phone); err != nil {
		t.Fatalf("other address while one is full: %v", err)
	}
	release()
	release = e.Svc.HoldStrengthSlots()
	wantCode(t, strength(nil, phone), keyward.CodeUnavailable)
	release()
	if err := strength(nil, phone); err != nil {
		t.Fatalf("after the node's places freed: %v", err)
	}
}
