package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testTOTP(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("pending", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		_, err := s.PendingTOTP(ctx, a.ID)
		wantCode(t, "PendingTOTP before any", err, keyward.CodeNotFound)

		// A replacing setup may come from another session: it takes the
		// session id along with the seed.
		p1 := &keyward.PendingTOTP{AccountID: a.ID, SessionID: newID(sessionPrefix), SealedSecret: "k1:first", CreatedAt: at(0), ExpiresAt: at(10 * time.Minute)}
		p2 := &keyward.PendingTOTP{AccountID: a.ID, SessionID: newID(sessionPrefix), SealedSecret: "k1:second", CreatedAt: at(time.Minute), ExpiresAt: at(11 * time.Minute)}
		pb := &keyward.PendingTOTP{AccountID: b.ID, SessionID: newID(sessionPrefix), SealedSecret: "k2:b", CreatedAt: at(2), ExpiresAt: at(3)}
		steps := []struct {
			name string
			put  *keyward.PendingTOTP
			want *keyward.PendingTOTP
		}{
			{"put", p1, p1},
			{"replace", p2, p2},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				must(t, s.PutPendingTOTP(ctx, st.put), "PutPendingTOTP")
				got, err := s.PendingTOTP(ctx, a.ID)
				must(t, err, "PendingTOTP")
				check(t, "pending", got, st.want)
			})
		}
		must(t, s.PutPendingTOTP(ctx, pb), "PutPendingTOTP b")
		check(t, "ResealSecrets reads", sealedSecrets(t, s), sortSealed([]keyward.SealedSecret{
			{AccountID: a.ID, Pending: true, Sealed: p2.SealedSecret},
			{AccountID: b.ID, Pending: true, Sealed: pb.SealedSecret},
		}))

		must(t, s.DeletePendingTOTP(ctx, a.ID), "DeletePendingTOTP")
		_, err = s.PendingTOTP(ctx, a.ID)
		wantCode(t, "PendingTOTP after delete", err, keyward.CodeNotFound)
		must(t, s.DeletePendingTOTP(ctx, a.ID), "DeletePendingTOTP again")
		got, err := s.PendingTOTP(ctx, b.ID)
		must(t, err, "other account's pending survives")
		check(t, "other pending", got, pb)

		// pb expired at at(3); a fresh setup of a's stays.
		must(t, s.PutPendingTOTP(ctx, p1), "PutPendingTOTP again")
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{Now: at(3)})
		must(t, err, "DeleteExpired")
		check(t, "expired setups deleted", n, keyward.Expired{PendingTOTP: 1})
		_, err = s.PendingTOTP(ctx, b.ID)
		wantCode(t, "expired setup", err, keyward.CodeNotFound)
		got, err = s.PendingTOTP(ctx, a.ID)
		must(t, err, "unexpired setup survives")
		check(t, "unexpired setup", got, p1)
	})

	t.Run("enable", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		_, err := s.TOTPCredential(ctx, a.ID)
		wantCode(t, "TOTPCredential before enable", err, keyward.CodeNotFound)
		ca := &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:a", EnabledAt: at(time.Hour + 5*time.Microsecond), LastStep: 59_000_001}
		cb := &keyward.TOTPCredential{AccountID: b.ID, SealedSecret: "k1:b", EnabledAt: at(2 * time.Hour), LastStep: 7}
		must(t, s.EnableTOTP(ctx, ca), "EnableTOTP a")
		must(t, s.EnableTOTP(ctx, cb), "EnableTOTP b")
		got, err := s.TOTPCredential(ctx, a.ID)
		must(t, err, "TOTPCredential")
		check(t, "credential", got, ca)
		acct, err := s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		check(t, "TwoFactorEnabledAt", acct.TwoFactorEnabledAt, &ca.EnabledAt)
		check(t, "ResealSecrets reads", sealedSecrets(t, s), sortSealed([]keyward.SealedSecret{
			{AccountID: a.ID, Sealed: ca.SealedSecret},
			{AccountID: b.ID, Sealed: cb.SealedSecret},
		}))
	})

	t.Run("advance step", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:a", EnabledAt: at(0), LastStep: 1000}), "EnableTOTP")
		cases := []struct {
			name     string
			step     int64
			want     bool
			wantLast int64
		}{
			{"same step", 1000, false, 1000},
			{"lower step", 999, false, 1000},
			{"next step", 1001, true, 1001},
			{"next step again", 1001, false, 1001},
			{"jump forward", 1005, true, 1005},
			{"back between", 1003, false, 1005},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.AdvanceTOTPStep(ctx, a.ID, c.step)
				must(t, err, "AdvanceTOTPStep")
				check(t, "advanced", got, c.want)
				cred, err := s.TOTPCredential(ctx, a.ID)
				must(t, err, "TOTPCredential")
				check(t, "LastStep", cred.LastStep, c.wantLast)
			})
		}
		t.Run("no credential", func(t *testing.T) {
			got, err := s.AdvanceTOTPStep(ctx, newID(accountPrefix), 5000)
			if err != nil && !keyward.IsCode(err, keyward.CodeNotFound) {
				t.Errorf("AdvanceTOTPStep without a credential: got error %v, want none or not_found", err)
			}
			check(t, "advanced", got, false)
		})
	})

	t.Run("advance step concurrently", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:a", EnabledAt: at(0), LastStep: 1000}), "EnableTOTP")
		res, errs := race(20, func(int) (bool, error) { return s.AdvanceTOTPStep(ctx, a.ID, 1001) })
		check(t, "winners", countTrue(t, "AdvanceTOTPStep", res, errs), 1)
		// The same, each in its own transaction.
		res, errs = race(20, func(int) (bool, error) {
			var won bool
			err := s.InTx(ctx, func(q keyward.Queries) error {
				var err error
				won, err = q.AdvanceTOTPStep(ctx, a.ID, 1002)
				return err
			})
			return won, err
		})
		check(t, "winners in transactions", countTrue(t, "InTx AdvanceTOTPStep", res, errs), 1)
		cred, err := s.TOTPCredential(ctx, a.ID)
		must(t, err, "TOTPCredential")
		check(t, "LastStep", cred.LastStep, int64(1002))
	})

	t.Run("second factor failures", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		_, err := s.AddSecondFactorFailure(ctx, a.ID)
		wantCode(t, "AddSecondFactorFailure without a credential", err, keyward.CodeNotFound)
		wantCode(t, "ClearSecondFactorFailures without a credential", s.ClearSecondFactorFailures(ctx, a.ID), keyward.CodeNotFound)
		for _, acct := range []*keyward.Account{a, b} {
			must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: acct.ID, SealedSecret: "k1:" + acct.ID, EnabledAt: at(0), LastStep: 1}), "EnableTOTP")
		}
		for want := 1; want <= 3; want++ {
			n, err := s.AddSecondFactorFailure(ctx, a.ID)
			must(t, err, "AddSecondFactorFailure")
			check(t, "count", n, want)
		}
		got, err := s.TOTPCredential(ctx, a.ID)
		must(t, err, "TOTPCredential")
		check(t, "Failures", got.Failures, 3)
		got, err = s.TOTPCredential(ctx, b.ID)
		must(t, err, "TOTPCredential b")
		check(t, "b's Failures", got.Failures, 0)

		// Concurrent failures are all counted, each with its own count.
		res, errs := race(20, func(int) (int, error) {
			var n int
			err := s.InTx(ctx, func(q keyward.Queries) error {
				var err error
				n, err = q.AddSecondFactorFailure(ctx, b.ID)
				return err
			})
			return n, err
		})
		for _, err := range errs {
			must(t, err, "concurrent AddSecondFactorFailure")
		}
		slices.Sort(res)
		want := make([]int, 20)
		for i := range want {
			want[i] = i + 1
		}
		check(t, "concurrent counts", res, want)

		must(t, s.ClearSecondFactorFailures(ctx, a.ID), "ClearSecondFactorFailures")
		got, err = s.TOTPCredential(ctx, a.ID)
		must(t, err, "TOTPCredential")
		check(t, "Failures after clear", got.Failures, 0)
		got, err = s.TOTPCredential(ctx, b.ID)
		must(t, err, "TOTPCredential b")
		check(t, "b's Failures untouched", got.Failures, 20)

		// A credential enabled anew starts from its own count.
		must(t, s.DisableTOTP(ctx, b.ID), "DisableTOTP")
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: b.ID, SealedSecret: "k1:again", EnabledAt: at(time.Hour), LastStep: 2}), "EnableTOTP again")
		got, err = s.TOTPCredential(ctx, b.ID)
		must(t, err, "TOTPCredential b again")
		check(t, "Failures after re-enabling", got.Failures, 0)
	})

	// Key rotation writes a re-sealed seed back only over the value it
	// read: a seed turned off, or off and on again, meanwhile stays as it is.
	t.Run("reseal secret", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		c := &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:old", EnabledAt: at(0), LastStep: 77}
		must(t, s.EnableTOTP(ctx, c), "EnableTOTP")
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: b.ID, SealedSecret: "k1:old", EnabledAt: at(0), LastStep: 1}), "EnableTOTP b")
		cases := []struct {
			name      string
			meanwhile func() // runs between reading a's seed and writing it back
			want      keyward.Resealed
			wantSeed  string // "" for no credential
		}{
			{"from the value it has", nil, keyward.Resealed{Swapped: 1}, "k2:new"},
			{"after off and on with a new seed", func() {
				must(t, s.DisableTOTP(ctx, a.ID), "DisableTOTP")
				must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k2:reenrolled", EnabledAt: at(time.Hour), LastStep: 9}), "EnableTOTP again")
			}, keyward.Resealed{Changed: 1}, "k2:reenrolled"},
			{"turned off", func() { must(t, s.DisableTOTP(ctx, a.ID), "DisableTOTP") }, keyward.Resealed{Changed: 1}, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := resealOne(t, s, a.ID, false, tc.meanwhile, "k2:new")
				check(t, "resealed", got, tc.want)
				cred, err := s.TOTPCredential(ctx, a.ID)
				if tc.wantSeed == "" {
					wantCode(t, "TOTPCredential", err, keyward.CodeNotFound)
					return
				}
				must(t, err, "TOTPCredential")
				check(t, "sealed seed", cred.SealedSecret, tc.wantSeed)
			})
		}
		t.Run("rest of the credential kept", func(t *testing.T) {
			must(t, s.EnableTOTP(ctx, c), "EnableTOTP")
			check(t, "resealed", resealOne(t, s, a.ID, false, nil, "k2:new"), keyward.Resealed{Swapped: 1})
			got, err := s.TOTPCredential(ctx, a.ID)
			must(t, err, "TOTPCredential")
			want := *c
			want.SealedSecret = "k2:new"
			check(t, "credential", got, &want)
		})
		t.Run("other account untouched", func(t *testing.T) {
			cred, err := s.TOTPCredential(ctx, b.ID)
			must(t, err, "TOTPCredential b")
			check(t, "b's seed", cred.SealedSecret, "k1:old")
		})
		t.Run("in a transaction", func(t *testing.T) {
			var got keyward.Resealed
			must(t, s.InTx(ctx, func(q keyward.Queries) error {
				var err error
				got, err = q.ResealSecrets(ctx, func(v keyward.SealedSecret) (string, error) {
					if v.AccountID != a.ID {
						return "", nil
					}
					return "k3:tx", nil
				})
				return err
			}), "InTx")
			check(t, "resealed", got, keyward.Resealed{Swapped: 1})
			cred, err := s.TOTPCredential(ctx, a.ID)
			must(t, err, "TOTPCredential")
			check(t, "sealed seed", cred.SealedSecret, "k3:tx")
		})
		t.Run("an error from fn stops the walk", func(t *testing.T) {
			errStop := errors.New("stop")
			calls := 0
			got, err := s.ResealSecrets(ctx, func(keyward.SealedSecret) (string, error) {
				calls++
				return "k9:never", errStop
			})
			check(t, "error is fn's", errors.Is(err, errStop), true)
			check(t, "calls", calls, 1)
			check(t, "resealed", got, keyward.Resealed{})
			for _, id := range []string{a.ID, b.ID} {
				cred, err := s.TOTPCredential(ctx, id)
				must(t, err, "TOTPCredential")
				if cred.SealedSecret == "k9:never" {
					t.Errorf("a seed was written from a call that failed")
				}
			}
		})
	})

	t.Run("reseal pending secret", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		p := &keyward.PendingTOTP{AccountID: a.ID, SessionID: newID(sessionPrefix), SealedSecret: "k1:old", CreatedAt: at(0), ExpiresAt: at(time.Hour)}
		pb := &keyward.PendingTOTP{AccountID: b.ID, SessionID: newID(sessionPrefix), SealedSecret: "k1:old", CreatedAt: at(0), ExpiresAt: at(time.Hour)}
		must(t, s.PutPendingTOTP(ctx, pb), "PutPendingTOTP b")
		replaced := &keyward.PendingTOTP{AccountID: a.ID, SessionID: newID(sessionPrefix), SealedSecret: "k2:replaced", CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)}
		cases := []struct {
			name      string
			meanwhile func()
			want      keyward.Resealed
			// wantPending is the setup then stored, nil for none.
			wantPending *keyward.PendingTOTP
		}{
			{"from the value it has", nil, keyward.Resealed{Swapped: 1},
				&keyward.PendingTOTP{AccountID: a.ID, SessionID: p.SessionID, SealedSecret: "k2:new", CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}},
			{"after another setup replaced it", func() {
				must(t, s.PutPendingTOTP(ctx, replaced), "PutPendingTOTP replacing")
			}, keyward.Resealed{Changed: 1}, replaced},
			{"after it was deleted", func() {
				must(t, s.DeletePendingTOTP(ctx, a.ID), "DeletePendingTOTP")
			}, keyward.Resealed{Changed: 1}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				must(t, s.PutPendingTOTP(ctx, p), "PutPendingTOTP")
				got := resealOne(t, s, a.ID, true, tc.meanwhile, "k2:new")
				check(t, "resealed", got, tc.want)
				cur, err := s.PendingTOTP(ctx, a.ID)
				if tc.wantPending == nil {
					wantCode(t, "PendingTOTP", err, keyward.CodeNotFound)
					return
				}
				must(t, err, "PendingTOTP")
				check(t, "pending", cur, tc.wantPending)
			})
		}
		t.Run("confirmed with the same sealed seed", func(t *testing.T) {
			must(t, s.PutPendingTOTP(ctx, p), "PutPendingTOTP")
			got := resealOne(t, s, a.ID, true, func() {
				must(t, s.DeletePendingTOTP(ctx, a.ID), "DeletePendingTOTP")
				must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: p.SealedSecret, EnabledAt: at(time.Hour)}), "EnableTOTP")
			}, "k2:new")
			check(t, "resealed", got, keyward.Resealed{Changed: 1})
			cred, err := s.TOTPCredential(ctx, a.ID)
			must(t, err, "TOTPCredential")
			check(t, "the credential's seed (a pending swap never writes it)", cred.SealedSecret, p.SealedSecret)
		})
		got, err := s.PendingTOTP(ctx, b.ID)
		must(t, err, "PendingTOTP b")
		check(t, "other account's setup", got, pb)
	})

	t.Run("disable", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		codes := [][]byte{randBytes(32), randBytes(32)}
		for _, acct := range []*keyward.Account{a, b} {
			must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: acct.ID, SealedSecret: "k1:" + acct.ID, EnabledAt: at(0), LastStep: 1}), "EnableTOTP")
			must(t, s.ReplaceBackupCodes(ctx, acct.ID, randBytes(16), codes), "ReplaceBackupCodes")
			must(t, s.PutPendingTOTP(ctx, &keyward.PendingTOTP{AccountID: acct.ID, SealedSecret: "k1:p", CreatedAt: at(0), ExpiresAt: at(time.Hour)}), "PutPendingTOTP")
		}
		must(t, s.DisableTOTP(ctx, a.ID), "DisableTOTP")

		_, err := s.TOTPCredential(ctx, a.ID)
		wantCode(t, "TOTPCredential after disable", err, keyward.CodeNotFound)
		_, err = s.PendingTOTP(ctx, a.ID)
		wantCode(t, "PendingTOTP after disable", err, keyward.CodeNotFound)
		n, err := s.BackupCodesRemaining(ctx, a.ID)
		must(t, err, "BackupCodesRemaining")
		check(t, "backup codes remaining", n, 0)
		used, err := s.UseBackupCode(ctx, a.ID, codes[0], at(time.Hour))
		must(t, err, "UseBackupCode")
		check(t, "old backup code used", used, false)
		acct, err := s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		check(t, "TwoFactorEnabledAt", acct.TwoFactorEnabledAt, (*time.Time)(nil))

		t.Run("other account untouched", func(t *testing.T) {
			_, err := s.TOTPCredential(ctx, b.ID)
			must(t, err, "TOTPCredential b")
			_, err = s.PendingTOTP(ctx, b.ID)
			must(t, err, "PendingTOTP b")
			n, err := s.BackupCodesRemaining(ctx, b.ID)
			must(t, err, "BackupCodesRemaining b")
			check(t, "b's codes", n, 2)
			acct, err := s.AccountByID(ctx, b.ID)
			must(t, err, "AccountByID b")
			if !acct.TwoFactorEnabled() {
				t.Errorf("b's TwoFactorEnabledAt was cleared")
			}
		})
		must(t, s.DisableTOTP(ctx, a.ID), "DisableTOTP again")
	})
}

