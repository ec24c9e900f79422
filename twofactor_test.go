package keyward_test

import (
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// A session older than RecentSignIn (perhaps someone else's, left signed in
// on a shared computer) cannot start a setup without the password; it must
// not be able to read the owner's pending setup and confirm it either,
// which would give it the seed and the backup codes and end the owner's
// sessions. This is the attack step by step.
func TestStaleSessionCannotTakeOverASetup(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	stale := signIn(t, e, "ada@example.com", phone)
	e.Clock.Advance(keyward.RecentSignIn + time.Minute)
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
// given at setup) still work.
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
		{"same session, recent at setup, confirmed later within the setup's life", func(t *testing.T, e *keywardtest.Env, a *keyward.Account) (*keyward.Session, string, keyward.Code) {
			me := signIn(t, e, a.Email, laptop)
			e.Clock.Advance(keyward.RecentSignIn - time.Minute)
			secret := start(t, e, me.Session, "")
			e.Clock.Advance(5 * time.Minute) // signed in 14 minutes ago
			return me.Session, secret, ""
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
			if shown := setup != nil; want != keyward.CodeUnauthenticated && shown != (want == "") {
				t.Errorf("setup shown to the confirming session = %v, want %v", shown, want == "")
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
