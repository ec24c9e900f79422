package keyward_test

import (
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// sensitive are the actions behind the sudo window, each run without a
// password by the caller me of an account with two-factor on (off for the
// setup and enable, which need it off). ok is what a success looks like.
var sensitive = []struct {
	name      string
	twoFactor bool
	// prepare runs inside the window, before the clock moves: what the
	// action needs to exist (a pending setup).
	prepare func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) string
	act     func(e *keywardtest.Env, me *keyward.Session, prepared string) error
}{
	{name: "begin a 2FA setup",
		act: func(e *keywardtest.Env, me *keyward.Session, _ string) error {
			_, err := e.Svc.BeginTOTPSetup(ctx, me, "", laptop)
			return err
		}},
	{name: "enable 2FA",
		prepare: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) string {
			setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
			if err != nil {
				t.Fatal(err)
			}
			return setup.Secret
		},
		act: func(e *keywardtest.Env, me *keyward.Session, secret string) error {
			code, _ := totp.Code(secret, e.Clock.Now())
			_, err := e.Svc.EnableTOTP(ctx, me, code, laptop)
			return err
		}},
	{name: "new backup codes", twoFactor: true,
		act: func(e *keywardtest.Env, me *keyward.Session, _ string) error {
			_, err := e.Svc.RegenerateBackupCodes(ctx, me, "", laptop)
			return err
		}},
	{name: "disable 2FA", twoFactor: true,
		act: func(e *keywardtest.Env, me *keyward.Session, _ string) error {
			return e.Svc.DisableTOTP(ctx, me, "", laptop)
		}},
	{name: "change the email address",
		act: func(e *keywardtest.Env, me *keyward.Session, _ string) error {
			return e.Svc.RequestEmailChange(ctx, me, "ada.new@example.com", "", laptop)
		}},
}

// newSudoAccount signs up ada and signs her in (with two-factor when
// twoFactor), returning the session and the TOTP secret ("" without).
func newSudoAccount(t *testing.T, e *keywardtest.Env, twoFactor bool) (*keyward.Account, *keyward.SignInResult, string, []string) {
	t.Helper()
	a := signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	if !twoFactor {
		return a, me, "", nil
	}
	secret, codes := enableTOTP(t, e, me)
	e.Clock.Advance(time.Minute) // past the step that confirmed the setup
	step := signIn(t, e, "ada@example.com", laptop)
	code, _ := totp.Code(secret, e.Clock.Now())
	me, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
	if err != nil {
		t.Fatal(err)
	}
	return a, me, secret, codes
}

// TestSudoWindow: every sensitive action works without a password from
// the sign-in until the window closes, and then answers
// reauthentication_required (NeedsSudo) until the person confirms again.
func TestSudoWindow(t *testing.T) {
	window := keyward.DefaultConfig().SudoWindow
	for _, action := range sensitive {
		for _, c := range []struct {
			name string
			age  time.Duration // since the sign-in
			open bool
		}{
			{"just signed in", 0, true},
			{"a second before it closes", window - time.Second, true},
			{"as it closes", window, false},
			{"minutes later (the setup still waits)", window + 4*time.Minute, false},
		} {
			t.Run(action.name+"/"+c.name, func(t *testing.T) {
				e := keywardtest.New(t, keywardtest.Options{})
				_, me, _, _ := newSudoAccount(t, e, action.twoFactor)
				prepared := ""
				if action.prepare != nil {
					prepared = action.prepare(t, e, me)
				}
				// Kept alive: the idle timeout is not what is tested.
				for left := c.age; left > 0; {
					d := min(left, 20*time.Minute)
					e.Clock.Advance(d)
					left -= d
					if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
						t.Fatalf("session ended while the clock moved: %v", err)
					}
				}
				err := action.act(e, me.Session, prepared)
				if c.open {
					if err != nil {
						t.Fatalf("inside the window: %v", err)
					}
					return
				}
				wantCode(t, err, keyward.CodeReauthRequired)
				if !keyward.NeedsSudo(err) {
					t.Fatalf("NeedsSudo(%v) = false, want true", err)
				}
				// Confirming opens it again, and the action goes through.
				until, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword}, laptop)
				if err != nil {
					t.Fatalf("GrantSudo: %v", err)
				}
				if want := e.Clock.Now().Add(window); !until.Equal(want) {
					t.Errorf("GrantSudo = %v, want %v", until, want)
				}
				if err := action.act(e, me.Session, prepared); err != nil {
					t.Fatalf("after confirming: %v", err)
				}
			})
		}
	}
}

