package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func newChallenge(accountID string, expires time.Time) *keyward.MFAChallenge {
	return &keyward.MFAChallenge{TokenHash: randBytes(32), AccountID: accountID, CreatedAt: at(0), ExpiresAt: expires, IP: "198.51.100.4", UserAgent: "curl/8.5.0"}
}

func testMFAChallenges(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("consume once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		c := newChallenge(a.ID, at(5*time.Minute))
		must(t, s.CreateMFAChallenge(ctx, c), "CreateMFAChallenge")
		got, err := s.MFAChallenge(ctx, c.TokenHash)
		must(t, err, "MFAChallenge")
		check(t, "challenge", got, c)
		_, err = s.MFAChallenge(ctx, randBytes(32))
		wantCode(t, "unknown challenge", err, keyward.CodeNotFound)

		steps := []struct {
			name string
			hash []byte
			want bool
		}{
			{"unknown", randBytes(32), false},
			{"first", c.TokenHash, true},
			{"second", c.TokenHash, false},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				ok, err := s.ConsumeMFAChallenge(ctx, st.hash)
				must(t, err, "ConsumeMFAChallenge")
				check(t, "consumed", ok, st.want)
			})
		}
		_, err = s.MFAChallenge(ctx, c.TokenHash)
		wantCode(t, "consumed challenge", err, keyward.CodeNotFound)
	})

	t.Run("consume concurrently", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		c1, c2 := newChallenge(a.ID, at(time.Hour)), newChallenge(a.ID, at(time.Hour))
		must(t, s.CreateMFAChallenge(ctx, c1), "CreateMFAChallenge")
		must(t, s.CreateMFAChallenge(ctx, c2), "CreateMFAChallenge")
		res, errs := race(20, func(int) (bool, error) { return s.ConsumeMFAChallenge(ctx, c1.TokenHash) })
		check(t, "winners", countTrue(t, "ConsumeMFAChallenge", res, errs), 1)
		res, errs = race(20, func(int) (bool, error) {
			var won bool
			err := s.InTx(ctx, func(q keyward.Queries) error {
				var err error
				won, err = q.ConsumeMFAChallenge(ctx, c2.TokenHash)
				return err
			})
			return won, err
		})
		check(t, "winners in transactions", countTrue(t, "InTx ConsumeMFAChallenge", res, errs), 1)
	})

	t.Run("delete expired", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		now := at(time.Hour)
		past, edge, future := newChallenge(a.ID, now.Add(-time.Second)), newChallenge(a.ID, now), newChallenge(a.ID, now.Add(time.Microsecond))
		for _, c := range []*keyward.MFAChallenge{past, edge, future} {
			must(t, s.CreateMFAChallenge(ctx, c), "CreateMFAChallenge")
		}
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{Now: now})
		must(t, err, "DeleteExpired")
		check(t, "deleted", n, keyward.Expired{MFAChallenges: 2})
		_, err = s.MFAChallenge(ctx, future.TokenHash)
		must(t, err, "live challenge survives")
		_, err = s.MFAChallenge(ctx, edge.TokenHash)
		wantCode(t, "challenge expiring now", err, keyward.CodeNotFound)
	})
}

