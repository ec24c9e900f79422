package keyward_test

import (
	"context"
	crand "crypto/rand"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// A session outside its sudo window (perhaps someone else's, left signed in
// on a shared computer) cannot start a setup without the password; it must
// not be able to read the owner's pending setup and confirm it either,
// which would give it the seed and the backup codes and end the owner's
// sessions. This is the attack step by step.
func TestStaleSessionCannotTakeOverASetup(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	stale := signIn(t, e, "ada@example.com", phone)
	e.Clock.Advance(sudoWindow + time.Minute)
	owner := signIn(t, e, "ada@example.com", laptop)

	setup, err := e.Svc.BeginTOTPSetup(ctx, owner.Session, "", laptop)
	if err != nil {
		t.Fatalf("owner's setup: %v", err)
	}
	_, err = e.Svc.BeginTOTPSetup(ctx, stale.Session, "", phone)
	wantCode(t, err, keyward.CodeReauthRequired)

	seen, err := e.Svc.PendingSetup(ctx, a, stale.Session)
	if err != nil || seen != nil {
		t.Fatalf("the stale session sees a pending setup (%v, %v); want none", seen != nil, err)
	}
	code, _ := totp.Code(setup.Secret, e.Clock.Now())
	_, err = e.Svc.EnableTOTP(ctx, stale.Session, code, phone)
	wantCode(t, err, keyward.CodeNoPendingSetup)
	// Nor once it confirmed it was the person: the setup is the owner's.
	if _, err := e.Svc.GrantSudo(ctx, stale.Session, keyward.SudoProof{Password: goodPassword}, phone); err != nil {
		t.Fatalf("GrantSudo: %v", err)
	}
	_, err = e.Svc.EnableTOTP(ctx, stale.Session, code, phone)
	wantCode(t, err, keyward.CodeNoPendingSetup)
	if _, err := e.Store.TOTPCredential(ctx, a.ID); !keyward.IsCode(err, keyward.CodeNotFound) {
		t.Fatalf("a credential exists after the stale session's attempt: %v", err)
	}

	// The owner's session still stands, sees its setup, and confirms it.
	if _, _, err := e.Svc.Authenticate(ctx, owner.Token); err != nil {
		t.Fatalf("the owner's session ended: %v", err)
	}
	mine, err := e.Svc.PendingSetup(ctx, a, owner.Session)
	if err != nil || mine == nil || mine.Secret != setup.Secret {
		t.Fatalf("owner's PendingSetup = %v, %v; want the setup it started", mine != nil, err)
	}
	if _, err := e.Svc.EnableTOTP(ctx, owner.Session, code, laptop); err != nil {
		t.Fatalf("owner's EnableTOTP: %v", err)
	}
	_, _, err = e.Svc.Authenticate(ctx, stale.Token)
	wantCode(t, err, keyward.CodeUnauthenticated)
}

// A pending setup is seen and confirmed by the session that started it, and
// by no other; the owner's normal flows (recent sign-in, or the password
// given at setup) still work, within the sudo window.
func TestPendingSetupBelongsToItsSession(t *testing.T) {
	type step func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (confirmer *keyward.Session, secret string, wantErr keyward.Code)
	start := func(t *testing.T, e *keywardtest.Env, s *keyward.Session, pw string) string {
		t.Helper()
		setup, err := e.Svc.BeginTOTPSetup(ctx, s, pw, laptop)
		if err != nil {
			t.Fatalf("BeginTOTPSetup: %v", err)
		}
		return setup.Secret
	}
	cases := []struct {
		name string
		run  step
	}{
		{"same session, recent sign-in", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			return me.Session, start(t, e, me.Session, ""), ""
		}},
		{"same session, recent at setup, confirmed within the window", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			e.Clock.Advance(sudoWindow - 3*time.Minute)
			secret := start(t, e, me.Session, "")
			e.Clock.Advance(2 * time.Minute)
			return me.Session, secret, ""
		}},
		{"same session, recent at setup, confirmed after the window closed", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			e.Clock.Advance(sudoWindow - time.Minute)
			secret := start(t, e, me.Session, "")
			e.Clock.Advance(5 * time.Minute) // within the setup's life, past the window
			return me.Session, secret, keyward.CodeReauthRequired
		}},
		{"same session, old, password given at setup", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			e.Clock.Advance(2 * time.Hour)
			return me.Session, start(t, e, me.Session, goodPassword), ""
		}},
		{"another recent session", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			other := signIn(t, e, a.Email, phone)
			return other.Session, start(t, e, me.Session, ""), keyward.CodeNoPendingSetup
		}},
		{"another session that gave the password", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			other := signIn(t, e, a.Email, phone)
			e.Clock.Advance(time.Hour)
			if _, err := e.Svc.BeginTOTPSetup(ctx, other.Session, goodPassword, phone); err != nil {
				t.Fatal(err)
			}
			me := signIn(t, e, a.Email, laptop)
			// A later setup replaces the other session's: its seed no longer works.
			start(t, e, me.Session, "")
			return other.Session, "", keyward.CodeNoPendingSetup
		}},
		{"the session that started it signed out", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			secret := start(t, e, me.Session, "")
			if err := e.Svc.SignOut(ctx, me.Session, laptop); err != nil {
				t.Fatal(err)
			}
			return me.Session, secret, keyward.CodeUnauthenticated
		}},
		{"a new session after the starter signed out", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			secret := start(t, e, me.Session, "")
			if err := e.Svc.SignOut(ctx, me.Session, laptop); err != nil {
				t.Fatal(err)
			}
			return signIn(t, e, a.Email, laptop).Session, secret, keyward.CodeNoPendingSetup
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a := signUp(t, e, "ada@example.com")
			confirmer, secret, want := tc.run(t, e, a)
			setup, err := e.Svc.PendingSetup(ctx, a, confirmer)
			if err != nil {
				t.Fatal(err)
			}
			// A session that ended never reaches the page (Authenticate
			// refuses it), so only confirming is asked of it.
			// A closed window hides nothing: the setup is still the
			// session's, to confirm once it proved it is the person.
			wantShown := want == "" || want == keyward.CodeReauthRequired
			if shown := setup != nil; want != keyward.CodeUnauthenticated && shown != wantShown {
				t.Errorf("setup shown to the confirming session = %v, want %v", shown, wantShown)
			}
			if secret == "" {
				secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
			}
			code, _ := totp.Code(secret, e.Clock.Now())
			_, err = e.Svc.EnableTOTP(ctx, confirmer, code, laptop)
			if got := keyward.ErrorCode(err); err != nil && got != want || err == nil && want != "" {
				t.Fatalf("EnableTOTP: got %q (%v), want %q", got, err, want)
			}
		})
	}
}

