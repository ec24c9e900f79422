package keyward_test

import (
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestAttackEndedSessionActs: a request authenticated just before its
// session ended (in flight when the owner revoked it, or answered by another
// node before the notification arrived, which measured up to 15 ms on
// loopback) must change nothing. EnableTOTP checks the caller's session in
// its transaction; ending the owner's sessions did not, so a thief whose
// session the owner had just ended could still sign the owner out
// everywhere, recorded as done by the ended session.
func TestAttackEndedSessionActs(t *testing.T) {
	tests := []struct {
		name string
		act  func(e *keywardtest.Env, thief *keyward.Session, owner *keyward.SignInResult) error
	}{
		{"revoke-others", func(e *keywardtest.Env, thief *keyward.Session, _ *keyward.SignInResult) error {
			_, err := e.Svc.RevokeOtherSessions(ctx, thief, phone)
			return err
		}},
		{"revoke the owner's session", func(e *keywardtest.Env, thief *keyward.Session, owner *keyward.SignInResult) error {
			return e.Svc.RevokeSession(ctx, thief, owner.Session.ID, phone)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			signUp(t, e, "ada@example.com")
			owner := signIn(t, e, "ada@example.com", laptop)
			stolen := signIn(t, e, "ada@example.com", phone)
			_, thief, err := e.Svc.Authenticate(ctx, stolen.Token) // the thief's request is in flight
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Svc.RevokeSession(ctx, owner.Session, stolen.Session.ID, laptop); err != nil {
				t.Fatalf("the owner ends the stolen session: %v", err)
			}
			err = tt.act(e, thief, owner)
			if _, _, aerr := e.Svc.Authenticate(ctx, owner.Token); aerr != nil {
				t.Fatalf("the ended session's %s (err %v) ended the owner's session: %v", tt.name, err, aerr)
			}
			if !keyward.IsCode(err, keyward.CodeUnauthenticated) {
				t.Errorf("the ended session's %s answered %v, want unauthenticated", tt.name, err)
			}
		})
	}
}