func testThrottle(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	const key, other = "account:0b6c1a0e", "ip:203.0.113.9"
	const window = 15 * time.Minute

	t.Run("unknown key", func(t *testing.T) {
		got, err := s.Throttle(ctx, key)
		must(t, err, "Throttle")
		check(t, "throttle", got, keyward.Throttle{Key: key})
	})

	t.Run("add failures", func(t *testing.T) {
		t2 := at(2 * time.Minute)
		steps := []struct {
			name         string
			now          time.Time
			forgetBefore time.Time
			want         int
		}{
			{"first", at(0), at(-window), 1},
			{"second", at(time.Minute), at(time.Minute - window), 2},
			{"third", t2, t2.Add(-window), 3},
			{"last failure exactly at forgetBefore is kept", t2.Add(window), t2, 4},
			{"after the window, start again", t2.Add(window + window + time.Microsecond), t2.Add(window + time.Microsecond), 1},
			{"and count on", t2.Add(3 * window), t2.Add(2 * window), 2},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				got, err := s.AddFailure(ctx, key, st.now, st.forgetBefore)
				must(t, err, "AddFailure")
				want := keyward.Throttle{Key: key, Failures: st.want, LastFailure: st.now}
				check(t, "AddFailure", got, want)
				got, err = s.Throttle(ctx, key)
				must(t, err, "Throttle")
				check(t, "Throttle", got, want)
			})
		}
		got, err := s.Throttle(ctx, other)
		must(t, err, "Throttle other")
		check(t, "other key", got, keyward.Throttle{Key: other})
	})

	t.Run("clear", func(t *testing.T) {
		_, err := s.AddFailure(ctx, other, at(0), at(-window))
		must(t, err, "AddFailure other")
		must(t, s.ClearThrottle(ctx, key), "ClearThrottle")
		got, err := s.Throttle(ctx, key)
		must(t, err, "Throttle")
		check(t, "cleared", got, keyward.Throttle{Key: key})
		got, err = s.Throttle(ctx, other)
		must(t, err, "Throttle other")
		check(t, "other key kept", got.Failures, 1)
		must(t, s.ClearThrottle(ctx, "never-seen"), "ClearThrottle unknown")
	})

	t.Run("delete stale keys", func(t *testing.T) {
		const stale, fresh = "ip:192.0.2.50", "ip:192.0.2.51"
		_, err := s.AddFailure(ctx, stale, at(10*time.Hour), at(9*time.Hour))
		must(t, err, "AddFailure stale")
		_, err = s.AddFailure(ctx, fresh, at(12*time.Hour), at(11*time.Hour))
		must(t, err, "AddFailure fresh")
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{ThrottlesBefore: at(11 * time.Hour)})
		must(t, err, "DeleteExpired")
		if n.Throttles < 1 || n != (keyward.Expired{Throttles: n.Throttles}) {
			t.Errorf("DeleteExpired deleted %+v, want the stale throttle at least, and nothing else", n)
		}
		got, err := s.Throttle(ctx, stale)
		must(t, err, "Throttle stale")
		check(t, "stale key forgotten", got, keyward.Throttle{Key: stale})
		got, err = s.Throttle(ctx, fresh)
		must(t, err, "Throttle fresh")
		check(t, "fresh key kept", got.Failures, 1)
	})

	t.Run("concurrent failures", func(t *testing.T) {
		const k = "ip:2001:db8::7"
		now := at(time.Hour)
		res, errs := race(20, func(int) (keyward.Throttle, error) { return s.AddFailure(ctx, k, now, now.Add(-window)) })
		var counts []int
		for i, r := range res {
			if errs[i] != nil {
				t.Errorf("goroutine %d: %v", i, errs[i])
			}
			counts = append(counts, r.Failures)
		}
		slices.Sort(counts)
		want := make([]int, 20)
		for i := range want {
			want[i] = i + 1
		}
		check(t, "counts returned (each failure counted once)", counts, want)
		got, err := s.Throttle(ctx, k)
		must(t, err, "Throttle")
		check(t, "throttle", got, keyward.Throttle{Key: k, Failures: 20, LastFailure: now})
	})
}

