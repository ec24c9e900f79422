package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newDelivery is the delivery of the seq-th event of chain, due at due.
func newDelivery(chain string, seq int64, due time.Time) *keyward.WebhookDelivery {
	id := idString(eventPrefix, [16]byte{0, 0, 0, 0, 0, 0, 0, 0, byte(len(chain)), chain[len(chain)-1], 0, 0, 0, 0, byte(seq >> 8), byte(seq)})
	return &keyward.WebhookDelivery{
		ID: id, ChainID: chain, Seq: seq, Body: fmt.Sprintf(`{"type":"signin.failed","seq":%d}`, seq),
		CreatedAt: at(0), NextAttemptAt: due,
	}
}

func deliveryIDs(ds []keyward.WebhookDelivery) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

func idsOf(ds ...*keyward.WebhookDelivery) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

// testWebhookOutbox: deliveries are claimed once each while the claim
// lasts, one chain's in seq order only (a later one waits while an earlier
// one is claimed or retrying, and goes once it is sent or given up), other
// chains' meanwhile; they come back when a claim runs out, leave the queue
// when sent or given up, and an enqueue that rolls back leaves nothing.
func testWebhookOutbox(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("claim, send, retry, give up", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		a1, b1, c1 := newDelivery("acct_a", 1, now.Add(-time.Minute)), newDelivery("acct_b", 1, now), newDelivery("system", 1, now.Add(time.Second))
		for _, d := range []*keyward.WebhookDelivery{c1, a1, b1} {
			must(t, s.EnqueueWebhook(ctx, d), "EnqueueWebhook")
		}
		waiting, retrying, err := s.WebhooksWaiting(ctx)
		must(t, err, "WebhooksWaiting")
		check(t, "waiting, retrying", []int{waiting, retrying}, []int{3, 0})
		next, err := s.NextWebhookDue(ctx)
		must(t, err, "NextWebhookDue")
		check(t, "next due", next, a1.NextAttemptAt)

		until := now.Add(time.Minute)
		got, err := s.ClaimWebhooks(ctx, now, until, 10)
		must(t, err, "ClaimWebhooks")
		wantA, wantB := *a1, *b1
		wantA.NextAttemptAt, wantA.Attempts = until, 1
		wantB.NextAttemptAt, wantB.Attempts = until, 1
		slices.SortFunc(got, func(x, y keyward.WebhookDelivery) int { return compareIDs(x.ID, y.ID) })
		want := []keyward.WebhookDelivery{wantA, wantB}
		slices.SortFunc(want, func(x, y keyward.WebhookDelivery) int { return compareIDs(x.ID, y.ID) })
		check(t, "claimed", got, want)

		again, err := s.ClaimWebhooks(ctx, now.Add(time.Second), until, 10)
		must(t, err, "ClaimWebhooks again")
		check(t, "claimed while the first claim lasts", deliveryIDs(again), idsOf(c1))
		next, err = s.NextWebhookDue(ctx)
		must(t, err, "NextWebhookDue while claimed")
		check(t, "next due while all are claimed: the claims' end", next, until)

		sent := now.Add(2 * time.Second)
		must(t, s.MarkWebhookSent(ctx, a1.ID, sent), "MarkWebhookSent")
		must(t, s.RetryWebhook(ctx, b1.ID, now.Add(10*time.Minute), "receiver answered 500"), "RetryWebhook")
		must(t, s.GiveUpWebhook(ctx, c1.ID, sent, "receiver answered 410"), "GiveUpWebhook")
		unknown := newDelivery("acct_z", 9, now).ID
		for _, c := range []struct {
			name string
			err  error
		}{
			{"MarkWebhookSent", s.MarkWebhookSent(ctx, unknown, sent)},
			{"RetryWebhook", s.RetryWebhook(ctx, unknown, sent, "x")},
			{"GiveUpWebhook", s.GiveUpWebhook(ctx, unknown, sent, "x")},
		} {
			wantCode(t, c.name+" of an unknown delivery", c.err, keyward.CodeNotFound)
		}
		waiting, retrying, err = s.WebhooksWaiting(ctx)
		must(t, err, "WebhooksWaiting")
		check(t, "waiting, retrying", []int{waiting, retrying}, []int{1, 1})
		next, err = s.NextWebhookDue(ctx)
		must(t, err, "NextWebhookDue")
		check(t, "next due: the retry", next, now.Add(10*time.Minute))

		got, err = s.ClaimWebhooks(ctx, now.Add(9*time.Minute), now.Add(20*time.Minute), 10)
		must(t, err, "ClaimWebhooks before the retry")
		check(t, "claimed before the retry", deliveryIDs(got), []string{})
		got, err = s.ClaimWebhooks(ctx, now.Add(10*time.Minute), now.Add(20*time.Minute), 10)
		must(t, err, "ClaimWebhooks at the retry")
		wantB.NextAttemptAt, wantB.Attempts, wantB.LastError = now.Add(20*time.Minute), 2, "receiver answered 500"
		check(t, "claimed at the retry", got, []keyward.WebhookDelivery{wantB})
		must(t, s.MarkWebhookSent(ctx, b1.ID, sent), "MarkWebhookSent")
		next, err = s.NextWebhookDue(ctx)
		must(t, err, "NextWebhookDue")
		check(t, "next due when none waits", next.IsZero(), true)

		// Finished deliveries are deleted by WebhooksBefore, and nothing else is.
		pending := newDelivery("acct_a", 2, now)
		must(t, s.EnqueueWebhook(ctx, pending), "EnqueueWebhook")
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{WebhooksBefore: sent})
		must(t, err, "DeleteExpired at the sending time")
		check(t, "deleted", n, keyward.Expired{})
		n, err = s.DeleteExpired(ctx, keyward.Cutoffs{WebhooksBefore: now.Add(time.Hour), MailsBefore: now.Add(time.Hour)})
		must(t, err, "DeleteExpired")
		check(t, "deleted", n, keyward.Expired{Webhooks: 3})
		got, err = s.ClaimWebhooks(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10)
		must(t, err, "ClaimWebhooks after the clean-up")
		check(t, "the waiting delivery stays", deliveryIDs(got), idsOf(pending))
	})

	t.Run("one chain in order, others meanwhile", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		a1, a2, a3 := newDelivery("acct_a", 1, now), newDelivery("acct_a", 2, now), newDelivery("acct_a", 3, now)
		b7 := newDelivery("acct_b", 7, now.Add(time.Second))
		// Each chain's in seq order, as the service enqueues them (under
		// the chain's head lock).
		for _, d := range []*keyward.WebhookDelivery{a1, b7, a2, a3} {
			must(t, s.EnqueueWebhook(ctx, d), "EnqueueWebhook")
		}
		claim := func(now time.Time) []string {
			t.Helper()
			got, err := s.ClaimWebhooks(ctx, now, now.Add(time.Minute), 10)
			must(t, err, "ClaimWebhooks")
			return deliveryIDs(got)
		}
		check(t, "first claim: each chain's first", claim(now.Add(time.Second)), idsOf(a1, b7))
		check(t, "while a1 is claimed", claim(now.Add(2*time.Second)), idsOf())

		// a1 fails: a2 waits for its retry, though a2 is due.
		must(t, s.RetryWebhook(ctx, a1.ID, now.Add(time.Hour), "timeout"), "RetryWebhook a1")
		must(t, s.MarkWebhookSent(ctx, b7.ID, now.Add(3*time.Second)), "MarkWebhookSent b7")
		check(t, "while a1 retries", claim(now.Add(4*time.Second)), idsOf())
		next, err := s.NextWebhookDue(ctx)
		must(t, err, "NextWebhookDue")
		check(t, "next due: a1's retry, not a2", next, now.Add(time.Hour))

		// A lease that runs out brings back a1, still before a2.
		check(t, "at a1's retry", claim(now.Add(time.Hour)), idsOf(a1))
		check(t, "after a1's claim ran out", claim(now.Add(time.Hour+time.Minute)), idsOf(a1))
		// Given up, a1 no longer holds a2 back; a2 sent frees a3.
		must(t, s.GiveUpWebhook(ctx, a1.ID, now.Add(time.Hour+time.Minute), "timeout"), "GiveUpWebhook a1")
		check(t, "after a1 was given up", claim(now.Add(time.Hour+time.Minute)), idsOf(a2))
		must(t, s.MarkWebhookSent(ctx, a2.ID, now.Add(time.Hour+time.Minute)), "MarkWebhookSent a2")
		check(t, "after a2 was sent", claim(now.Add(time.Hour+time.Minute)), idsOf(a3))
	})

	t.Run("ordering under retries", func(t *testing.T) {
		// Workers claim, fail half their attempts and retry later, with a
		// clock that moves on: every chain's deliveries are still sent in
		// seq order, never two of one chain claimed at once.
		s := newStore(t)
		ctx := t.Context()
		rnd := rand.New(rand.NewPCG(1, 2))
		now := at(time.Hour)
		chains := []string{"acct_a", "acct_b", "acct_c", "system"}
		const perChain = 6
		// Chains interleaved, each in seq order; later ones sometimes
		// asking to be due first.
		for seq := int64(1); seq <= perChain; seq++ {
			for _, c := range chains {
				d := newDelivery(c, seq, now.Add(time.Duration(rnd.IntN(5))*time.Second))
				must(t, s.EnqueueWebhook(ctx, d), "EnqueueWebhook")
			}
		}
		sentOrder := map[string][]int64{}
		for step := 0; step < 500; step++ {
			got, err := s.ClaimWebhooks(ctx, now, now.Add(time.Minute), 1+rnd.IntN(3))
			must(t, err, "ClaimWebhooks")
			seen := map[string]bool{}
			for _, d := range got {
				if seen[d.ChainID] {
					t.Fatalf("two deliveries of %s claimed at once", d.ChainID)
				}
				seen[d.ChainID] = true
				if rnd.IntN(2) == 0 {
					must(t, s.RetryWebhook(ctx, d.ID, now.Add(time.Duration(1+rnd.IntN(10))*time.Second), "receiver answered 503"), "RetryWebhook")
					continue
				}
				must(t, s.MarkWebhookSent(ctx, d.ID, now), "MarkWebhookSent")
				sentOrder[d.ChainID] = append(sentOrder[d.ChainID], d.Seq)
			}
			now = now.Add(time.Second)
		}
		for _, c := range chains {
			check(t, "sent order of "+c, sentOrder[c], []int64{1, 2, 3, 4, 5, 6})
		}
	})

	t.Run("rolled back", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		errRollback := errors.New("roll back")
		err := s.InTx(ctx, func(q keyward.Queries) error {
			must(t, q.EnqueueWebhook(ctx, newDelivery("acct_a", 1, at(0))), "EnqueueWebhook in a transaction")
			return errRollback
		})
		check(t, "InTx error", errors.Is(err, errRollback), true)
		got, err := s.ClaimWebhooks(ctx, at(time.Hour), at(2*time.Hour), 10)
		must(t, err, "ClaimWebhooks")
		check(t, "claimed after the rollback", deliveryIDs(got), []string{})
	})

	t.Run("a failed enqueue fails its transaction", func(t *testing.T) {
		// The same event enqueued twice: the second insert fails, maybe
		// only at commit (PostgreSQL sends it then), and the transaction
		// commits nothing.
		s := newStore(t)
		ctx := t.Context()
		d := newDelivery("acct_a", 1, at(0))
		err := s.InTx(ctx, func(q keyward.Queries) error {
			if err := q.EnqueueWebhook(ctx, d); err != nil {
				return err
			}
			if err := q.EnqueueWebhook(ctx, newDelivery("acct_b", 1, at(0))); err != nil {
				return err
			}
			return q.EnqueueWebhook(ctx, d)
		})
		if err == nil {
			t.Fatal("InTx with a delivery enqueued twice succeeded")
		}
		waiting, _, err := s.WebhooksWaiting(ctx)
		must(t, err, "WebhooksWaiting")
		check(t, "waiting after the failed transaction", waiting, 0)
	})

	t.Run("enqueues racing their chain's sending lose nothing", func(t *testing.T) {
		// Events are appended (and their deliveries enqueued, after the
		// chain's head lock, as the service does) while workers send the
		// chain's earlier deliveries: a delivery enqueued just as the one
		// before it is marked sent must become due, not wait for ever.
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		chains := []string{"acct_a", "acct_b", "system"}
		const perChain = 40
		var enqueuing sync.WaitGroup
		var enqueueErr error
		var mu sync.Mutex
		for _, chain := range chains {
			enqueuing.Go(func() {
				for seq := int64(1); seq <= perChain; seq++ {
					err := s.InTx(ctx, func(q keyward.Queries) error {
						if _, err := q.LockAuditHead(ctx, chain); err != nil {
							return err
						}
						return q.EnqueueWebhook(ctx, newDelivery(chain, seq, now))
					})
					if err != nil {
						mu.Lock()
						enqueueErr = err
						mu.Unlock()
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { enqueuing.Wait(); close(done) }()
		sent := map[string][]int64{}
		_, errs := race(2, func(int) (bool, error) {
			for {
				got, err := s.ClaimWebhooks(ctx, now, now.Add(time.Hour), 2)
				if err != nil {
					return false, err
				}
				for _, d := range got {
					mu.Lock()
					sent[d.ChainID] = append(sent[d.ChainID], d.Seq)
					mu.Unlock()
					if err := s.MarkWebhookSent(ctx, d.ID, now); err != nil {
						return false, err
					}
				}
				if len(got) > 0 {
					continue
				}
				select {
				case <-done:
				default:
					continue
				}
				// Every enqueue committed and nothing is due: all sent, or
				// something waits behind nothing. (In this order: a
				// delivery the other worker marks sent between the two
				// reads would otherwise look stuck.)
				next, err := s.NextWebhookDue(ctx)
				if err != nil || !next.IsZero() {
					if err != nil {
						return false, err
					}
					continue
				}
				waiting, _, err := s.WebhooksWaiting(ctx)
				if err != nil || waiting == 0 {
					return false, err
				}
				return false, fmt.Errorf("%d deliveries wait, none of them due", waiting)
			}
		})
		for i, err := range append(errs, enqueueErr) {
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}
		want := make([]int64, perChain)
		for i := range want {
			want[i] = int64(i + 1)
		}
		for _, c := range chains {
			check(t, "sent order of "+c, sent[c], want)
		}
	})

	t.Run("concurrent claims take each delivery once, a chain's in order", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		now := at(time.Hour)
		const chains, perChain = 6, 8
		for seq := int64(1); seq <= perChain; seq++ {
			for c := range chains {
				must(t, s.EnqueueWebhook(ctx, newDelivery(fmt.Sprintf("acct_%c", 'a'+c), seq, now)), "EnqueueWebhook")
			}
		}
		var mu sync.Mutex
		seen := map[string]int{}
		inFlight := map[string]bool{}
		order := map[string][]int64{}
		_, errs := race(8, func(int) (bool, error) {
			for {
				got, err := s.ClaimWebhooks(ctx, now, now.Add(time.Hour), 2)
				if err != nil {
					return false, err
				}
				if len(got) == 0 {
					waiting, _, err := s.WebhooksWaiting(ctx)
					if err != nil || waiting == 0 {
						return false, err
					}
					continue // other claimers hold the rest of the chains
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
					if inFlight[d.ChainID] {
						mu.Unlock()
						return false, fmt.Errorf("two deliveries of %s claimed at once", d.ChainID)
					}
					inFlight[d.ChainID] = true
					order[d.ChainID] = append(order[d.ChainID], d.Seq)
				}
				mu.Unlock()
				for _, d := range got {
					// Out of the set before it is marked: the next of its
					// chain cannot be claimed before the mark commits.
					mu.Lock()
					delete(inFlight, d.ChainID)
					mu.Unlock()
					if err := s.MarkWebhookSent(ctx, d.ID, now); err != nil {
						return false, err
					}
				}
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
			}
		}
		check(t, "distinct deliveries claimed", len(seen), chains*perChain)
		for id, n := range seen {
			if n != 1 {
				t.Errorf("delivery %s claimed %d times, want once", id, n)
			}
		}
		for c, seqs := range order {
			check(t, "claim order of "+c, seqs, []int64{1, 2, 3, 4, 5, 6, 7, 8})
		}
	})
}

func compareIDs(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