// rotationHookStore runs a hook between key rotation reading a seed and
// writing it back (after RotateKeys' fn returned a re-sealed seed, before the
// store's compare-and-swap): a deterministic interleaving of a change
// meanwhile. beforeSwapCredential is for an enabled seed, beforeSwapPending
// for a pending setup's.
type rotationHookStore struct {
	keyward.Store
	beforeSwapCredential func()
	beforeSwapPending    func()
}

func (h *rotationHookStore) ResealSecrets(c context.Context, fn func(keyward.SealedSecret) (string, error)) (keyward.Resealed, error) {
	return h.Store.ResealSecrets(c, func(v keyward.SealedSecret) (string, error) {
		sealed, err := fn(v)
		hook := h.beforeSwapCredential
		if v.Pending {
			hook = h.beforeSwapPending
		}
		if sealed != "" && hook != nil {
			hook()
		}
		return sealed, err
	})
}

// wantSeed checks that the account's enabled seed is secret, sealed under key.
func wantSeed(t testing.TB, e *keywardtest.Env, accountID, secret, key string) {
	t.Helper()
	cred, err := e.Store.TOTPCredential(ctx, accountID)
	if err != nil {
		t.Fatalf("TOTPCredential: %v", err)
	}
	plain, err := e.Keys.Open(cred.SealedSecret, []byte(accountID))
	if err != nil {
		t.Fatalf("opening the stored seed: %v", err)
	}
	if string(plain) != secret {
		t.Errorf("stored seed = %q, want %q (the seed enabled last)", plain, secret)
	}
	if got := e.Keys.KeyID(cred.SealedSecret); got != key {
		t.Errorf("seed sealed under %s, want %s", got, key)
	}
}

