package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

const passkeyPrefix = "pk_"

// newPasskey returns a passkey of the account with fresh ids and keys.
func newPasskey(accountID, name string, created time.Time) *keyward.Passkey {
	return &keyward.Passkey{
		ID: newID(passkeyPrefix), AccountID: accountID, CredentialID: randBytes(64), PublicKey: randBytes(77),
		SignCount: 7, BackupEligible: true, BackupState: true, UserVerified: true, AAGUID: randBytes(16),
		Transports: []string{"hybrid", "internal"}, Name: name, CreatedAt: created,
	}
}

func testPasskeys(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("user handles", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		ha := randBytes(32)
		got, err := s.EnsureUserHandle(ctx, a.ID, ha)
		must(t, err, "EnsureUserHandle")
		check(t, "first handle", got, ha)
		got, err = s.EnsureUserHandle(ctx, a.ID, randBytes(32))
		must(t, err, "EnsureUserHandle again")
		check(t, "the handle stays", got, ha)
		_, err = s.EnsureUserHandle(ctx, b.ID, ha)
		wantCode(t, "another account's handle", err, keyward.CodeConflict)
		_, err = s.EnsureUserHandle(ctx, newID(accountPrefix), randBytes(32))
		wantCode(t, "no such account", err, keyward.CodeNotFound)

		id, err := s.AccountIDByUserHandle(ctx, ha)
		must(t, err, "AccountIDByUserHandle")
		check(t, "account by handle", id, a.ID)
		_, err = s.AccountIDByUserHandle(ctx, randBytes(32))
		wantCode(t, "unknown handle", err, keyward.CodeNotFound)
		_, err = s.AccountIDByUserHandle(ctx, ha[:16])
		wantCode(t, "prefix of a handle", err, keyward.CodeNotFound)

		// Of concurrent first calls with different candidates, every
		// caller gets the one that was stored.
		res, errs := race(10, func(int) ([]byte, error) { return s.EnsureUserHandle(ctx, b.ID, randBytes(32)) })
		for i := range res {
			must(t, errs[i], "concurrent EnsureUserHandle")
			check(t, "concurrent handle", res[i], res[0])
		}
		id, err = s.AccountIDByUserHandle(ctx, res[0])
		must(t, err, "AccountIDByUserHandle b")
		check(t, "account by the raced handle", id, b.ID)
	})

	t.Run("create and list", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		list := func(t testing.TB, accountID string) []keyward.Passkey {
			t.Helper()
			got, err := s.ListPasskeys(ctx, accountID)
			must(t, err, "ListPasskeys")
			return got
		}
		check(t, "no passkeys yet", len(list(t, a.ID)), 0)

		p2 := newPasskey(a.ID, "Laptop", at(2*time.Second))
		p1 := newPasskey(a.ID, "Security key", at(time.Second))
		p1.SignCount, p1.BackupEligible, p1.BackupState, p1.UserVerified = 0, false, false, false
		p1.AAGUID, p1.Transports = nil, nil
		used := at(time.Hour)
		p2.LastUsedAt = &used
		pb := newPasskey(b.ID, "Phone", at(0))
		pb.SignCount = 1<<32 - 1 // the largest counter an authenticator can report
		for _, p := range []*keyward.Passkey{p2, p1, pb} {
			must(t, s.CreatePasskey(ctx, p), "CreatePasskey "+p.Name)
		}
		check(t, "a's passkeys, oldest first", list(t, a.ID), []keyward.Passkey{*p1, *p2})
		check(t, "b's passkeys", list(t, b.ID), []keyward.Passkey{*pb})

		got, err := s.PasskeyByCredentialID(ctx, pb.CredentialID)
		must(t, err, "PasskeyByCredentialID")
		check(t, "by credential id", got, pb)
		_, err = s.PasskeyByCredentialID(ctx, randBytes(64))
		wantCode(t, "unknown credential id", err, keyward.CodeNotFound)
		_, err = s.PasskeyByCredentialID(ctx, pb.CredentialID[:32])
		wantCode(t, "prefix of a credential id", err, keyward.CodeNotFound)

		dup := newPasskey(b.ID, "Copy", at(3*time.Second))
		dup.CredentialID = p1.CredentialID
		wantCode(t, "a credential id registered to another account", s.CreatePasskey(ctx, dup), keyward.CodeConflict)
		check(t, "b's passkeys after the refused copy", list(t, b.ID), []keyward.Passkey{*pb})
		wantCode(t, "no such account", s.CreatePasskey(ctx, newPasskey(newID(accountPrefix), "Ghost", at(0))), keyward.CodeNotFound)

		// A refused insert leaves a transaction usable (PostgreSQL aborts
		// one after a unique violation).
		must(t, s.InTx(ctx, func(q keyward.Queries) error {
			wantCode(t, "duplicate in a transaction", q.CreatePasskey(ctx, dup), keyward.CodeConflict)
			return q.CreatePasskey(ctx, newPasskey(b.ID, "After", at(4*time.Second)))
		}), "InTx after a duplicate")
		check(t, "b's passkeys after the transaction", len(list(t, b.ID)), 2)

		// Of concurrent inserts of one credential, one wins.
		one := newPasskey(a.ID, "Raced", at(5*time.Second))
		res, errs := race(10, func(int) (bool, error) {
			p := *one
			p.ID = newID(passkeyPrefix)
			err := s.CreatePasskey(ctx, &p)
			if keyward.IsCode(err, keyward.CodeConflict) {
				return false, nil
			}
			return err == nil, err
		})
		check(t, "winners", countTrue(t, "CreatePasskey", res, errs), 1)
	})

	t.Run("rename, use and delete", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		pa, pb := newPasskey(a.ID, "Old name", at(0)), newPasskey(b.ID, "B's", at(0))
		must(t, s.CreatePasskey(ctx, pa), "CreatePasskey a")
		must(t, s.CreatePasskey(ctx, pb), "CreatePasskey b")
		get := func(t testing.TB, p *keyward.Passkey) *keyward.Passkey {
			t.Helper()
			got, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
			must(t, err, "PasskeyByCredentialID")
			return got
		}

		must(t, s.RenamePasskey(ctx, a.ID, pa.ID, "Work laptop"), "RenamePasskey")
		check(t, "renamed", get(t, pa).Name, "Work laptop")
		wantCode(t, "rename another account's passkey", s.RenamePasskey(ctx, a.ID, pb.ID, "Mine"), keyward.CodeNotFound)
		wantCode(t, "rename a missing passkey", s.RenamePasskey(ctx, a.ID, newID(passkeyPrefix), "x"), keyward.CodeNotFound)
		check(t, "b's name", get(t, pb).Name, "B's")

		cases := []struct {
			name      string
			from, to  uint32
			backup    bool
			want      bool
			wantCount uint32
		}{
			{"from a counter it no longer has", 6, 9, false, false, 7},
			{"forward", 7, 9, false, true, 9},
			{"from the old counter again", 7, 10, true, false, 9},
			{"a counter that stays zero", 9, 0, true, true, 0},
			{"zero again", 0, 0, true, true, 0},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				when := at(time.Duration(i+1) * time.Minute)
				before := get(t, pa)
				ok, err := s.UsePasskey(ctx, pa.ID, c.from, c.to, c.backup, when)
				must(t, err, "UsePasskey")
				check(t, "used", ok, c.want)
				want := *before
				if c.want {
					want.SignCount, want.BackupState, want.LastUsedAt = c.to, c.backup, &when
				}
				check(t, "passkey after", get(t, pa), &want)
			})
		}
		ok, err := s.UsePasskey(ctx, newID(passkeyPrefix), 0, 1, false, at(time.Hour))
		must(t, err, "UsePasskey missing")
		check(t, "use of a missing passkey", ok, false)

		// Of concurrent uses from one counter, exactly one wins.
		cur := get(t, pa).SignCount
		res, errs := race(10, func(i int) (bool, error) {
			return s.UsePasskey(ctx, pa.ID, cur, cur+uint32(i)+1, false, at(2*time.Hour))
		})
		check(t, "winners", countTrue(t, "UsePasskey", res, errs), 1)

		ok, err = s.DeletePasskey(ctx, a.ID, pb.ID)
		must(t, err, "DeletePasskey of another account")
		check(t, "deleted another account's", ok, false)
		res, errs = race(5, func(int) (bool, error) { return s.DeletePasskey(ctx, a.ID, pa.ID) })
		check(t, "concurrent deletes that saw it", countTrue(t, "DeletePasskey", res, errs), 1)
		_, err = s.PasskeyByCredentialID(ctx, pa.CredentialID)
		wantCode(t, "deleted passkey", err, keyward.CodeNotFound)

		must(t, s.CreatePasskey(ctx, newPasskey(b.ID, "Second", at(time.Second))), "CreatePasskey")
		n, err := s.DeletePasskeys(ctx, b.ID)
		must(t, err, "DeletePasskeys")
		check(t, "deleted every passkey", n, 2)
		n, err = s.DeletePasskeys(ctx, b.ID)
		must(t, err, "DeletePasskeys again")
		check(t, "deleted again", n, 0)
	})
}