// TestSignInOpensTheSudoWindow: every way of signing in starts the session
// in its window, and records how it signed in.
func TestSignInOpensTheSudoWindow(t *testing.T) {
	window := keyward.DefaultConfig().SudoWindow
	e := keywardtest.New(t, keywardtest.Options{})
	up, err := e.Svc.SignUpAndSignIn(ctx, "ada@example.com", goodPassword, laptop)
	if err != nil {
		t.Fatal(err)
	}
	pw := signIn(t, e, "ada@example.com", phone)
	secret, codes := enableTOTP(t, e, pw)
	e.Clock.Advance(time.Minute)
	step := signIn(t, e, "ada@example.com", laptop)
	code, _ := totp.Code(secret, e.Clock.Now())
	withCode, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
	if err != nil {
		t.Fatal(err)
	}
	step = signIn(t, e, "ada@example.com", laptop)
	withBackup, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], laptop)
	if err != nil {
		t.Fatal(err)
	}
	pwd, twoStep := keyward.AMRPassword, keyward.AMRPassword|keyward.AMROTP|keyward.AMRMultiFactor
	for _, c := range []struct {
		name string
		res  *keyward.SignInResult
		amr  keyward.AMR
		live bool // not ended by enabling 2FA
	}{
		{"sign-up", up, pwd, false},
		{"password, then enabled 2FA", pw, twoStep, true},
		{"password and TOTP", withCode, twoStep, true},
		{"password and a backup code", withBackup, twoStep, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.res.Session.AMR != c.amr {
				t.Errorf("SignInResult amr = %v, want %v", c.res.Session.AMR.Values(), c.amr.Values())
			}
			until, err := e.Svc.SudoUntil(ctx, c.res.Session)
			if !c.live {
				wantCode(t, err, keyward.CodeUnauthenticated)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := c.res.Session.CreatedAt.Add(window); !until.Equal(want) {
				t.Errorf("SudoUntil = %v, want the sign-in's time plus the window, %v", until, want)
			}
			_, s, err := e.Svc.Authenticate(ctx, c.res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if s.AMR != c.amr {
				t.Errorf("Authenticate amr = %v, want %v", s.AMR.Values(), c.amr.Values())
			}
		})
	}
}