// Turning 2FA off and on again while keys rotate must leave the new seed:
// RotateKeys writes back only over the value it read.
func TestRotateKeysNeverBringsBackAnOldSeed(t *testing.T) {
	h := &rotationHookStore{Store: keywardtest.NewStore(t)}
	e := keywardtest.New(t, keywardtest.Options{Store: h})
	a := signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	oldSecret, _ := enableTOTP(t, e, me)
	newKey, err := e.Keys.Rotate(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var newSecret string
	h.beforeSwapCredential = func() {
		once.Do(func() {
			if err := e.Svc.DisableTOTP(ctx, me.Session, goodPassword, laptop); err != nil {
				t.Fatalf("DisableTOTP: %v", err)
			}
			newSecret, _ = enableTOTP(t, e, me)
		})
	}
	r, err := e.Svc.RotateKeys(ctx)
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	want := keyward.KeyRotation{Current: newKey, Resealed: 0, Changed: 1, Left: 0}
	if r != want {
		t.Errorf("RotateKeys = %+v, want %+v", r, want)
	}
	wantSeed(t, e, a.ID, newSecret, newKey)

	// The authenticator set up last is the one that signs in.
	e.Clock.Advance(time.Minute)
	for _, tc := range []struct {
		name   string
		secret string
		want   keyward.Code
	}{
		{"old seed", oldSecret, keyward.CodeInvalidCode},
		{"new seed", newSecret, ""},
	} {
		step := signIn(t, e, "ada@example.com", laptop)
		code, _ := totp.Code(tc.secret, e.Clock.Now())
		_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
		if got := keyward.ErrorCode(err); got != tc.want && !(tc.want == "" && err == nil) {
			t.Errorf("%s: sign-in got %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
}

// A pending setup replaced or confirmed while keys rotate is not brought
// back by the rotation writing the setup it read.
func TestRotateKeysNeverBringsBackAnOldPendingSetup(t *testing.T) {
	cases := []struct {
		name string
		// change runs between the rotation's read and its write; it
		// returns the secret the account should end with, pending or on.
		change      func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult, first string) string
		wantPending bool
		want        keyward.KeyRotation
	}{
		{"replaced by a new setup", func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult, _ string) string {
			setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
			if err != nil {
				t.Fatal(err)
			}
			return setup.Secret
		}, true, keyward.KeyRotation{Changed: 1}},
		{"confirmed", func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult, first string) string {
			code, _ := totp.Code(first, e.Clock.Now())
			if _, err := e.Svc.EnableTOTP(ctx, me.Session, code, laptop); err != nil {
				t.Fatal(err)
			}
			return first
		}, false, keyward.KeyRotation{Changed: 1, Resealed: 1}}, // the next pass re-seals the enabled seed
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &rotationHookStore{Store: keywardtest.NewStore(t)}
			e := keywardtest.New(t, keywardtest.Options{Store: h})
			a := signUp(t, e, "ada@example.com")
			me := signIn(t, e, "ada@example.com", laptop)
			first, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
			if err != nil {
				t.Fatal(err)
			}
			newKey, err := e.Keys.Rotate(crand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			var secret string
			h.beforeSwapPending = func() { once.Do(func() { secret = tc.change(t, e, me, first.Secret) }) }
			r, err := e.Svc.RotateKeys(ctx)
			if err != nil {
				t.Fatalf("RotateKeys: %v", err)
			}
			tc.want.Current = newKey
			if r != tc.want {
				t.Errorf("RotateKeys = %+v, want %+v", r, tc.want)
			}
			p, err := e.Store.PendingTOTP(ctx, a.ID)
			if !tc.wantPending {
				if !keyward.IsCode(err, keyward.CodeNotFound) {
					t.Fatalf("a pending setup is back after it was confirmed: %+v, %v", p, err)
				}
				wantSeed(t, e, a.ID, secret, newKey)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			shown, err := e.Svc.PendingSetup(ctx, a, me.Session)
			if err != nil || shown == nil || shown.Secret != secret {
				got := "none"
				if shown != nil {
					got = shown.Secret
				}
				t.Fatalf("pending setup's secret = %s, %v; want %s, the one started last", got, err, secret)
			}
		})
	}
}

// A node that does not have the new key yet may seal a seed under an older
// one while RotateKeys runs: RotateKeys says how many are left, so the
// operator is never told every seed moved when one did not.
func TestRotateKeysCountsSeedsLeftUnderOlderKeys(t *testing.T) {
	h := &rotationHookStore{Store: keywardtest.NewStore(t)}
	e := keywardtest.New(t, keywardtest.Options{Store: h})
	oldKeys, err := keyring.Parse(e.Keys.Format())
	if err != nil {
		t.Fatal(err)
	}
	laggard := keywardtest.New(t, keywardtest.Options{Store: h, Clock: e.Clock, Keys: oldKeys})
	a := signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	enableTOTP(t, e, me)
	if _, err := e.Keys.Rotate(crand.Reader); err != nil {
		t.Fatal(err)
	}
	h.beforeSwapCredential = func() {
		if err := laggard.Svc.DisableTOTP(ctx, me.Session, goodPassword, laptop); err != nil {
			t.Fatalf("DisableTOTP: %v", err)
		}
		enableTOTP(t, laggard, me)
	}
	r, err := e.Svc.RotateKeys(ctx)
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	if r.Left != 1 || r.Resealed != 0 {
		t.Errorf("RotateKeys = %+v, want 1 left and none re-sealed", r)
	}
	n, err := e.Svc.SeedsUnderOlderKeys(ctx)
	if err != nil || n != 1 {
		t.Errorf("SeedsUnderOlderKeys = %d, %v; want 1", n, err)
	}
	_ = a
}