func testInvalidations(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")

	last, err := s.LastInvalidation(ctx)
	must(t, err, "LastInvalidation")
	check(t, "LastInvalidation when empty", last, int64(0))
	got, err := s.InvalidationsSince(ctx, 0, 10)
	must(t, err, "InvalidationsSince")
	check(t, "InvalidationsSince when empty", len(got), 0)

	accounts := []string{a.ID, b.ID, a.ID, b.ID, a.ID}
	for i, id := range accounts {
		must(t, s.AddInvalidation(ctx, id, at(time.Duration(i)*time.Minute)), "AddInvalidation")
	}
	all, err := s.InvalidationsSince(ctx, 0, 100)
	must(t, err, "InvalidationsSince")
	if len(all) != len(accounts) {
		t.Fatalf("InvalidationsSince(0, 100): got %d rows, want %d", len(all), len(accounts))
	}
	for i, inv := range all {
		check(t, fmt.Sprintf("row %d", i), keyward.Invalidation{AccountID: inv.AccountID, At: inv.At}, keyward.Invalidation{AccountID: accounts[i], At: at(time.Duration(i) * time.Minute)})
		if i > 0 && inv.Seq <= all[i-1].Seq {
			t.Errorf("row %d: Seq %d not after %d", i, inv.Seq, all[i-1].Seq)
		}
		if inv.Seq <= 0 {
			t.Errorf("row %d: Seq %d, want > 0", i, inv.Seq)
		}
	}
	last, err = s.LastInvalidation(ctx)
	must(t, err, "LastInvalidation")
	check(t, "LastInvalidation", last, all[4].Seq)

	t.Run("since", func(t *testing.T) {
		seqs := func(rows []keyward.Invalidation) []int64 {
			out := []int64{}
			for _, r := range rows {
				out = append(out, r.Seq)
			}
			return out
		}
		cases := []struct {
			name  string
			after int64
			limit int
			want  []keyward.Invalidation
		}{
			{"after the first", all[0].Seq, 10, all[1:]},
			{"limit", 0, 2, all[:2]},
			{"after and limit", all[1].Seq, 2, all[2:4]},
			{"after the last", all[4].Seq, 10, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.InvalidationsSince(ctx, c.after, c.limit)
				must(t, err, "InvalidationsSince")
				check(t, "seqs", seqs(got), seqs(c.want))
			})
		}
	})

	t.Run("rolled back", func(t *testing.T) {
		errBoom := errors.New("boom")
		err := s.InTx(ctx, func(q keyward.Queries) error {
			must(t, q.AddInvalidation(ctx, a.ID, at(time.Hour)), "AddInvalidation")
			return errBoom
		})
		check(t, "InTx error is fn's", errors.Is(err, errBoom), true)
		got, err := s.InvalidationsSince(ctx, all[4].Seq, 10)
		must(t, err, "InvalidationsSince")
		check(t, "rows after rollback", len(got), 0)
	})

	t.Run("delete before", func(t *testing.T) {
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{InvalidationsBefore: at(2 * time.Minute)})
		must(t, err, "DeleteExpired")
		check(t, "deleted", n, keyward.Expired{Invalidations: 2})
		got, err := s.InvalidationsSince(ctx, 0, 100)
		must(t, err, "InvalidationsSince")
		check(t, "left", len(got), 3)
		n, err = s.DeleteExpired(ctx, keyward.Cutoffs{InvalidationsBefore: at(time.Hour)})
		must(t, err, "DeleteExpired all invalidations")
		check(t, "deleted the rest", n, keyward.Expired{Invalidations: 3})
	})

	t.Run("seq never reused", func(t *testing.T) {
		must(t, s.AddInvalidation(ctx, b.ID, at(2*time.Hour)), "AddInvalidation")
		got, err := s.InvalidationsSince(ctx, 0, 10)
		must(t, err, "InvalidationsSince")
		if len(got) != 1 {
			t.Fatalf("got %d rows, want 1", len(got))
		}
		if got[0].Seq <= all[4].Seq {
			t.Errorf("new Seq %d reuses a number at or below the earlier last %d: a poller at %d would miss it", got[0].Seq, all[4].Seq, all[4].Seq)
		}
	})
}