// TestGrantSudo: each proof opens the window, records sudo.granted with
// the method in the same transaction, and uses up what works once.
func TestGrantSudo(t *testing.T) {
	window := keyward.DefaultConfig().SudoWindow
	cases := []struct {
		name      string
		twoFactor bool
		proof     func(t *testing.T, e *keywardtest.Env, secret string, codes []string) keyward.SudoProof
		method    string
		// reuse is true when the same proof works a second time.
		reuse bool
	}{
		{"password", false, func(*testing.T, *keywardtest.Env, string, []string) keyward.SudoProof {
			return keyward.SudoProof{Password: goodPassword}
		}, audit.MethodPassword, true},
		{"password, with two-factor on", true, func(*testing.T, *keywardtest.Env, string, []string) keyward.SudoProof {
			return keyward.SudoProof{Password: goodPassword}
		}, audit.MethodPassword, true},
		{"TOTP code", true, func(t *testing.T, e *keywardtest.Env, secret string, _ []string) keyward.SudoProof {
			e.Clock.Advance(time.Minute) // a step the sign-in did not use
			code, _ := totp.Code(secret, e.Clock.Now())
			return keyward.SudoProof{Code: code}
		}, audit.MethodTOTP, false},
		{"backup code", true, func(_ *testing.T, _ *keywardtest.Env, _ string, codes []string) keyward.SudoProof {
			return keyward.SudoProof{Code: codes[3]}
		}, audit.MethodBackupCode, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a, me, secret, codes := newSudoAccount(t, e, c.twoFactor)
			e.Clock.Advance(window + time.Minute)
			if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
				t.Fatal(err)
			}
			proof := c.proof(t, e, secret, codes)
			since := eventsFrom(t, e)
			until, err := e.Svc.GrantSudo(ctx, me.Session, proof, laptop)
			if err != nil {
				t.Fatalf("GrantSudo: %v", err)
			}
			if want := e.Clock.Now().Add(window); !until.Equal(want) {
				t.Errorf("until = %v, want %v", until, want)
			}
			stored, err := e.Svc.SudoUntil(ctx, me.Session)
			if err != nil || !stored.Equal(until) {
				t.Errorf("SudoUntil = %v, %v; want %v", stored, err, until)
			}
			if err := e.Svc.RequireSudo(ctx, me.Session); err != nil {
				t.Errorf("RequireSudo after the grant: %v", err)
			}
			var granted []keyward.Event
			for _, ev := range since() {
				if ev.Type == audit.SudoGranted {
					granted = append(granted, ev)
				}
			}
			if len(granted) != 1 || granted[0].Outcome != audit.Success || granted[0].SessionID != me.Session.ID ||
				granted[0].Details[audit.DetailMethod] != c.method || granted[0].ChainID != a.ID {
				t.Fatalf("sudo.granted events = %+v, want one success of session %s with method %s", granted, me.Session.ID, c.method)
			}
			if c.method == audit.MethodBackupCode {
				st, err := e.Svc.TwoFactor(ctx, a)
				if err != nil || st.BackupCodesRemaining != 9 {
					t.Errorf("backup codes left = %v, %v; want 9", st.BackupCodesRemaining, err)
				}
			}
			_, err = e.Svc.GrantSudo(ctx, me.Session, proof, laptop)
			if c.reuse && err != nil {
				t.Errorf("the same proof again: %v", err)
			}
			if !c.reuse {
				wantCode(t, err, keyward.CodeInvalidCode)
			}
		})
	}
}

func TestGrantSudoRefuses(t *testing.T) {
	cases := []struct {
		name      string
		twoFactor bool
		proof     func(t *testing.T, secret string, now time.Time) keyward.SudoProof
		want      keyward.Code
		recorded  bool // a failed attempt in the audit log
	}{
		{"nothing", false, fixed(keyward.SudoProof{}), keyward.CodeInvalidRequest, false},
		{"both", true, fixed(keyward.SudoProof{Password: goodPassword, Code: "123456"}), keyward.CodeInvalidRequest, false},
		{"wrong password", false, fixed(keyward.SudoProof{Password: "not the password"}), keyward.CodeInvalidCurrentPass, true},
		{"a code without two-factor", false, fixed(keyward.SudoProof{Code: "123456"}), keyward.CodeInvalidCode, false},
		{"wrong TOTP code", true, func(t *testing.T, secret string, now time.Time) keyward.SudoProof {
			return keyward.SudoProof{Code: wrongTOTP(t, secret, now)}
		}, keyward.CodeInvalidCode, true},
		{"wrong backup code", true, fixed(keyward.SudoProof{Code: "aaaaa-bbbbb-ccccc"}), keyward.CodeInvalidCode, true},
		{"garbage", true, fixed(keyward.SudoProof{Code: "\x00<script>"}), keyward.CodeInvalidCode, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			_, me, secret, _ := newSudoAccount(t, e, c.twoFactor)
			e.Clock.Advance(keyward.DefaultConfig().SudoWindow)
			since := eventsFrom(t, e)
			_, err := e.Svc.GrantSudo(ctx, me.Session, c.proof(t, secret, e.Clock.Now()), laptop)
			wantCode(t, err, c.want)
			wantCode(t, e.Svc.RequireSudo(ctx, me.Session), keyward.CodeReauthRequired)
			after := since()
			if got := len(after) > 0; got != c.recorded {
				t.Fatalf("recorded = %v (%v), want %v", got, after, c.recorded)
			}
			for _, ev := range after {
				if ev.Outcome != audit.Failure {
					t.Errorf("recorded %s %s, want only failures", ev.Type, ev.Outcome)
				}
			}
		})
	}
}

