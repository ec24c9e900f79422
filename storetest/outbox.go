package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func newMail(n int, due time.Time) *keyward.Mail {
	return &keyward.Mail{
		ID: idString("mail_", [16]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(n)}), Kind: keyward.MailNotice,
		Sealed: fmt.Sprintf("k1:sealed-%d", n), CreatedAt: at(0), NextAttemptAt: due,
	}
}

func mailIDs(ms []keyward.Mail) []string {
	ids := []string{}
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// testOutbox: mails are claimed once each while the claim lasts, come back
// when it runs out (a worker that died), and leave the queue when sent or
// given up; an enqueue that rolls back leaves nothing.
func testOutbox(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("claim, send, retry, give up", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		m1, m2, m3 := newMail(1, now.Add(-time.Minute)), newMail(2, now), newMail(3, now.Add(time.Second))
		for _, m := range []*keyward.Mail{m3, m1, m2} {
			must(t, s.EnqueueMail(ctx, m), "EnqueueMail")
		}
		waiting, retrying, err := s.MailsWaiting(ctx)
		must(t, err, "MailsWaiting")
		check(t, "waiting, retrying", []int{waiting, retrying}, []int{3, 0})

		until := now.Add(time.Minute)
		got, err := s.ClaimMails(ctx, now, until, 10)
		must(t, err, "ClaimMails")
		want1, want2 := *m1, *m2
		want1.NextAttemptAt, want1.Attempts = until, 1
		want2.NextAttemptAt, want2.Attempts = until, 1
		check(t, "claimed", got, []keyward.Mail{want1, want2})

		again, err := s.ClaimMails(ctx, now.Add(time.Second), until, 10)
		must(t, err, "ClaimMails again")
		check(t, "claimed while the first claim lasts", mailIDs(again), []string{m3.ID})

		sent := now.Add(2 * time.Second)
		must(t, s.MarkMailSent(ctx, m1.ID, sent), "MarkMailSent")
		must(t, s.RetryMail(ctx, m2.ID, now.Add(10*time.Minute), "421 try later"), "RetryMail")
		must(t, s.GiveUpMail(ctx, m3.ID, sent, "550 no such user"), "GiveUpMail")
		for _, c := range []struct {
			name string
			err  error
		}{
			{"MarkMailSent", s.MarkMailSent(ctx, newMail(9, now).ID, sent)},
			{"RetryMail", s.RetryMail(ctx, newMail(9, now).ID, sent, "x")},
			{"GiveUpMail", s.GiveUpMail(ctx, newMail(9, now).ID, sent, "x")},
		} {
			wantCode(t, c.name+" of an unknown mail", c.err, keyward.CodeNotFound)
		}
		waiting, retrying, err = s.MailsWaiting(ctx)
		must(t, err, "MailsWaiting")
		check(t, "waiting, retrying", []int{waiting, retrying}, []int{1, 1})

		// After the claim runs out, only the retried mail is due, once its
		// retry time comes; the sent and given-up ones never are.
		got, err = s.ClaimMails(ctx, now.Add(9*time.Minute), now.Add(20*time.Minute), 10)
		must(t, err, "ClaimMails before the retry")
		check(t, "claimed before the retry", mailIDs(got), []string{})
		got, err = s.ClaimMails(ctx, now.Add(10*time.Minute), now.Add(20*time.Minute), 10)
		must(t, err, "ClaimMails at the retry")
		want2.NextAttemptAt, want2.Attempts, want2.LastError = now.Add(20*time.Minute), 2, "421 try later"
		check(t, "claimed at the retry", got, []keyward.Mail{want2})

		// Finished mails are deleted by MailsBefore, and nothing else is.
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{MailsBefore: sent})
		must(t, err, "DeleteExpired at the sending time")
		check(t, "deleted", n, keyward.Expired{})
		n, err = s.DeleteExpired(ctx, keyward.Cutoffs{MailsBefore: sent.Add(time.Microsecond)})
		must(t, err, "DeleteExpired")
		check(t, "deleted", n, keyward.Expired{Mails: 2})
	})

	t.Run("claim limit and lease run out", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		for i := range 5 {
			must(t, s.EnqueueMail(ctx, newMail(i, now.Add(time.Duration(i)*time.Second))), "EnqueueMail")
		}
		got, err := s.ClaimMails(ctx, now.Add(time.Minute), now.Add(2*time.Minute), 2)
		must(t, err, "ClaimMails")
		check(t, "oldest due first, at most the limit", mailIDs(got), []string{newMail(0, now).ID, newMail(1, now).ID})
		// A worker that claimed and died: its mails come back after the claim.
		got, err = s.ClaimMails(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
		must(t, err, "ClaimMails after the claim ran out")
		check(t, "claimed", len(got), 5)
		for _, m := range got {
			want := 1
			if m.ID == newMail(0, now).ID || m.ID == newMail(1, now).ID {
				want = 2
			}
			check(t, "attempts of "+m.ID, m.Attempts, want)
		}
	})

	t.Run("rolled back", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		errRollback := errors.New("roll back")
		err := s.InTx(ctx, func(q keyward.Queries) error {
			must(t, q.EnqueueMail(ctx, newMail(1, at(0))), "EnqueueMail in a transaction")
			return errRollback
		})
		check(t, "InTx error", errors.Is(err, errRollback), true)
		got, err := s.ClaimMails(ctx, at(time.Hour), at(2*time.Hour), 10)
		must(t, err, "ClaimMails")
		check(t, "claimed after the rollback", mailIDs(got), []string{})
	})

	t.Run("concurrent claims take each mail once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		const mails = 40
		for i := range mails {
			must(t, s.EnqueueMail(ctx, newMail(i, now)), "EnqueueMail")
		}
		var mu sync.Mutex
		seen := map[string]int{}
		_, errs := race(8, func(int) (bool, error) {
			for {
				got, err := s.ClaimMails(ctx, now, now.Add(time.Hour), 3)
				if err != nil || len(got) == 0 {
					return false, err
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
			}
		}
		check(t, "distinct mails claimed", len(seen), mails)
		for id, n := range seen {
			if n != 1 {
				t.Errorf("mail %s claimed %d times, want once", id, n)
			}
		}
	})
}

