package keyward_test

import (
	"context"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
)

func TestIdentityContext(t *testing.T) {
	if _, ok := keyward.FromContext(context.Background()); ok {
		t.Fatal("FromContext found an identity in an empty context")
	}
	enabled := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := keyward.Identity{
		Account: keyward.Account{ID: "acct_1", Email: "ada@example.com", PasswordHash: "$argon2id$...", TwoFactorEnabledAt: &enabled},
		Session: keyward.Session{ID: "sess_1", AccountID: "acct_1", TokenHash: []byte{1, 2, 3}, AAL: 2},
	}
	got, ok := keyward.FromContext(keyward.NewContext(context.Background(), in))
	if !ok {
		t.Fatal("FromContext found no identity after NewContext")
	}
	if got.Account.ID != "acct_1" || got.Account.Email != "ada@example.com" || got.Session.ID != "sess_1" || got.Session.AAL != 2 {
		t.Errorf("identity = %+v, want the one put in", got)
	}
	if got.Account.PasswordHash != "" || got.Session.TokenHash != nil {
		t.Errorf("secrets came through the context: password hash %q, token hash %x", got.Account.PasswordHash, got.Session.TokenHash)
	}
	if in.Account.PasswordHash == "" || in.Session.TokenHash == nil {
		t.Errorf("NewContext changed the caller's identity")
	}
	if got.Account.TwoFactorEnabledAt == &enabled || !got.Account.TwoFactorEnabledAt.Equal(enabled) {
		t.Errorf("TwoFactorEnabledAt = %v (shared: %v), want a copy of %v", got.Account.TwoFactorEnabledAt, got.Account.TwoFactorEnabledAt == &enabled, enabled)
	}
}