// Wrong passwords for sudo share the reauthentication throttle (2 free,
// then waits), wrong codes the sign-in's second-factor throttle and cap:
// a stolen session gains no guesses by asking for sudo.
func TestGrantSudoIsThrottled(t *testing.T) {
	t.Run("password", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		_, me, _, _ := newSudoAccount(t, e, false)
		for range 3 {
			_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: "not the password"}, laptop)
			wantCode(t, err, keyward.CodeInvalidCurrentPass)
		}
		_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword}, laptop)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		// The same count as a password sent with an action.
		_, err = e.Svc.ChangePassword(ctx, me.Session, goodPassword, "a brand new passphrase here", false, laptop)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		e.Clock.Advance(time.Second)
		if _, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword}, laptop); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
	})
	t.Run("code", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		_, me, secret, _ := newSudoAccount(t, e, true)
		for range 6 {
			_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Code: wrongTOTP(t, secret, e.Clock.Now())}, laptop)
			wantCode(t, err, keyward.CodeInvalidCode)
		}
		// The sign-in's second step of the same account waits too.
		step := signIn(t, e, "ada@example.com", phone)
		code, _ := totp.Code(secret, e.Clock.Now())
		_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		_, err = e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Code: code}, laptop)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		cred, err := e.Store.TOTPCredential(ctx, me.Account.ID)
		if err != nil || cred.Failures != 6 {
			t.Fatalf("consecutive failures = %d, %v; want 6 (counted toward the cap)", cred.Failures, err)
		}
	})
}

// Concurrent grants: passwords all pass (the latest end stays); one TOTP
// code passes once, however many requests carry it.
func TestGrantSudoConcurrently(t *testing.T) {
	t.Run("passwords", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		a, me, _, _ := newSudoAccount(t, e, false)
		e.Clock.Advance(20 * time.Minute) // past the window, within the idle timeout
		if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
			t.Fatal(err)
		}
		since := eventsFrom(t, e)
		errs := raceN(4, func() error {
			_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword}, laptop)
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("GrantSudo: %v", err)
			}
		}
		if n := countOf(since(), a.ID, audit.SudoGranted, audit.Success); n != 4 {
			t.Errorf("%d sudo.granted events, want 4", n)
		}
	})
	t.Run("one TOTP code", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		a, me, secret, _ := newSudoAccount(t, e, true)
		e.Clock.Advance(20 * time.Minute) // past the window, within the idle timeout
		if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
			t.Fatal(err)
		}
		code, _ := totp.Code(secret, e.Clock.Now())
		since := eventsFrom(t, e)
		errs := raceN(4, func() error {
			_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Code: code}, laptop)
			return err
		})
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !keyward.IsCode(err, keyward.CodeInvalidCode):
				t.Errorf("a loser got %v, want invalid_code", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d requests passed with one code, want exactly 1", won)
		}
		if n := countOf(since(), a.ID, audit.SudoGranted, audit.Success); n != 1 {
			t.Errorf("%d sudo.granted successes, want 1", n)
		}
	})
}

// A session that ended (signed out, revoked) is granted nothing, and the
// code it sent is not used up: the grant and the code's use are one
// transaction, which the missing session rolls back.
func TestGrantSudoToAnEndedSession(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a, me, _, codes := newSudoAccount(t, e, true)
	other := signIn(t, e, "ada@example.com", phone)
	code, err := e.Svc.CompleteSignIn(ctx, other.MFAToken, codes[0], phone)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.RevokeSession(ctx, code.Session, me.Session.ID, phone); err != nil {
		t.Fatal(err)
	}
	since := eventsFrom(t, e)
	for _, proof := range []keyward.SudoProof{{Password: goodPassword}, {Code: codes[1]}} {
		_, err := e.Svc.GrantSudo(ctx, me.Session, proof, laptop)
		wantCode(t, err, keyward.CodeUnauthenticated)
	}
	if after := since(); len(after) != 0 {
		t.Errorf("events recorded: %v, want none (no grant, no code used)", after)
	}
	st, err := e.Svc.TwoFactor(ctx, a)
	if err != nil || st.BackupCodesRemaining != 9 {
		t.Errorf("backup codes left = %d, %v; want 9: the refused grant used none", st.BackupCodesRemaining, err)
	}
	_, err = e.Svc.SudoUntil(ctx, me.Session)
	wantCode(t, err, keyward.CodeUnauthenticated)
}