func newPasskeyChallenge(purpose keyward.CeremonyPurpose, accountID string, expires time.Time) *keyward.PasskeyChallenge {
	return &keyward.PasskeyChallenge{IDHash: randBytes(32), Purpose: purpose, AccountID: accountID, State: randBytes(120),
		CreatedAt: at(0), ExpiresAt: expires}
}

func testPasskeyChallenges(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	register := newPasskeyChallenge(keyward.CeremonyRegister, a.ID, at(5*time.Minute))
	register.SessionID = newID(sessionPrefix)
	signIn := newPasskeyChallenge(keyward.CeremonySignIn, "", at(5*time.Minute))
	second := newPasskeyChallenge(keyward.CeremonySecondStep, a.ID, at(5*time.Minute))
	second.MFAHash = randBytes(32)
	for _, c := range []*keyward.PasskeyChallenge{register, signIn, second} {
		must(t, s.CreatePasskeyChallenge(ctx, c), "CreatePasskeyChallenge "+string(c.Purpose))
		got, err := s.PasskeyChallenge(ctx, c.IDHash)
		must(t, err, "PasskeyChallenge")
		check(t, "challenge "+string(c.Purpose), got, c)
	}
	_, err := s.PasskeyChallenge(ctx, randBytes(32))
	wantCode(t, "unknown challenge", err, keyward.CodeNotFound)
	wantCode(t, "a challenge of no account", s.CreatePasskeyChallenge(ctx, newPasskeyChallenge(keyward.CeremonySudo, newID(accountPrefix), at(time.Minute))), keyward.CodeNotFound)

	res, errs := race(20, func(int) (bool, error) { return s.ConsumePasskeyChallenge(ctx, signIn.IDHash) })
	check(t, "winners", countTrue(t, "ConsumePasskeyChallenge", res, errs), 1)
	res, errs = race(20, func(int) (bool, error) {
		var won bool
		err := s.InTx(ctx, func(q keyward.Queries) error {
			var err error
			won, err = q.ConsumePasskeyChallenge(ctx, second.IDHash)
			return err
		})
		return won, err
	})
	check(t, "winners in transactions", countTrue(t, "InTx ConsumePasskeyChallenge", res, errs), 1)
	_, err = s.PasskeyChallenge(ctx, signIn.IDHash)
	wantCode(t, "consumed challenge", err, keyward.CodeNotFound)
	got, err := s.PasskeyChallenge(ctx, register.IDHash)
	must(t, err, "the other challenge")
	check(t, "the other challenge", got, register)
}