func newEmailToken(accountID string, purpose keyward.TokenPurpose, expires time.Time) *keyward.EmailToken {
	return &keyward.EmailToken{TokenHash: randBytes(32), Purpose: purpose, AccountID: accountID, Email: "a@example.com", CreatedAt: at(0), ExpiresAt: expires}
}

func testEmailTokens(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("consume once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		tok := newEmailToken(a.ID, keyward.PurposeReset, at(30*time.Minute))
		must(t, s.CreateEmailToken(ctx, tok), "CreateEmailToken")
		wantCode(t, "token of an unknown account", s.CreateEmailToken(ctx, newEmailToken(newID(accountPrefix), keyward.PurposeReset, at(time.Hour))), keyward.CodeNotFound)
		got, err := s.EmailToken(ctx, tok.TokenHash)
		must(t, err, "EmailToken")
		check(t, "token", got, tok)
		_, err = s.EmailToken(ctx, randBytes(32))
		wantCode(t, "unknown token", err, keyward.CodeNotFound)
		res, errs := race(10, func(int) (bool, error) { return s.ConsumeEmailToken(ctx, tok.TokenHash) })
		check(t, "winners", countTrue(t, "ConsumeEmailToken", res, errs), 1)
		_, err = s.EmailToken(ctx, tok.TokenHash)
		wantCode(t, "consumed token", err, keyward.CodeNotFound)
	})

	t.Run("delete by purpose and expiry", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		now := at(time.Hour)
		for _, tok := range []*keyward.EmailToken{
			newEmailToken(a.ID, keyward.PurposeReset, now.Add(time.Hour)),
			newEmailToken(a.ID, keyward.PurposeReset, now.Add(time.Hour)),
			newEmailToken(a.ID, keyward.PurposeVerify, now.Add(time.Hour)),
			newEmailToken(b.ID, keyward.PurposeReset, now),
			newEmailToken(b.ID, keyward.PurposeLockdown, now.Add(time.Microsecond)),
		} {
			must(t, s.CreateEmailToken(ctx, tok), "CreateEmailToken")
		}
		n, err := s.DeleteEmailTokens(ctx, a.ID, keyward.PurposeReset)
		must(t, err, "DeleteEmailTokens reset")
		check(t, "reset tokens deleted", n, 2)
		n, err = s.DeleteEmailTokens(ctx, a.ID, "")
		must(t, err, "DeleteEmailTokens all")
		check(t, "other tokens deleted", n, 1)
		got, err := s.DeleteExpired(ctx, keyward.Cutoffs{Now: now})
		must(t, err, "DeleteExpired")
		check(t, "expired", got, keyward.Expired{EmailTokens: 1})
	})
}