// The window belongs to one session: another session of the same account
// (a stolen one, say) gains nothing from the owner's confirmation.
func TestSudoIsPerSession(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	owner := signIn(t, e, "ada@example.com", laptop)
	thief := signIn(t, e, "ada@example.com", phone)
	e.Clock.Advance(keyward.DefaultConfig().SudoWindow + time.Minute)
	if _, err := e.Svc.GrantSudo(ctx, owner.Session, keyward.SudoProof{Password: goodPassword}, laptop); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.RequireSudo(ctx, owner.Session); err != nil {
		t.Fatalf("owner: %v", err)
	}
	wantCode(t, e.Svc.RequireSudo(ctx, thief.Session), keyward.CodeReauthRequired)
	_, err := e.Svc.BeginTOTPSetup(ctx, thief.Session, "", phone)
	wantCode(t, err, keyward.CodeReauthRequired)
	wantCode(t, e.Svc.RequestEmailChange(ctx, thief.Session, "thief@example.com", "", phone), keyward.CodeReauthRequired)
	// A session of another account naming the owner's session id is no
	// way in either.
	signUp(t, e, "eve@example.com")
	eve := signIn(t, e, "eve@example.com", phone)
	forged := *eve.Session
	forged.ID = owner.Session.ID
	_, err = e.Svc.BeginTOTPSetup(ctx, &forged, "", phone)
	wantCode(t, err, keyward.CodeUnauthenticated)
}

// The check reads the store, never the session the caller holds: a copy
// that says it signed in just now, or one a node still caches after the
// session was revoked elsewhere, gets no sensitive action through.
func TestSudoIgnoresTheCallersCopy(t *testing.T) {
	t.Run("a copy claiming a fresh sign-in", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		signUp(t, e, "ada@example.com")
		me := signIn(t, e, "ada@example.com", laptop)
		e.Clock.Advance(keyward.DefaultConfig().SudoWindow + time.Minute)
		forged := *me.Session
		forged.CreatedAt, forged.LastSeenAt = e.Clock.Now(), e.Clock.Now()
		_, err := e.Svc.BeginTOTPSetup(ctx, &forged, "", laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
	})
	t.Run("a session a node still caches after it was revoked", func(t *testing.T) {
		store := keywardtest.NewStore(t)
		a := keywardtest.New(t, keywardtest.Options{Store: store})
		b := keywardtest.New(t, keywardtest.Options{Store: store, Clock: a.Clock, Keys: a.Keys})
		signUp(t, a, "ada@example.com")
		me := signIn(t, a, "ada@example.com", laptop)
		other := signIn(t, a, "ada@example.com", phone)
		if _, err := a.Svc.FollowInvalidations(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Svc.Authenticate(ctx, me.Token); err != nil {
			t.Fatal(err)
		}
		if err := b.Svc.RevokeSession(ctx, other.Session, me.Session.ID, phone); err != nil {
			t.Fatal(err)
		}
		// Node A has not polled: its cache still answers for the session.
		_, stale, err := a.Svc.Authenticate(ctx, me.Token)
		if err != nil {
			t.Skipf("node A already refuses the revoked session (%v): nothing stale to test", err)
		}
		for _, action := range sensitive {
			if action.twoFactor || action.prepare != nil {
				continue
			}
			wantCode(t, action.act(a, stale, ""), keyward.CodeUnauthenticated)
		}
		_, err = a.Svc.GrantSudo(ctx, stale, keyward.SudoProof{Password: goodPassword}, laptop)
		wantCode(t, err, keyward.CodeUnauthenticated)
	})
}

// A password sent with the action, as API version 1's bodies do, still
// works outside the window and opens it; a wrong one is refused as before.
func TestSensitiveActionsTakeAPassword(t *testing.T) {
	window := keyward.DefaultConfig().SudoWindow
	for _, action := range []struct {
		name      string
		twoFactor bool
		act       func(e *keywardtest.Env, me *keyward.Session, pw string) error
		failedAs  audit.Type
	}{
		{"begin a 2FA setup", false, func(e *keywardtest.Env, me *keyward.Session, pw string) error {
			_, err := e.Svc.BeginTOTPSetup(ctx, me, pw, laptop)
			return err
		}, audit.TwoFactorEnabled},
		{"new backup codes", true, func(e *keywardtest.Env, me *keyward.Session, pw string) error {
			_, err := e.Svc.RegenerateBackupCodes(ctx, me, pw, laptop)
			return err
		}, audit.BackupCodesRegenerated},
		{"disable 2FA", true, func(e *keywardtest.Env, me *keyward.Session, pw string) error {
			return e.Svc.DisableTOTP(ctx, me, pw, laptop)
		}, audit.TwoFactorDisabled},
		{"change the email address", false, func(e *keywardtest.Env, me *keyward.Session, pw string) error {
			return e.Svc.RequestEmailChange(ctx, me, "ada.new@example.com", pw, laptop)
		}, audit.EmailChangeRequested},
	} {
		t.Run(action.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a, me, _, _ := newSudoAccount(t, e, action.twoFactor)
			// Wrong, even inside the window: a password given is checked.
			since := eventsFrom(t, e)
			wantCode(t, action.act(e, me.Session, "not the password"), keyward.CodeInvalidCurrentPass)
			if n := countOf(since(), a.ID, action.failedAs, audit.Failure); n != 1 {
				t.Errorf("%d failed %s events, want 1", n, action.failedAs)
			}
			e.Clock.Advance(window)
			since = eventsFrom(t, e)
			if err := action.act(e, me.Session, goodPassword); err != nil {
				t.Fatalf("with the password, outside the window: %v", err)
			}
			if n := countOf(since(), a.ID, audit.SudoGranted, audit.Success); n != 1 {
				t.Errorf("%d sudo.granted events, want 1", n)
			}
			if err := e.Svc.RequireSudo(ctx, me.Session); err != nil {
				t.Errorf("the password did not open the window: %v", err)
			}
		})
	}
}

