package keyward_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
)

// TestRefusedAttemptsAreRecorded pins what the audit log keeps of each
// kind of refused attempt, every field a reader sees, down to the
// throttling a failure starts (the sixth failure of a rule with five free
// ones waits a second).
func TestRefusedAttemptsAreRecorded(t *testing.T) {
	const email = "ada@example.com"
	tests := []struct {
		name string
		// refuse makes the refused attempts; the events of the last are
		// compared.
		refuse func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) (last func() error)
		want   []string
	}{
		{
			name: "wrong password, the sixth",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				return repeat(6, func() error { _, err := e.Svc.SignIn(ctx, email, "not the password", laptop); return err })
			},
			want: []string{
				"ada signin.failed failure invalid_password self session=- method=password",
				"ada signin.throttled failure too_many_failures system session=- method=password retry_after=1",
			},
		},
		{
			name: "unknown email, the sixth",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				return repeat(6, func() error { _, err := e.Svc.SignIn(ctx, "ghost@example.com", "whatever", laptop); return err })
			},
			want: []string{
				"system signin.failed failure invalid_password self session=- email_digest=… method=password",
				"system signin.throttled failure too_many_failures system session=- email_digest=… method=password retry_after=1",
			},
		},
		{
			name: "wrong TOTP code, the sixth",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				secret, _ := enableTOTP(t, e, me)
				step := signIn(t, e, email, laptop)
				return repeat(6, func() error {
					_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, wrongTOTP(t, secret, e.Clock.Now()), laptop)
					return err
				})
			},
			want: []string{
				"ada signin.mfa_failed failure invalid_code self session=- method=totp",
				"ada signin.throttled failure too_many_failures system session=- method=second_factor retry_after=1",
			},
		},
		{
			name: "wrong backup code",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				enableTOTP(t, e, me)
				step := signIn(t, e, email, laptop)
				return func() error { _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, "AAAA-BBBB", laptop); return err }
			},
			want: []string{"ada signin.mfa_failed failure invalid_code self session=- method=backup_code"},
		},
		{
			name: "wrong current password",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				return func() error {
					_, err := e.Svc.ChangePassword(ctx, me.Session, "not the password", "a brand new passphrase here", false, laptop)
					return err
				}
			},
			want: []string{"ada password.changed failure invalid_current_password self session=me"},
		},
		{
			name: "wrong password confirming it is you",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				return func() error {
					_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: "not the password"}, laptop)
					return err
				}
			},
			want: []string{"ada sudo.granted failure invalid_current_password self session=me"},
		},
		{
			name: "wrong password sent with new backup codes",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				enableTOTP(t, e, me)
				return func() error {
					_, err := e.Svc.RegenerateBackupCodes(ctx, me.Session, "not the password", laptop)
					return err
				}
			},
			want: []string{"ada 2fa.backup_codes.regenerated failure invalid_current_password self session=me"},
		},
		{
			name: "wrong TOTP code confirming it is you, the sixth",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				secret, _ := enableTOTP(t, e, me)
				return repeat(6, func() error {
					_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Code: wrongTOTP(t, secret, e.Clock.Now())}, laptop)
					return err
				})
			},
			want: []string{
				"ada sudo.granted failure invalid_code self session=me method=totp",
				"ada signin.throttled failure too_many_failures system session=- method=second_factor retry_after=1",
			},
		},
		{
			name: "wrong backup code confirming it is you",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				enableTOTP(t, e, me)
				return func() error {
					_, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Code: "AAAA-BBBB"}, laptop)
					return err
				}
			},
			want: []string{"ada sudo.granted failure invalid_code self session=me method=backup_code"},
		},
		{
			name: "wrong code confirming a setup",
			refuse: func(t *testing.T, e *keywardtest.Env, me *keyward.SignInResult) func() error {
				setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
				if err != nil {
					t.Fatal(err)
				}
				return func() error {
					_, err := e.Svc.EnableTOTP(ctx, me.Session, wrongTOTP(t, setup.Secret, e.Clock.Now()), laptop)
					return err
				}
			},
			want: []string{"ada 2fa.enabled failure invalid_code self session=me"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a := signUp(t, e, email)
			me := signIn(t, e, email, laptop)
			last := tt.refuse(t, e, me)
			seen := map[string]bool{}
			for _, ev := range allEvents(t, e) {
				seen[ev.ID] = true
			}
			if err := last(); err == nil {
				t.Fatal("the attempt was not refused")
			}
			names := strings.NewReplacer(a.ID, "ada", audit.SystemChain, "system", me.Session.ID, "me")
			var got []string
			for _, ev := range allEvents(t, e) {
				if seen[ev.ID] {
					continue
				}
				session := ev.SessionID
				if session == "" {
					session = "-"
				}
				line := fmt.Sprintf("%s %s %s %s %s session=%s", ev.ChainID, ev.Type, ev.Outcome, ev.Reason, ev.Actor, session)
				for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
					v := ev.Details[k]
					if k == audit.DetailEmailDigest {
						v = "…" // keyed: differs from run to run
					}
					line += " " + k + "=" + v
				}
				got = append(got, names.Replace(line))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("recorded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// repeat makes n-1 attempts at once and returns the last one.
func repeat(n int, try func() error) func() error {
	for range n - 1 {
		try()
	}
	return try
}

// allEvents is every stored event, oldest first within each chain.
func allEvents(t testing.TB, e *keywardtest.Env) []keyward.Event {
	t.Helper()
	var all []keyward.Event
	err := e.Store.EachEvent(ctx, keyward.EventFilter{}, func(ev *keyward.Event) error {
		all = append(all, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(x, y keyward.Event) int {
		if c := strings.Compare(x.ChainID, y.ChainID); c != 0 {
			return c
		}
		return int(x.Seq - y.Seq)
	})
	return all
}