func testBackupCodes(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")
	for _, acct := range []*keyward.Account{a, b} {
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: acct.ID, SealedSecret: "k1", EnabledAt: at(0), LastStep: 1}), "EnableTOTP")
	}
	newSet := func() [][]byte {
		set := make([][]byte, 10)
		for i := range set {
			set[i] = randBytes(32)
		}
		return set
	}
	salt1, set1 := randBytes(16), newSet()
	setB := newSet()
	must(t, s.ReplaceBackupCodes(ctx, a.ID, salt1, set1), "ReplaceBackupCodes a")
	must(t, s.ReplaceBackupCodes(ctx, b.ID, randBytes(16), setB), "ReplaceBackupCodes b")

	remaining := func(t testing.TB, accountID string, want int) {
		t.Helper()
		n, err := s.BackupCodesRemaining(ctx, accountID)
		must(t, err, "BackupCodesRemaining")
		check(t, "remaining", n, want)
	}
	salt := func(t testing.TB, want []byte) {
		t.Helper()
		c, err := s.TOTPCredential(ctx, a.ID)
		must(t, err, "TOTPCredential")
		check(t, "BackupSalt", c.BackupSalt, want)
	}
	salt(t, salt1)
	remaining(t, a.ID, 10)

	t.Run("use", func(t *testing.T) {
		cases := []struct {
			name      string
			account   string
			hash      []byte
			want      bool
			remaining int
		}{
			{"unknown code", a.ID, randBytes(32), false, 10},
			{"another account's code", a.ID, setB[0], false, 10},
			{"own code used by another account", b.ID, set1[0], false, 10},
			{"first code", a.ID, set1[0], true, 9},
			{"first code again", a.ID, set1[0], false, 9},
			{"prefix of a code", a.ID, set1[1][:16], false, 9},
			{"last code", a.ID, set1[9], true, 8},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.UseBackupCode(ctx, c.account, c.hash, at(time.Hour))
				must(t, err, "UseBackupCode")
				check(t, "used", got, c.want)
				remaining(t, a.ID, c.remaining)
			})
		}
		remaining(t, b.ID, 10)
	})

	t.Run("use concurrently", func(t *testing.T) {
		res, errs := race(20, func(int) (bool, error) { return s.UseBackupCode(ctx, a.ID, set1[5], at(time.Hour)) })
		check(t, "winners", countTrue(t, "UseBackupCode", res, errs), 1)
		res, errs = race(20, func(int) (bool, error) {
			var won bool
			err := s.InTx(ctx, func(q keyward.Queries) error {
				var err error
				won, err = q.UseBackupCode(ctx, a.ID, set1[6], at(time.Hour))
				return err
			})
			return won, err
		})
		check(t, "winners in transactions", countTrue(t, "InTx UseBackupCode", res, errs), 1)
		remaining(t, a.ID, 6)
	})

	t.Run("replace", func(t *testing.T) {
		salt2, set2 := randBytes(16), newSet()
		must(t, s.ReplaceBackupCodes(ctx, a.ID, salt2, set2), "ReplaceBackupCodes")
		salt(t, salt2)
		remaining(t, a.ID, 10)
		got, err := s.UseBackupCode(ctx, a.ID, set1[2], at(time.Hour))
		must(t, err, "UseBackupCode old")
		check(t, "old unused code works", got, false)
		got, err = s.UseBackupCode(ctx, a.ID, set2[2], at(time.Hour))
		must(t, err, "UseBackupCode new")
		check(t, "new code works", got, true)
		remaining(t, a.ID, 9)

		must(t, s.ReplaceBackupCodes(ctx, a.ID, randBytes(16), nil), "ReplaceBackupCodes empty")
		remaining(t, a.ID, 0)
		remaining(t, b.ID, 10)
		remaining(t, newID(accountPrefix), 0)
	})
}