// Outside the window, confirming a setup counts no guess: the person is
// sent to confirm it is them and comes back with the code unspent.
func TestEnableOutsideTheWindowCountsNoGuess(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a, me, _, _ := newSudoAccount(t, e, false)
	setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(keyward.DefaultConfig().SudoWindow)
	code, _ := totp.Code(setup.Secret, e.Clock.Now())
	_, err = e.Svc.EnableTOTP(ctx, me.Session, code, laptop)
	wantCode(t, err, keyward.CodeReauthRequired)
	th, err := e.Store.Throttle(ctx, "mfa:account:"+a.ID)
	if err != nil || th.Failures != 0 {
		t.Fatalf("second-factor count = %d, %v; want 0", th.Failures, err)
	}
	if _, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword}, laptop); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.EnableTOTP(ctx, me.Session, code, laptop); err != nil {
		t.Fatalf("the same code after confirming: %v", err)
	}
}

// eventsFrom notes the events stored now and returns a function that
// lists the ones stored since.
func eventsFrom(t testing.TB, e *keywardtest.Env) (since func() []keyward.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range allEvents(t, e) {
		seen[ev.ID] = true
	}
	return func() []keyward.Event {
		t.Helper()
		var out []keyward.Event
		for _, ev := range allEvents(t, e) {
			if !seen[ev.ID] {
				out = append(out, ev)
			}
		}
		return out
	}
}

func countOf(events []keyward.Event, chain string, typ audit.Type, outcome audit.Outcome) int {
	n := 0
	for _, ev := range events {
		if ev.ChainID == chain && ev.Type == typ && ev.Outcome == outcome {
			n++
		}
	}
	return n
}

func fixed(p keyward.SudoProof) func(*testing.T, string, time.Time) keyward.SudoProof {
	return func(*testing.T, string, time.Time) keyward.SudoProof { return p }
}

// raceN runs fn n times at once and returns the errors.
func raceN(n int, fn func() error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