// testAccountEmail: the email, its verification, the lockdown and the
// new-device mail setting of an account.
func testAccountEmail(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	a := newAccount(t, s, "Ann@example.com")
	b := newAccount(t, s, "bob@example.com")
	verified := at(time.Minute)

	ok, err := s.MarkEmailVerified(ctx, a.ID, "other@example.com", verified)
	must(t, err, "MarkEmailVerified of another address")
	check(t, "verified another address", ok, false)
	ok, err = s.MarkEmailVerified(ctx, a.ID, "ann@EXAMPLE.com", verified)
	must(t, err, "MarkEmailVerified")
	check(t, "verified", ok, true)
	ok, err = s.MarkEmailVerified(ctx, a.ID, "ann@example.com", at(time.Hour))
	must(t, err, "MarkEmailVerified again")
	check(t, "verified again", ok, false)

	wantCode(t, "SetEmail to a taken address", s.SetEmail(ctx, a.ID, "BOB@example.com", nil), keyward.CodeEmailTaken)
	wantCode(t, "SetEmail of an unknown account", s.SetEmail(ctx, newID(accountPrefix), "new@example.com", nil), keyward.CodeNotFound)
	wantCode(t, "SetLockedDown of an unknown account", s.SetLockedDown(ctx, newID(accountPrefix), &verified), keyward.CodeNotFound)
	wantCode(t, "SetNewDeviceMail of an unknown account", s.SetNewDeviceMail(ctx, newID(accountPrefix), false), keyward.CodeNotFound)

	changed := at(2 * time.Minute)
	must(t, s.InTx(ctx, func(q keyward.Queries) error {
		if err := q.SetEmail(ctx, a.ID, "Ann.New@example.com", &changed); err != nil {
			return err
		}
		if err := q.SetLockedDown(ctx, a.ID, &changed); err != nil {
			return err
		}
		return q.SetNewDeviceMail(ctx, a.ID, false)
	}), "InTx")
	want := *a
	want.Email, want.EmailVerifiedAt, want.LockedDownAt, want.NewDeviceMailOff = "Ann.New@example.com", &changed, &changed, true
	got, err := s.AccountByEmail(ctx, "ann.new@example.com")
	must(t, err, "AccountByEmail of the new address")
	check(t, "account", got, &want)
	_, err = s.AccountByEmail(ctx, "ann@example.com")
	wantCode(t, "AccountByEmail of the old address", err, keyward.CodeNotFound)
	// The old address is free again.
	must(t, s.SetEmail(ctx, b.ID, "ann@example.com", nil), "SetEmail to a freed address")

	must(t, s.SetLockedDown(ctx, a.ID, nil), "SetLockedDown nil")
	must(t, s.SetNewDeviceMail(ctx, a.ID, true), "SetNewDeviceMail on")
	want.LockedDownAt, want.NewDeviceMailOff = nil, false
	got, err = s.AccountByID(ctx, a.ID)
	must(t, err, "AccountByID")
	check(t, "account after clearing", got, &want)
}
