package sqlite

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

var benchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func benchAccount(b *testing.B, s *Store, i int) string {
	b.Helper()
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	if err := s.CreateAccount(b.Context(), &keyward.Account{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: benchBase}); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkSessionByTokenHash is the check every authenticated request
// makes, on a store with 10,000 sessions.
func BenchmarkSessionByTokenHash(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	const n = 10_000
	acct := benchAccount(b, s, 1)
	hashes := make([][]byte, n)
	err := s.InTx(ctx, func(q keyward.Queries) error {
		for i := range hashes {
			hashes[i] = make([]byte, 32)
			rand.Read(hashes[i])
			err := q.CreateSession(ctx, &keyward.Session{ID: fmt.Sprintf("s%d", i), AccountID: acct, TokenHash: hashes[i],
				CreatedAt: benchBase, LastSeenAt: benchBase, ExpiresAt: benchBase.Add(time.Hour), IP: "192.0.2.1", UserAgent: "Mozilla/5.0"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.SessionByTokenHash(ctx, hashes[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAppendEvent appends one event the way the service does: a
// transaction that locks the chain's head and appends the next link. The
// parallel case is keyward-bench's: 4 writers, each on a chain of its own.
func BenchmarkAppendEvent(b *testing.B) {
	for _, chains := range []int{1, 100} {
		b.Run(fmt.Sprintf("chains=%d", chains), func(b *testing.B) {
			s := open(b)
			ids := make([]string, chains)
			for i := range ids {
				ids[i] = benchAccount(b, s, i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				benchAppend(b, s, ids[i%chains], i)
				i++
			}
		})
	}
	b.Run("chains=100/webhook", func(b *testing.B) {
		s := open(b)
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = benchAccount(b, s, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			benchAppendWith(b, s, ids[i%len(ids)], i, true)
			i++
		}
	})
	b.Run("chains=4/writers=4", func(b *testing.B) {
		s := open(b)
		const writers = 4
		ids := make([]string, writers)
		for i := range ids {
			ids[i] = benchAccount(b, s, i)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			w := int(next.Add(1) - 1)
			chain := ids[w%writers]
			for i := 0; pb.Next(); i++ {
				benchAppend(b, s, chain, w<<32|i)
			}
		})
	})
}

// benchKeys seal benchmark events as the service does.
var benchKeys = audit.OneKey{ID: "k1", Secret: make([]byte, 32)}

func benchAppend(b *testing.B, s *Store, chain string, i int) { benchAppendWith(b, s, chain, i, false) }

// benchAppendWith is benchAppend, and with webhook the event's delivery in
// the same transaction, as the service writes it with webhooks on.
func benchAppendWith(b *testing.B, s *Store, chain string, i int, webhook bool) {
	ctx := b.Context()
	err := s.InTx(ctx, func(q keyward.Queries) error {
		h, err := q.LockAuditHead(ctx, chain)
		if err != nil {
			return err
		}
		e := &keyward.Event{
			ID: fmt.Sprintf("e%d", i), ChainID: chain, Time: benchBase.Add(time.Duration(i) * time.Millisecond),
			Type: audit.SigninSucceeded, Outcome: audit.Success, IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
			Actor: audit.ActorSelf, Details: map[string]string{"device": "Firefox on Linux"},
		}
		audit.Link(h, e)
		audit.Seal(benchKeys, h, e) // what the service adds: two HMACs
		if err := q.AppendEvent(ctx, e); err != nil || !webhook {
			return err
		}
		return q.EnqueueWebhook(ctx, &keyward.WebhookDelivery{ID: e.ID, ChainID: chain, Seq: e.Seq, Body: benchWebhookBody,
			CreatedAt: e.Time, NextAttemptAt: e.Time})
	})
	if err != nil {
		b.Error(err)
	}
}

// benchWebhookBody is the size of a typical delivery's body.
var benchWebhookBody = `{"type":"signin.succeeded","timestamp":"2026-03-01T09:00:00.123456Z","data":{` + strings.Repeat("x", 400) + `}}`

// BenchmarkClaimWebhooks is one claim of the webhook worker (up to 8 due
// deliveries, each the first of its chain) on an outbox with 100 chains due
// and one account whose first delivery retries while 10,000 of its events
// wait behind it (a receiver that refused that account for hours).
func BenchmarkClaimWebhooks(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	fillWebhookBacklog(b, func(fn func(q keyward.Queries) error) error { return s.InTx(ctx, fn) })
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.ClaimWebhooks(ctx, benchBase, benchBase.Add(time.Minute), 8)
		if err != nil || len(got) == 0 {
			b.Fatalf("claimed %d: %v", len(got), err)
		}
		b.StopTimer()
		for _, d := range got { // due again: the next claim finds as much
			if err := s.RetryWebhook(ctx, d.ID, benchBase, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

// fillWebhookBacklog writes BenchmarkClaimWebhooks' outbox.
func fillWebhookBacklog(b *testing.B, inTx func(func(q keyward.Queries) error) error) {
	b.Helper()
	ctx := b.Context()
	err := inTx(func(q keyward.Queries) error {
		d := func(chain string, seq int64, due time.Time) *keyward.WebhookDelivery {
			return &keyward.WebhookDelivery{ID: fmt.Sprintf("ev_%s_%d", chain, seq), ChainID: chain, Seq: seq, Body: benchWebhookBody,
				CreatedAt: benchBase.Add(-time.Hour), NextAttemptAt: due}
		}
		for seq := int64(1); seq <= 10_000; seq++ {
			due := benchBase.Add(-time.Hour) // due long ago, but behind the first
			if seq == 1 {
				due = benchBase.Add(time.Hour) // retrying
			}
			if err := q.EnqueueWebhook(ctx, d("acct_stuck", seq, due)); err != nil {
				return err
			}
		}
		for c := range 100 {
			if err := q.EnqueueWebhook(ctx, d(fmt.Sprintf("acct_%03d", c), 1, benchBase.Add(-time.Minute))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListEventsNewestPage reads the first and a later page of 50
// events on a store of 200,000 events across 1,000 chains (2% of them in the
// system chain). KEYWARD_BENCH_EVENTS sets another size, e.g. 10000000 to
// check the indexes at the scale they are meant for.
func BenchmarkListEventsNewestPage(b *testing.B) {
	const chains = 1000
	events := 200_000
	if v, err := strconv.Atoi(os.Getenv("KEYWARD_BENCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	s := open(b)
	ctx := b.Context()
	start := time.Now()
	ids := make([]string, chains)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	types := audit.Types()
	fillEvents(b, s, ids, events)
	b.Logf("setup: %d events in %v", events, time.Since(start).Round(time.Millisecond))

	// cursor is the position after the first n events f selects.
	cursor := func(f keyward.EventFilter, n int) *keyward.EventCursor {
		f.Limit = n
		evs, err := s.ListEvents(ctx, f)
		if err != nil || len(evs) == 0 {
			b.Fatalf("cursor: %v (%d events)", err, len(evs))
		}
		last := evs[len(evs)-1]
		return &keyward.EventCursor{Time: last.Time, ID: last.ID}
	}
	failures := []audit.Type{audit.SigninFailed, audit.SigninMFAFailed, audit.SigninThrottled}
	cases := []struct {
		name   string
		filter func(i int) keyward.EventFilter
	}{
		{"chain", func(i int) keyward.EventFilter { return keyward.EventFilter{ChainID: ids[i%chains]} }},
		{"chain/type", func(i int) keyward.EventFilter {
			return keyward.EventFilter{ChainID: ids[i%chains], Types: []audit.Type{types[i%len(types)]}}
		}},
		{"system chain", func(int) keyward.EventFilter { return keyward.EventFilter{ChainID: audit.SystemChain} }},
		// Page 5: with every type of the vocabulary equally likely, the
		// system chain holds only some 400 events of these three.
		{"system chain/3 types/page 5", func() func(int) keyward.EventFilter {
			f := keyward.EventFilter{ChainID: audit.SystemChain, Types: failures}
			f.Before = cursor(f, 200)
			return func(int) keyward.EventFilter { return f }
		}()},
		{"all chains", func(int) keyward.EventFilter { return keyward.EventFilter{} }},
		{"all chains/page 11", func() func(int) keyward.EventFilter {
			f := keyward.EventFilter{Before: cursor(keyward.EventFilter{}, 500)}
			return func(int) keyward.EventFilter { return f }
		}()},
		{"all chains/3 types", func(int) keyward.EventFilter { return keyward.EventFilter{Types: failures} }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := c.filter(i)
				f.Limit = 50
				evs, err := s.ListEvents(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) == 0 {
					b.Fatal("empty page")
				}
				i++
			}
		})
	}
}

// fillEvents writes n events spread over chains (and the system chain) in
// big transactions, straight into the tables: the fixture for the read
// benchmarks, far faster than n appends.
func fillEvents(b testing.TB, s *Store, chains []string, n int) {
	b.Helper()
	ctx := b.Context()
	types := audit.Types()
	r := mrand.New(mrand.NewPCG(1, 1))
	hash := make([]byte, 32)
	seq := map[string]int64{}
	const batch = 50_000
	for done := 0; done < n; done += batch {
		tx, err := s.writer.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for i := done; i < min(done+batch, n); i++ {
			chain := chains[r.IntN(len(chains))]
			if i%50 == 0 {
				chain = audit.SystemChain
			}
			seq[chain]++
			_, err := ins.ExecContext(ctx, fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i), chain, seq[chain],
				toUS(benchBase.Add(time.Duration(i)*time.Second)), string(types[r.IntN(len(types))]), "success", "",
				"192.0.2.1", "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0", "", "self", `{"device":"Firefox on Linux"}`, hash, hash, "")
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	for chain, n := range seq {
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO audit_heads (chain_id, seq, hash) VALUES (?, ?, ?)`, chain, n, hash); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.writer.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