func testInTx(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	errBoom := errors.New("boom")

	t.Run("commit", func(t *testing.T) {
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		must(t, s.InTx(ctx, func(q keyward.Queries) error { return q.CreateSession(ctx, sess) }), "InTx")
		_, err := s.SessionByID(ctx, a.ID, sess.ID)
		must(t, err, "committed session")
	})

	t.Run("rollback on error", func(t *testing.T) {
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		var b *keyward.Account
		err := s.InTx(ctx, func(q keyward.Queries) error {
			b = &keyward.Account{ID: newID(accountPrefix), Email: "rolled@example.com", PasswordHash: "x", CreatedAt: at(0)}
			must(t, q.CreateAccount(ctx, b), "CreateAccount")
			must(t, q.CreateSession(ctx, sess), "CreateSession")
			must(t, q.SetPasswordHash(ctx, a.ID, "changed"), "SetPasswordHash")
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("InTx: got %v, want fn's error", err)
		}
		_, err = s.SessionByID(ctx, a.ID, sess.ID)
		wantCode(t, "session after rollback", err, keyward.CodeNotFound)
		_, err = s.AccountByID(ctx, b.ID)
		wantCode(t, "account after rollback", err, keyward.CodeNotFound)
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		check(t, "password hash after rollback", got.PasswordHash, a.PasswordHash)
	})

	t.Run("error code kept", func(t *testing.T) {
		err := s.InTx(ctx, func(q keyward.Queries) error { return keyward.Errorf(keyward.CodeConflict, "Try again.") })
		wantCode(t, "InTx", err, keyward.CodeConflict)
		_, err = s.AccountByID(ctx, newID(accountPrefix))
		wantCode(t, "NotFound from outside", err, keyward.CodeNotFound)
		err = s.InTx(ctx, func(q keyward.Queries) error { _, err := q.AccountByID(ctx, newID(accountPrefix)); return err })
		wantCode(t, "NotFound through InTx", err, keyward.CodeNotFound)
	})

	t.Run("reads see own writes", func(t *testing.T) {
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		err := s.InTx(ctx, func(q keyward.Queries) error {
			must(t, q.CreateSession(ctx, sess), "CreateSession")
			got, err := q.SessionByID(ctx, a.ID, sess.ID)
			must(t, err, "SessionByID inside")
			check(t, "session inside", got, sess)
			list, err := q.ListSessions(ctx, a.ID, at(0))
			must(t, err, "ListSessions inside")
			if !slices.Contains(sessionIDs(list), sess.ID) {
				t.Errorf("ListSessions inside the transaction misses the new session")
			}
			th, err := q.AddFailure(ctx, "k", at(0), at(-time.Hour))
			must(t, err, "AddFailure")
			got2, err := q.Throttle(ctx, "k")
			must(t, err, "Throttle")
			check(t, "throttle inside", got2, th)
			_, err = s.SessionByID(ctx, a.ID, sess.ID)
			wantCode(t, "uncommitted session seen from outside", err, keyward.CodeNotFound)
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("InTx: got %v, want fn's error", err)
		}
	})

	t.Run("panic rolls back", func(t *testing.T) {
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		func() {
			defer func() {
				if r := recover(); r != "fn panicked" {
					t.Errorf("recovered %v, want fn's panic", r)
				}
			}()
			_ = s.InTx(ctx, func(q keyward.Queries) error {
				must(t, q.CreateSession(ctx, sess), "CreateSession")
				panic("fn panicked")
			})
		}()
		_, err := s.SessionByID(ctx, a.ID, sess.ID)
		wantCode(t, "session after panic", err, keyward.CodeNotFound)
		// The store still works.
		must(t, s.InTx(ctx, func(q keyward.Queries) error { return q.SetPasswordHash(ctx, a.ID, a.PasswordHash) }), "InTx after panic")
		must(t, s.SetPasswordHash(ctx, a.ID, a.PasswordHash), "SetPasswordHash after panic")
	})

	t.Run("state change and its event together", func(t *testing.T) {
		must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k", EnabledAt: at(0), LastStep: 1}), "EnableTOTP")
		code := randBytes(32)
		must(t, s.ReplaceBackupCodes(ctx, a.ID, randBytes(16), [][]byte{code}), "ReplaceBackupCodes")
		err := s.InTx(ctx, func(q keyward.Queries) error {
			ok, err := q.UseBackupCode(ctx, a.ID, code, at(time.Hour))
			must(t, err, "UseBackupCode")
			check(t, "used", ok, true)
			h, err := q.LockAuditHead(ctx, a.ID)
			must(t, err, "LockAuditHead")
			e := newEvent(a.ID, "2fa.backup_code.used", at(time.Hour), newID(eventPrefix))
			e.Seq, e.PrevHash = h.Seq+1, h.Hash
			e.Hash = fakeHash(h.Hash, e.ID, e.Seq)
			must(t, q.AppendEvent(ctx, e), "AppendEvent")
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("InTx: got %v, want fn's error", err)
		}
		n, err := s.BackupCodesRemaining(ctx, a.ID)
		must(t, err, "BackupCodesRemaining")
		check(t, "code still unused", n, 1)
		heads, err := s.AuditHeads(ctx)
		must(t, err, "AuditHeads")
		for _, h := range heads {
			if h.ChainID == a.ID && h.Seq != 0 {
				t.Errorf("head after rollback: %s", show(h))
			}
		}
		var events int
		must(t, s.EachChainEvent(ctx, a.ID, func(*keyward.Event) error { events++; return nil }), "EachChainEvent")
		check(t, "events after rollback", events, 0)
	})
}

// testFactorChanges covers what a change of password or factors relies on:
// re-reading the account under lock, ending waiting second steps, and
// raising a session's assurance level.
func testFactorChanges(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")

	t.Run("lock account", func(t *testing.T) {
		err := s.InTx(ctx, func(q keyward.Queries) error {
			got, err := q.LockAccount(ctx, a.ID)
			must(t, err, "LockAccount")
			check(t, "locked account", got, a)
			_, err = q.LockAccount(ctx, "acct_missing")
			wantCode(t, "LockAccount missing", err, keyward.CodeNotFound)
			return nil
		})
		must(t, err, "InTx")
	})

	t.Run("delete an account's challenges", func(t *testing.T) {
		mk := func(accountID string) *keyward.MFAChallenge {
			c := &keyward.MFAChallenge{TokenHash: randBytes(32), AccountID: accountID, CreatedAt: at(0), ExpiresAt: at(time.Hour)}
			must(t, s.CreateMFAChallenge(ctx, c), "CreateMFAChallenge")
			return c
		}
		a1, a2, b1 := mk(a.ID), mk(a.ID), mk(b.ID)
		n, err := s.DeleteMFAChallenges(ctx, a.ID)
		must(t, err, "DeleteMFAChallenges")
		check(t, "challenges deleted", n, 2)
		for _, c := range []*keyward.MFAChallenge{a1, a2} {
			_, err := s.MFAChallenge(ctx, c.TokenHash)
			wantCode(t, "deleted challenge", err, keyward.CodeNotFound)
		}
		got, err := s.MFAChallenge(ctx, b1.TokenHash)
		must(t, err, "other account's challenge")
		check(t, "other account's challenge", got, b1)
	})

	t.Run("raise a session's level", func(t *testing.T) {
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		must(t, s.CreateSession(ctx, sess), "CreateSession")
		amr := keyward.AMRPassword | keyward.AMROTP | keyward.AMRMultiFactor
		must(t, s.SetSessionAAL(ctx, sess.ID, 2, amr), "SetSessionAAL")
		got, err := s.SessionByID(ctx, a.ID, sess.ID)
		must(t, err, "SessionByID")
		check(t, "aal", got.AAL, 2)
		check(t, "amr", got.AMR, amr)
		wantCode(t, "SetSessionAAL missing", s.SetSessionAAL(ctx, "sess_missing", 2, amr), keyward.CodeNotFound)
	})
}

// testExpiry deletes every kind at once, counting each, and a zero cut-off
// deletes nothing of its kind.
func testExpiry(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	now := at(10 * time.Hour)
	fill := func(t *testing.T, s keyward.Store) {
		t.Helper()
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		createSessions(t, s,
			newSession(a.ID, at(0), now.Add(-time.Minute), now),                // expired
			newSession(a.ID, at(0), now.Add(-time.Hour), now.Add(time.Hour)),   // idle
			newSession(a.ID, at(0), now.Add(-time.Minute), now.Add(time.Hour)), // live
		)
		for _, c := range []*keyward.MFAChallenge{newChallenge(a.ID, now), newChallenge(a.ID, now.Add(time.Second))} {
			must(t, s.CreateMFAChallenge(ctx, c), "CreateMFAChallenge")
		}
		for _, c := range []*keyward.PasskeyChallenge{
			newPasskeyChallenge(keyward.CeremonySignIn, "", now),
			newPasskeyChallenge(keyward.CeremonyRegister, a.ID, now.Add(-time.Minute)),
			newPasskeyChallenge(keyward.CeremonySecondStep, a.ID, now.Add(time.Second)),
		} {
			must(t, s.CreatePasskeyChallenge(ctx, c), "CreatePasskeyChallenge")
		}
		must(t, s.PutPendingTOTP(ctx, &keyward.PendingTOTP{AccountID: a.ID, SessionID: newID(sessionPrefix), SealedSecret: "k1:p", CreatedAt: at(0), ExpiresAt: now}), "PutPendingTOTP")
		for i, key := range []string{"ip:192.0.2.1", "ip:192.0.2.2"} {
			_, err := s.AddFailure(ctx, key, now.Add(-time.Duration(2-i)*time.Hour), at(0))
			must(t, err, "AddFailure")
		}
		for i := range 3 {
			must(t, s.AddInvalidation(ctx, a.ID, now.Add(-time.Duration(i)*time.Hour)), "AddInvalidation")
		}
	}
	all := keyward.Cutoffs{Now: now, SessionIdleBefore: now.Add(-30 * time.Minute), ThrottlesBefore: now.Add(-90 * time.Minute), InvalidationsBefore: now.Add(-30 * time.Minute)}
	cases := []struct {
		name    string
		cutoffs keyward.Cutoffs
		want    keyward.Expired
	}{
		{"every kind", all, keyward.Expired{Sessions: 2, MFAChallenges: 1, PendingTOTP: 1, Throttles: 1, Invalidations: 2, PasskeyChallenges: 2}},
		{"only the idle timeout", keyward.Cutoffs{SessionIdleBefore: all.SessionIdleBefore}, keyward.Expired{Sessions: 1}},
		{"only now", keyward.Cutoffs{Now: now}, keyward.Expired{Sessions: 1, MFAChallenges: 1, PendingTOTP: 1, PasskeyChallenges: 2}},
		{"no cut-offs", keyward.Cutoffs{}, keyward.Expired{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			fill(t, s)
			got, err := s.DeleteExpired(t.Context(), tc.cutoffs)
			must(t, err, "DeleteExpired")
			check(t, "deleted", got, tc.want)
			again, err := s.DeleteExpired(t.Context(), tc.cutoffs)
			must(t, err, "DeleteExpired again")
			check(t, "deleted again", again, keyward.Expired{})
		})
	}
	t.Run("in a transaction", func(t *testing.T) {
		s := newStore(t)
		fill(t, s)
		var got keyward.Expired
		must(t, s.InTx(t.Context(), func(q keyward.Queries) error {
			var err error
			got, err = q.DeleteExpired(t.Context(), all)
			return err
		}), "InTx")
		check(t, "deleted", got, cases[0].want)
	})
}

// testHeadLockOutsideTx: LockAuditHead holds the head for the rest of a
// transaction; on a Store, outside one, a read would only pass for a lock.
func testHeadLockOutsideTx(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	a := newAccount(t, s, "a@example.com")
	l, ok := s.(interface {
		LockAuditHead(ctx context.Context, chainID string) (audit.Head, error)
	})
	if !ok {
		return // the contract's way: only q has it
	}
	h, err := l.LockAuditHead(t.Context(), a.ID)
	if err == nil {
		t.Errorf("LockAuditHead outside a transaction = %+v, nil; want an error", h)
	}
}
