package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/storetest"
)

func TestStore(t *testing.T) {
	pgtest.ServerURL(t) // skip (or fail) once, not in every case
	storetest.Run(t, func(t testing.TB) keyward.Store { return pgtest.New(t) })
}

// watch runs s.WatchInvalidations in the background and returns a channel
// that receives the account of each notify, once it is listening. The watch ends
// with the test; its error is sent on errc.
func watch(t *testing.T, s *postgres.Store) (notified <-chan string, errc <-chan error, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	n := make(chan string, 100)
	e := make(chan error, 1)
	go func() {
		e <- s.WatchInvalidations(ctx, func() { close(ready) }, func(account string) { n <- account })
	}()
	select {
	case <-ready:
	case err := <-e:
		cancel()
		t.Fatalf("WatchInvalidations ended before it was ready: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("WatchInvalidations not ready after 5s")
	}
	t.Cleanup(cancel)
	return n, e, cancel
}

func expectNotify(t *testing.T, n <-chan string, within time.Duration, what string) string {
	t.Helper()
	select {
	case account := <-n:
		return account
	case <-time.After(within):
		t.Fatalf("%s: no notification within %v", what, within)
	}
	return ""
}

func expectQuiet(t *testing.T, n <-chan string, during time.Duration, what string) {
	t.Helper()
	select {
	case <-n:
		t.Fatalf("%s: got a notification, want none", what)
	case <-time.After(during):
	}
}

// openTwo opens two stores (two nodes) on one new database, and returns
// the database's name.
func openTwo(t *testing.T) (a, b *postgres.Store, dbName string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	for _, p := range []**postgres.Store{&a, &b} {
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		*p = s
	}
	return a, b, databaseName(t, url)
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// terminate ends every server connection to the database, as a restart or a
// failover would, and returns how many there were.
func terminate(t *testing.T, dbName, queryPrefix string) int {
	t.Helper()
	c, err := pgx.Connect(t.Context(), pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	err = c.QueryRow(t.Context(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND query LIKE $2 || '%'`, dbName, queryPrefix).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWatchInvalidations(t *testing.T) {
	a, b, _ := openTwo(t)
	ctx := t.Context()
	n, errc, stop := watch(t, b)

	t.Run("another node's invalidation arrives", func(t *testing.T) {
		if err := a.AddInvalidation(ctx, "acct-1", time.Now()); err != nil {
			t.Fatalf("AddInvalidation: %v", err)
		}
		// The account comes with the news, so that a cache can evict it
		// before it reads the log.
		if got := expectNotify(t, n, time.Second, "AddInvalidation on the other store"); got != "acct-1" {
			t.Errorf("notified account = %q, want acct-1", got)
		}
	})

	t.Run("delivered at commit, not before", func(t *testing.T) {
		added := make(chan struct{})
		commit := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- a.InTx(ctx, func(q keyward.Queries) error {
				if err := q.AddInvalidation(ctx, "acct-1", time.Now()); err != nil {
					return err
				}
				close(added)
				<-commit
				return nil
			})
		}()
		<-added
		expectQuiet(t, n, 200*time.Millisecond, "before commit")
		close(commit)
		if err := <-done; err != nil {
			t.Fatalf("InTx: %v", err)
		}
		expectNotify(t, n, time.Second, "after commit")
	})

	t.Run("not delivered on rollback", func(t *testing.T) {
		errBoom := errors.New("boom")
		err := a.InTx(ctx, func(q keyward.Queries) error {
			if err := q.AddInvalidation(ctx, "acct-1", time.Now()); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx: got %v, want fn's error", err)
		}
		expectQuiet(t, n, 300*time.Millisecond, "after rollback")
	})

	t.Run("ends with its context", func(t *testing.T) {
		stop()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("WatchInvalidations after cancel: got %v, want context.Canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("WatchInvalidations did not return after its context ended")
		}
	})
}

func TestWatchConnectionLost(t *testing.T) {
	a, b, db := openTwo(t)
	_, errc, _ := watch(t, b)
	if n := terminate(t, db, "LISTEN"); n != 1 {
		t.Fatalf("terminated %d listening connections, want 1", n)
	}
	select {
	case err := <-errc:
		if !keyward.IsCode(err, keyward.CodeUnavailable) {
			t.Errorf("WatchInvalidations after its connection died: got %v, want code unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchInvalidations did not notice that its connection died")
	}
	// The caller reconnects by calling again.
	n, _, _ := watch(t, b)
	if err := a.AddInvalidation(t.Context(), "acct-1", time.Now()); err != nil {
		t.Fatalf("AddInvalidation: %v", err)
	}
	expectNotify(t, n, time.Second, "after reconnecting")
}

func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	start := make(chan struct{})
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), url)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	ms, err := stores[0].MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("MigrationStatus: no migrations")
	}
	for _, m := range ms {
		if m.AppliedAt == nil {
			t.Errorf("migration %04d_%s pending after Open", m.Version, m.Name)
		}
	}
	// Each node works.
	for i, s := range stores {
		a := &keyward.Account{ID: fmt.Sprint("acct-", i), Email: fmt.Sprintf("n%d@example.com", i), PasswordHash: "x", CreatedAt: time.Now()}
		if err := s.CreateAccount(t.Context(), a); err != nil {
			t.Errorf("node %d: CreateAccount: %v", i, err)
		}
	}
}

func TestMigrationStatus(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, err := postgres.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s.Close()
	before, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus on an empty database: %v", err)
	}
	for _, m := range before {
		if m.AppliedAt != nil {
			t.Errorf("fresh database: migration %d applied", m.Version)
		}
	}
	if len(before) == 0 || before[0].Version != 1 || before[0].Name != "init" {
		t.Fatalf("MigrationStatus: got %+v, want 0001_init first", before)
	}
	for range 2 { // the second time there is nothing to do
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	after, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(after) != len(before) {
		t.Fatalf("after Migrate: %d migrations, before %d", len(after), len(before))
	}
	for _, m := range after {
		if m.AppliedAt == nil {
			t.Errorf("after Migrate: migration %d pending", m.Version)
		}
	}
}

func TestUnavailable(t *testing.T) {
	pgtest.ServerURL(t) // skip without a server, like the rest
	t.Run("nothing listens", func(t *testing.T) {
		start := time.Now()
		_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable")
		if !keyward.IsCode(err, keyward.CodeUnavailable) {
			t.Fatalf("Open: got %v, want code unavailable", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("Open took %v, want a fast failure", d)
		}
		var e *keyward.Error
		if errors.As(err, &e) && e.Message != "The database is unavailable. Try again shortly." {
			t.Errorf("Message = %q", e.Message)
		}
	})
	t.Run("connections killed", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := t.Context()
		a := &keyward.Account{ID: "acct-1", Email: "a@example.com", PasswordHash: "x", CreatedAt: time.Now()}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		if n := terminate(t, databaseName(t, url), ""); n == 0 {
			t.Fatal("no connection to terminate")
		}
		// The pool's connections are dead: a request either succeeds on a
		// new connection or says unavailable, never internal; and the store
		// recovers.
		for i := range 3 {
			_, err := s.AccountByID(ctx, a.ID)
			if err != nil && !keyward.IsCode(err, keyward.CodeUnavailable) {
				t.Errorf("request %d after the connections died: got %v, want success or unavailable", i, err)
			}
		}
		if _, err := s.AccountByID(ctx, a.ID); err != nil {
			t.Errorf("store did not recover: %v", err)
		}
	})
}

func TestInTxRetriesDeadlock(t *testing.T) {
	s := pgtest.New(t)
	ctx := t.Context()
	x := &keyward.Account{ID: "x", Email: "x@example.com", PasswordHash: "x", CreatedAt: time.Now()}
	y := &keyward.Account{ID: "y", Email: "y@example.com", PasswordHash: "y", CreatedAt: time.Now()}
	for _, a := range []*keyward.Account{x, y} {
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Two transactions lock the same two rows in opposite orders; the
	// server aborts one with deadlock_detected and InTx runs it again.
	var runs atomic.Int32
	var bothLocked sync.WaitGroup
	bothLocked.Add(2)
	var once [2]sync.Once
	tx := func(i int, first, second string) error {
		return s.InTx(ctx, func(q keyward.Queries) error {
			runs.Add(1)
			if err := q.SetPasswordHash(ctx, first, fmt.Sprint("h", i)); err != nil {
				return err
			}
			once[i].Do(func() { bothLocked.Done(); bothLocked.Wait() })
			return q.SetPasswordHash(ctx, second, fmt.Sprint("h", i))
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = tx(0, "x", "y") }()
	go func() { defer wg.Done(); errs[1] = tx(1, "y", "x") }()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	if got := runs.Load(); got != 3 {
		t.Errorf("fn ran %d times, want 3 (one deadlock victim run again)", got)
	}
}

// TestDeferredAppend covers the append that InTx sends with the next
// statement or COMMIT: its failure is reported by that call, and aborts the
// transaction on the server, so the change it records never commits without
// it, even when fn overlooks the error.
func TestDeferredAppend(t *testing.T) {
	s := pgtest.New(t)
	ctx := t.Context()
	a := &keyward.Account{ID: "a", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	// outOfSequence changes the password and appends an event with a gap
	// in its chain; next runs after it.
	outOfSequence := func(next func(q keyward.Queries) error) error {
		return s.InTx(ctx, func(q keyward.Queries) error {
			if err := q.SetPasswordHash(ctx, a.ID, "changed"); err != nil {
				return err
			}
			h, err := q.LockAuditHead(ctx, a.ID)
			if err != nil {
				return err
			}
			e := &keyward.Event{ID: fmt.Sprint("ev-", time.Now().UnixNano()), ChainID: a.ID, Time: time.Now().UTC().Truncate(time.Microsecond),
				Type: audit.PasswordChanged, Outcome: audit.Success, Actor: audit.ActorSelf}
			audit.Link(h, e)
			e.Seq++
			if err := q.AppendEvent(ctx, e); err != nil {
				return err
			}
			return next(q)
		})
	}
	cases := []struct {
		name string
		next func(q keyward.Queries) error
	}{
		{"sent with COMMIT", func(keyward.Queries) error { return nil }},
		{"sent with the next statement", func(q keyward.Queries) error {
			err := q.SetPasswordHash(ctx, a.ID, "changed again")
			if got := keyward.ErrorCode(err); got != keyward.CodeConflict {
				t.Errorf("the statement after the append: got %v (%s), want the append's conflict", err, got)
			}
			return err
		}},
		{"error overlooked", func(q keyward.Queries) error {
			_ = q.SetPasswordHash(ctx, a.ID, "changed again")
			_, _ = q.AccountByID(ctx, a.ID)
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := outOfSequence(c.next)
			if got := keyward.ErrorCode(err); got != keyward.CodeConflict {
				t.Errorf("InTx: got %v (%s), want %s", err, got, keyward.CodeConflict)
			}
			got, err := s.AccountByID(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PasswordHash != a.PasswordHash {
				t.Errorf("password hash %q committed without its event, want %q", got.PasswordHash, a.PasswordHash)
			}
			if heads, err := s.AuditHeads(ctx); err != nil || len(heads) != 0 {
				t.Errorf("AuditHeads = %v, %v; want none", heads, err)
			}
		})
	}
	t.Run("nothing to send", func(t *testing.T) {
		if err := s.InTx(ctx, func(keyward.Queries) error { return nil }); err != nil {
			t.Errorf("InTx running no statement: %v", err)
		}
	})
}

func BenchmarkSessionByTokenHash(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	a := &keyward.Account{ID: "acct-1", Email: "a@example.com", PasswordHash: "x", CreatedAt: time.Now()}
	if err := s.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	hashes := make([][]byte, 1000)
	for i := range hashes {
		hashes[i] = make([]byte, 32)
		rand.Read(hashes[i])
		now := time.Now().UTC().Truncate(time.Microsecond)
		err := s.CreateSession(ctx, &keyward.Session{
			ID: fmt.Sprint("sess-", i), AccountID: a.ID, TokenHash: hashes[i],
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
			IP: "192.0.2.1", UserAgent: "Mozilla/5.0", AAL: 1,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.SessionByTokenHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.SessionByTokenHash(ctx, hashes[i%len(hashes)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkAppendEvent appends one event the way the service does: a
// transaction that locks the chain's head and appends the next link. The
// parallel case is keyward-bench's: 4 writers, each on a chain of its own.
func BenchmarkAppendEvent(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := pgtest.New(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			benchAppend(b, s, fmt.Sprint("acct-", i%10), fmt.Sprint("ev-", i))
		}
	})
	b.Run("serial/webhook", func(b *testing.B) {
		s := pgtest.New(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			benchAppendWith(b, s, fmt.Sprint("acct-", i%10), fmt.Sprint("ev-", i), true)
		}
	})
	b.Run("writers=4", func(b *testing.B) {
		s := pgtest.New(b)
		const writers = 4
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			w := next.Add(1)
			chain := fmt.Sprint("acct-", w%writers)
			for i := 0; pb.Next(); i++ {
				benchAppend(b, s, chain, fmt.Sprint("ev-", w, "-", i))
			}
		})
	})
}

// benchKeys seal benchmark events as the service does.
var benchKeys = audit.OneKey{ID: "k1", Secret: make([]byte, 32)}

func benchAppend(b *testing.B, s *postgres.Store, chain, id string) {
	benchAppendWith(b, s, chain, id, false)
}

// benchAppendWith is benchAppend, and with webhook the event's delivery in
// the same transaction, as the service writes it with webhooks on.
func benchAppendWith(b *testing.B, s *postgres.Store, chain, id string, webhook bool) {
	ctx := context.Background()
	err := s.InTx(ctx, func(q keyward.Queries) error {
		h, err := q.LockAuditHead(ctx, chain)
		if err != nil {
			return err
		}
		e := &keyward.Event{
			ID: id, ChainID: chain, Time: time.Now().UTC().Truncate(time.Microsecond),
			Type: audit.SigninSucceeded, Outcome: audit.Success, IP: "192.0.2.1", UserAgent: "Mozilla/5.0",
			SessionID: "sess-1", Actor: audit.ActorSelf, Details: map[string]string{"device": "Firefox on Linux"},
		}
		audit.Link(h, e)
		audit.Seal(benchKeys, h, e) // what the service adds: two HMACs
		if err := q.AppendEvent(ctx, e); err != nil || !webhook {
			return err
		}
		return q.EnqueueWebhook(ctx, &keyward.WebhookDelivery{ID: e.ID, ChainID: chain, Seq: e.Seq,
			Body:      `{"type":"signin.succeeded","timestamp":"2026-03-01T09:00:00.123456Z","data":{` + strings.Repeat("x", 400) + `}}`,
			CreatedAt: e.Time, NextAttemptAt: e.Time})
	})
	if err != nil {
		b.Error(err)
	}
}

// BenchmarkClaimWebhooks is one claim of the webhook worker (up to 8 due
// deliveries, each the first of its chain) on an outbox with 100 chains due
// and one account whose first delivery retries while 10,000 of its events
// wait behind it.
func BenchmarkClaimWebhooks(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.InTx(ctx, func(q keyward.Queries) error {
		d := func(chain string, seq int64, due time.Time) *keyward.WebhookDelivery {
			return &keyward.WebhookDelivery{ID: fmt.Sprintf("ev_%s_%d", chain, seq), ChainID: chain, Seq: seq, Body: "{}",
				CreatedAt: now.Add(-time.Hour), NextAttemptAt: due}
		}
		for seq := int64(1); seq <= 10_000; seq++ {
			due := now.Add(-time.Hour)
			if seq == 1 {
				due = now.Add(time.Hour)
			}
			if err := q.EnqueueWebhook(ctx, d("acct_stuck", seq, due)); err != nil {
				return err
			}
		}
		for c := range 100 {
			if err := q.EnqueueWebhook(ctx, d(fmt.Sprintf("acct_%03d", c), 1, now.Add(-time.Minute))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.ClaimWebhooks(ctx, now, now.Add(time.Minute), 8)
		if err != nil || len(got) == 0 {
			b.Fatalf("claimed %d: %v", len(got), err)
		}
		b.StopTimer()
		for _, d := range got { // due again: the next claim finds as much
			if err := s.RetryWebhook(ctx, d.ID, now, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

func TestWatchKeepalive(t *testing.T) {
	a, b, _ := openTwo(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan struct{})
	n := make(chan string, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- b.WatchWithKeepalive(ctx, func() { close(ready) }, func(account string) { n <- account }, 20*time.Millisecond)
	}()
	<-ready
	// Several keepalive rounds (wait, time out, ping) pass quietly...
	select {
	case err := <-errc:
		t.Fatalf("WatchInvalidations ended during keepalives: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// ...and the connection still hears notifications.
	if err := a.AddInvalidation(t.Context(), "acct-1", time.Now()); err != nil {
		t.Fatalf("AddInvalidation: %v", err)
	}
	expectNotify(t, n, time.Second, "after keepalives")
}

// TestInvalidationsVisibleInOrder checks what a poller relies on: reading
// "everything after the last seq I saw" never skips a row, even when the
// transactions that add rows commit in another order than they began.
func TestInvalidationsVisibleInOrder(t *testing.T) {
	s := pgtest.New(t)
	ctx := t.Context()
	const writers, each = 8, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.InTx(ctx, func(q keyward.Queries) error {
					if err := q.AddInvalidation(ctx, fmt.Sprint("acct-", w), time.Now()); err != nil {
						return err
					}
					time.Sleep(time.Duration((w*7+i*3)%5) * time.Millisecond) // commit late, in a mixed order
					return nil
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	var cursor int64
	poll := func() {
		rows, err := s.InvalidationsSince(ctx, cursor, 1000)
		if err != nil {
			t.Fatalf("InvalidationsSince: %v", err)
		}
		for _, r := range rows {
			seen[r.Seq] = true
			cursor = r.Seq
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
			time.Sleep(time.Millisecond)
		}
		poll()
	}
	all, err := s.InvalidationsSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each {
		t.Fatalf("got %d rows, want %d", len(all), writers*each)
	}
	for _, r := range all {
		if !seen[r.Seq] {
			t.Errorf("the poller skipped seq %d: it became visible after a later one", r.Seq)
		}
	}
}

// TestEachInBatches streams more events than one batch, and calls back into
// the transaction from fn (the rows are not held open while fn runs).
func TestEachInBatches(t *testing.T) {
	s := pgtest.New(t)
	ctx := t.Context()
	const total = 1100
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.InTx(ctx, func(q keyward.Queries) error {
		for i := range total {
			h, err := q.LockAuditHead(ctx, "acct-1")
			if err != nil {
				return err
			}
			e := &keyward.Event{ID: fmt.Sprintf("ev-%05d", i), ChainID: "acct-1", Time: t0.Add(time.Duration(i/3) * time.Second),
				Type: audit.SigninSucceeded, Outcome: audit.Success, Actor: audit.ActorSelf}
			audit.Link(h, e)
			if err := q.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("appending: %v", err)
	}
	cases := []struct {
		name  string
		limit int
		want  int
	}{
		{"all", 0, total},
		{"limit across batches", 700, 700},
		{"limit of exactly one batch", 500, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			err := s.InTx(ctx, func(q keyward.Queries) error {
				return q.EachEvent(ctx, keyward.EventFilter{ChainID: "acct-1", Limit: c.limit}, func(e *keyward.Event) error {
					got = append(got, e.ID)
					_, err := q.LockAuditHead(ctx, "acct-1") // the transaction is usable inside fn
					return err
				})
			})
			if err != nil {
				t.Fatalf("EachEvent: %v", err)
			}
			if len(got) != c.want {
				t.Fatalf("got %d events, want %d", len(got), c.want)
			}
			for i, id := range got {
				if want := fmt.Sprintf("ev-%05d", total-1-i); id != want {
					t.Fatalf("event %d: got %s, want %s (newest first)", i, id, want)
				}
			}
		})
	}
	t.Run("chain", func(t *testing.T) {
		var seq int64
		err := s.EachChainEvent(ctx, "acct-1", func(e *keyward.Event) error {
			if seq++; e.Seq != seq {
				return fmt.Errorf("got seq %d, want %d", e.Seq, seq)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("EachChainEvent: %v", err)
		}
		if seq != total {
			t.Fatalf("got %d events, want %d", seq, total)
		}
	})
}

// TestTxStatementsEndByTheTxDeadline: a statement inside InTx, run with a
// context that has no deadline of its own (as a request's), still ends by
// the transaction's deadline when the server does not answer: here it waits
// for a row another connection holds locked.
func TestTxStatementsEndByTheTxDeadline(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := &keyward.Account{ID: "a", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	lock, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.Background())
	if _, err := lock.Exec(t.Context(), `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, a.ID); err != nil {
		t.Fatal(err)
	}

	for name, stmt := range map[string]func(q keyward.Queries) error{
		"exec": func(q keyward.Queries) error {
			return q.SetPasswordHash(context.Background(), a.ID, "changed")
		},
		"query row": func(q keyward.Queries) error {
			_, err := q.LockAccount(context.Background(), a.ID)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.InTx(ctx, func(q keyward.Queries) error {
				if _, err := q.LockAuditHead(ctx, "warm-up"); err != nil { // BEGIN sent
					return err
				}
				return stmt(q)
			})
			if took := time.Since(start); err == nil || took > 2*time.Second {
				t.Fatalf("InTx = %v after %v; want an error by the 300 ms deadline", err, took.Round(time.Millisecond))
			}
		})
	}
	if err := lock.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The store is still usable afterwards.
	if err := s.InTx(t.Context(), func(q keyward.Queries) error { return q.SetPasswordHash(t.Context(), a.ID, "later") }); err != nil {
		t.Fatal(err)
	}
}

// TestAuditEventsAppendOnly: the trigger refuses every UPDATE, TRUNCATE and
// DELETE of audit events, as SQLite's refuses UPDATE, except the DELETE of
// retention pruning (PruneEvents), which sets keyward.audit_prune for its
// own transaction only.
func TestAuditEventsAppendOnly(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		e := &keyward.Event{ID: fmt.Sprint("e", i), ChainID: "c", Time: time.UnixMicro(int64(5 + i)).UTC(), Type: audit.Signout}
		err := s.InTx(ctx, func(q keyward.Queries) error {
			h, err := q.LockAuditHead(ctx, "c")
			if err != nil {
				return err
			}
			audit.Link(h, e)
			return q.AppendEvent(ctx, e)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, stmt := range []string{
		`UPDATE audit_events SET ip = '10.9.9.9'`,
		`UPDATE audit_events SET hash = '\x02' WHERE id = 'e1'`,
		`DELETE FROM audit_events WHERE seq = 2`,
		`TRUNCATE audit_events`,
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the append-only trigger to refuse", stmt, err)
		}
	}
	n, err := s.PruneEvents(ctx, "c", time.UnixMicro(6).UTC())
	if err != nil || n != 1 {
		t.Fatalf("PruneEvents = %d, %v; want the one older event pruned", n, err)
	}
}

// TestAccountDeletionMayDeleteEvents: DeleteAccount deletes the account's
// audit chain through the append-only trigger, as pruning does, and its
// licence ends with it: a later statement of its transaction, and the next
// transaction on the same connection, are refused again.
func TestAccountDeletionMayDeleteEvents(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, url+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		a := &keyward.Account{ID: fmt.Sprint("acct_", i), Email: email, PasswordHash: "h", CreatedAt: time.UnixMicro(1).UTC()}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		e := &keyward.Event{ID: fmt.Sprint("e", i), ChainID: a.ID, Time: time.UnixMicro(5).UTC(), Type: audit.AccountCreated}
		err := s.InTx(ctx, func(q keyward.Queries) error {
			h, err := q.LockAuditHead(ctx, a.ID)
			if err != nil {
				return err
			}
			audit.Link(h, e)
			return q.AppendEvent(ctx, e)
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	if err := s.DeleteAccount(ctx, ids[0]); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	err = s.InTxThenExec(ctx, func(q keyward.Queries) error { return q.DeleteAccount(ctx, ids[1]) },
		`DELETE FROM audit_events WHERE chain_id = 'acct_2'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("a DELETE after DeleteAccount in its transaction: got %v, want the append-only trigger to refuse", err)
	}
	err = s.InTxThenExec(ctx, func(keyward.Queries) error { return nil }, `DELETE FROM audit_events WHERE chain_id = 'acct_2'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("a DELETE in the next transaction on the connection: got %v, want the append-only trigger to refuse", err)
	}
	heads, err := s.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chains []string
	for _, h := range heads {
		chains = append(chains, h.ChainID)
	}
	// acct_1's deletion rolled back with the refused statement.
	if want := []string{"acct_1", "acct_2"}; !slices.Equal(chains, want) {
		t.Errorf("chains left: %v, want %v", chains, want)
	}
}
