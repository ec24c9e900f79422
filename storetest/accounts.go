package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testAccounts(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	enabled := at(2*time.Hour + 7*time.Microsecond)
	alice := &keyward.Account{ID: newID(accountPrefix), Email: "Alice.Smith@Example.COM", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: at(0)}
	bob := &keyward.Account{ID: newID(accountPrefix), Email: "bob@exämple.org", PasswordHash: "h2", CreatedAt: at(time.Minute + 1), TwoFactorEnabledAt: &enabled}
	must(t, s.CreateAccount(ctx, alice), "CreateAccount alice")
	must(t, s.CreateAccount(ctx, bob), "CreateAccount bob")

	t.Run("lookup", func(t *testing.T) {
		cases := []struct {
			name string
			get  func() (*keyward.Account, error)
			want *keyward.Account
			code keyward.Code
		}{
			{"by id", func() (*keyward.Account, error) { return s.AccountByID(ctx, alice.ID) }, alice, ""},
			{"by id with 2fa enabled", func() (*keyward.Account, error) { return s.AccountByID(ctx, bob.ID) }, bob, ""},
			{"by email as typed", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, alice.Email) }, alice, ""},
			{"by email lower case", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "alice.smith@example.com") }, alice, ""},
			{"by email upper case with spaces", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "  ALICE.SMITH@EXAMPLE.COM ") }, alice, ""},
			{"by email non-ascii", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "BOB@EXÄMPLE.ORG") }, bob, ""},
			{"unknown id", func() (*keyward.Account, error) { return s.AccountByID(ctx, newID(accountPrefix)) }, nil, keyward.CodeNotFound},
			{"unknown email", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "carol@example.com") }, nil, keyward.CodeNotFound},
			{"empty email", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "") }, nil, keyward.CodeNotFound},
			{"email prefix", func() (*keyward.Account, error) { return s.AccountByEmail(ctx, "alice") }, nil, keyward.CodeNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := c.get()
				if c.code != "" {
					wantCode(t, "lookup", err, c.code)
					return
				}
				must(t, err, "lookup")
				check(t, "account", got, c.want)
			})
		}
	})

	t.Run("times in UTC", func(t *testing.T) {
		got, err := s.AccountByID(ctx, bob.ID)
		must(t, err, "AccountByID")
		if got.CreatedAt.Location() != time.UTC || got.TwoFactorEnabledAt.Location() != time.UTC {
			t.Errorf("got locations %v and %v, want UTC", got.CreatedAt.Location(), got.TwoFactorEnabledAt.Location())
		}
	})

	t.Run("duplicate email", func(t *testing.T) {
		cases := []struct{ name, email string }{
			{"same", alice.Email},
			{"other case", "alice.smith@EXAMPLE.com"},
			{"spaces around", " alice.smith@example.com  "},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := s.CreateAccount(ctx, &keyward.Account{ID: newID(accountPrefix), Email: c.email, PasswordHash: "x", CreatedAt: at(time.Hour)})
				wantCode(t, "CreateAccount", err, keyward.CodeEmailTaken)
			})
		}
		t.Run("in a transaction", func(t *testing.T) {
			err := s.InTx(ctx, func(q keyward.Queries) error {
				return q.CreateAccount(ctx, &keyward.Account{ID: newID(accountPrefix), Email: "ALICE.smith@example.com", PasswordHash: "x", CreatedAt: at(time.Hour)})
			})
			wantCode(t, "InTx CreateAccount", err, keyward.CodeEmailTaken)
		})
	})

	t.Run("list", func(t *testing.T) {
		got, err := s.ListAccounts(ctx)
		must(t, err, "ListAccounts")
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
			switch a.ID {
			case alice.ID:
				check(t, "listed alice", a, *alice)
			case bob.ID:
				check(t, "listed bob", a, *bob)
			}
		}
		check(t, "listed ids", sortedStrings(ids), sortedStrings([]string{alice.ID, bob.ID}))
	})

	t.Run("set password hash", func(t *testing.T) {
		must(t, s.SetPasswordHash(ctx, alice.ID, "$argon2id$new"), "SetPasswordHash")
		got, err := s.AccountByID(ctx, alice.ID)
		must(t, err, "AccountByID")
		want := *alice
		want.PasswordHash = "$argon2id$new"
		check(t, "account after SetPasswordHash", got, &want)
		other, err := s.AccountByID(ctx, bob.ID)
		must(t, err, "AccountByID bob")
		check(t, "other account's hash", other.PasswordHash, bob.PasswordHash)
		wantCode(t, "SetPasswordHash unknown account", s.SetPasswordHash(ctx, newID(accountPrefix), "x"), keyward.CodeNotFound)
	})

	t.Run("two-factor flag follows TOTP", func(t *testing.T) {
		c := &keyward.TOTPCredential{AccountID: alice.ID, SealedSecret: "k1:sealed", EnabledAt: at(3 * time.Hour), LastStep: 42}
		must(t, s.EnableTOTP(ctx, c), "EnableTOTP")
		got, err := s.AccountByEmail(ctx, alice.Email)
		must(t, err, "AccountByEmail")
		check(t, "TwoFactorEnabledAt after EnableTOTP", got.TwoFactorEnabledAt, &c.EnabledAt)
		if !got.TwoFactorEnabled() {
			t.Errorf("TwoFactorEnabled() = false after EnableTOTP")
		}
		must(t, s.DisableTOTP(ctx, alice.ID), "DisableTOTP")
		got, err = s.AccountByID(ctx, alice.ID)
		must(t, err, "AccountByID")
		check(t, "TwoFactorEnabledAt after DisableTOTP", got.TwoFactorEnabledAt, (*time.Time)(nil))
	})
}