// testTwoFactorWithPasskeys covers how the TOTP credential and the
// account's two-factor flag behave beside another factor.
func testTwoFactorWithPasskeys(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	enabledAt := func(t testing.TB) *time.Time {
		t.Helper()
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		return got.TwoFactorEnabledAt
	}
	_, err := s.BackupCodeSalt(ctx, a.ID)
	wantCode(t, "BackupCodeSalt without codes", err, keyward.CodeNotFound)

	first := at(time.Minute)
	ok, err := s.TurnOnTwoFactor(ctx, a.ID, first)
	must(t, err, "TurnOnTwoFactor")
	check(t, "turned on", ok, true)
	ok, err = s.TurnOnTwoFactor(ctx, a.ID, at(time.Hour))
	must(t, err, "TurnOnTwoFactor again")
	check(t, "turned on again", ok, false)
	check(t, "TwoFactorEnabledAt", enabledAt(t), &first)
	_, err = s.TurnOnTwoFactor(ctx, newID(accountPrefix), first)
	wantCode(t, "TurnOnTwoFactor of no account", err, keyward.CodeNotFound)

	salt := randBytes(16)
	must(t, s.ReplaceBackupCodes(ctx, a.ID, salt, [][]byte{randBytes(32), randBytes(32)}), "ReplaceBackupCodes")
	got, err := s.BackupCodeSalt(ctx, a.ID)
	must(t, err, "BackupCodeSalt")
	check(t, "salt", got, salt)

	// TOTP added later keeps the time two-factor was first turned on.
	must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:a", EnabledAt: at(2 * time.Hour), LastStep: 1}), "EnableTOTP")
	check(t, "TwoFactorEnabledAt after TOTP", enabledAt(t), &first)
	must(t, s.PutPendingTOTP(ctx, &keyward.PendingTOTP{AccountID: a.ID, SealedSecret: "k1:p", CreatedAt: at(0), ExpiresAt: at(time.Hour)}), "PutPendingTOTP")

	// Removing TOTP leaves the codes and the flag to the other factor.
	must(t, s.RemoveTOTP(ctx, a.ID), "RemoveTOTP")
	_, err = s.TOTPCredential(ctx, a.ID)
	wantCode(t, "TOTPCredential after RemoveTOTP", err, keyward.CodeNotFound)
	_, err = s.PendingTOTP(ctx, a.ID)
	wantCode(t, "PendingTOTP after RemoveTOTP", err, keyward.CodeNotFound)
	n, err := s.BackupCodesRemaining(ctx, a.ID)
	must(t, err, "BackupCodesRemaining")
	check(t, "backup codes kept", n, 2)
	check(t, "TwoFactorEnabledAt kept", enabledAt(t), &first)
	must(t, s.RemoveTOTP(ctx, a.ID), "RemoveTOTP again")

	// DisableTOTP turns the whole of it off.
	must(t, s.DisableTOTP(ctx, a.ID), "DisableTOTP")
	check(t, "TwoFactorEnabledAt after DisableTOTP", enabledAt(t), (*time.Time)(nil))
	_, err = s.BackupCodeSalt(ctx, a.ID)
	wantCode(t, "BackupCodeSalt after DisableTOTP", err, keyward.CodeNotFound)
}