// sealedSecrets returns every seed ResealSecrets reads, writing none.
func sealedSecrets(t testing.TB, s keyward.Store) []keyward.SealedSecret {
	t.Helper()
	var out []keyward.SealedSecret
	done, err := s.ResealSecrets(t.Context(), func(v keyward.SealedSecret) (string, error) {
		out = append(out, v)
		return "", nil
	})
	must(t, err, "ResealSecrets")
	check(t, "ResealSecrets wrote", done, keyward.Resealed{})
	return sortSealed(out)
}

func sortSealed(vs []keyward.SealedSecret) []keyward.SealedSecret {
	slices.SortFunc(vs, func(x, y keyward.SealedSecret) int {
		if c := strings.Compare(x.AccountID, y.AccountID); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(x.Pending), fmt.Sprint(y.Pending))
	})
	return vs
}

// resealOne runs ResealSecrets replacing the seed of accountID (the pending
// setup's when pending) with sealed, and no other; meanwhile, unless nil,
// runs between the seed being read and written.
func resealOne(t testing.TB, s keyward.Store, accountID string, pending bool, meanwhile func(), sealed string) keyward.Resealed {
	t.Helper()
	done, err := s.ResealSecrets(t.Context(), func(v keyward.SealedSecret) (string, error) {
		if v.AccountID != accountID || v.Pending != pending {
			return "", nil
		}
		if meanwhile != nil {
			meanwhile()
		}
		return sealed, nil
	})
	must(t, err, "ResealSecrets")
	return done
}
