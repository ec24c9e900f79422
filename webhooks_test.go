package keyward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/webhook"
)

// webhookSecret is a Standard Webhooks secret (24 bytes) for the tests.
const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhookCall is one request a refReceiver got.
type webhookCall struct {
	id, typ, account string
	eventTime        time.Time
	arrived          time.Time
	status           int // what the receiver answered; 0 when it hung up
}

// refReceiver is a real HTTP receiver on loopback. It checks every request
// with the Standard Webhooks project's own Go library (the reference
// verification of the format), not with keyward's code, and answers as
// answer says: a status, or hanging until the client gives up.
type refReceiver struct {
	t   testing.TB
	srv *httptest.Server
	mu  sync.Mutex
	// calls is every request in the order it came; bad the refusals of
	// the reference verification and malformed bodies.
	calls []webhookCall
	bad   []string
	// answer gives the n-th request's (from 0) status; hang holds it
	// until the client goes away.
	answer func(n int, c webhookCall) (status int, hang bool)
}

func newRefReceiver(t testing.TB, answer func(n int, c webhookCall) (int, bool)) *refReceiver {
	t.Helper()
	ref, err := standardwebhooks.NewWebhook(webhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &refReceiver{t: t, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Type      string    `json:"type"`
			Timestamp time.Time `json:"timestamp"`
			Data      struct {
				ID        string     `json:"id"`
				Type      string     `json:"type"`
				Time      time.Time  `json:"time"`
				AccountID *string    `json:"account_id"`
				Device    struct{}   `json:"device"`
				Details   *yesObject `json:"details"`
			} `json:"data"`
		}
		c := webhookCall{id: r.Header.Get("webhook-id"), arrived: time.Now()}
		rc.mu.Lock()
		if err := ref.Verify(body, r.Header); err != nil {
			rc.bad = append(rc.bad, c.id+": "+err.Error())
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Data.ID != c.id || p.Type != p.Data.Type || !p.Timestamp.Equal(p.Data.Time) || p.Data.Details == nil {
			rc.bad = append(rc.bad, fmt.Sprintf("%s: body %s", c.id, body))
		}
		c.typ, c.eventTime = p.Type, p.Timestamp
		if p.Data.AccountID != nil {
			c.account = *p.Data.AccountID
		}
		n := len(rc.calls)
		rc.calls = append(rc.calls, c)
		rc.mu.Unlock()
		status, hang := http.StatusNoContent, false
		if rc.answer != nil {
			status, hang = rc.answer(n, c)
		}
		if hang {
			<-r.Context().Done()
			return
		}
		rc.mu.Lock()
		rc.calls[n].status = status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// yesObject is any JSON object.
type yesObject map[string]any

func (rc *refReceiver) snapshot() ([]webhookCall, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.calls), slices.Clone(rc.bad)
}

// accepted is every call answered 2xx, in order.
func (rc *refReceiver) accepted() []webhookCall {
	calls, _ := rc.snapshot()
	var out []webhookCall
	for _, c := range calls {
		if c.status >= 200 && c.status < 300 {
			out = append(out, c)
		}
	}
	return out
}

// sender is a webhook.Sender to rc.
func (rc *refReceiver) sender(t testing.TB, timeout time.Duration) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(webhook.Config{URL: rc.srv.URL + "/hooks?token=secret-query", Secret: webhookSecret, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitAccepted waits until rc has accepted n calls.
func (rc *refReceiver) waitAccepted(t testing.TB, n int, within time.Duration) []webhookCall {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rc.accepted()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			calls, bad := rc.snapshot()
			t.Fatalf("%d of %d webhooks accepted after %v (%d requests, refusals %v)", len(got), n, within, len(calls), bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func webhookConfig(t testing.TB, events string) keyward.Config {
	t.Helper()
	sel, err := audit.ParseSelector(events)
	if err != nil {
		t.Fatal(err)
	}
	cfg := keyward.DefaultConfig()
	cfg.WebhookEvents = &sel
	return cfg
}

// chainOrder is the ids of the account's events, oldest first.
func chainOrder(t testing.TB, e *keywardtest.Env, accountID string) []string {
	t.Helper()
	var ids []string
	err := e.Svc.OperatorEvents(ctx, accountID, keyward.EventQuery{}, func(ev *keyward.Event) error {
		ids = append(ids, ev.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ids)
	return ids
}

// checkInOrder checks that every account's accepted webhooks are its
// events, each once, oldest first, and that no account's attempts went
// back to an earlier event (a later one never went before an earlier one
// was accepted).
func checkInOrder(t testing.TB, e *keywardtest.Env, rc *refReceiver, accounts []string) {
	t.Helper()
	calls, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("the reference verification refused: %v", bad)
	}
	for _, a := range accounts {
		want := chainOrder(t, e, a)
		var got []string
		pos := map[string]int{}
		for i, id := range want {
			pos[id] = i
		}
		last := -1
		for _, c := range calls {
			if c.account != a {
				continue
			}
			p, ok := pos[c.id]
			if !ok {
				t.Errorf("account %s: webhook %s is no event of its log", a, c.id)
				continue
			}
			if p < last {
				t.Errorf("account %s: event %d was attempted after event %d", a, p, last)
			}
			last = max(last, p)
			if c.status >= 200 && c.status < 300 {
				got = append(got, c.id)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("account %s: accepted\n %v\nwant its events in order\n %v", a, got, want)
		}
	}
}

// TestWebhookRowsWithTheirEvents: with webhooks on, each event the filter
// picks gets a delivery in its own transaction, and no other event does;
// with webhooks off, none.
func TestWebhookRowsWithTheirEvents(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    keyward.Config
		events string
		want   int
	}{
		{"off", keyward.DefaultConfig(), "", 0},
		{"every event", webhookConfig(t, ""), "", 5}, // created, signed in, failed, signed out, signed in
		{"signin. and account.created", webhookConfig(t, "signin.,account.created"), "", 4},
		{"signout only", webhookConfig(t, "signout"), "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{Config: tt.cfg})
			signUp(t, e, "ada@example.com")
			res := signIn(t, e, "ada@example.com", laptop)
			if _, err := e.Svc.SignIn(ctx, "ada@example.com", "wrong password here", phone); err == nil {
				t.Fatal("wrong password accepted")
			}
			if err := e.Svc.SignOut(ctx, res.Session, laptop); err != nil {
				t.Fatal(err)
			}
			signIn(t, e, "ada@example.com", phone)
			waiting, retrying, err := e.Svc.WebhooksWaiting(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if waiting != tt.want || retrying != 0 {
				t.Errorf("waiting, retrying = %d, %d; want %d, 0", waiting, retrying, tt.want)
			}
		})
	}
}

// TestWebhookDelivery: every delivery reaches a real receiver, verifies
// with the reference library, and carries its event: id, type, time and
// account (null for the system log).
func TestWebhookDelivery(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: webhookConfig(t, "")})
	a := signUp(t, e, "ada@example.com")
	signIn(t, e, "ada@example.com", laptop)
	if _, err := e.Svc.SignIn(ctx, "nobody@example.com", goodPassword, laptop); err == nil {
		t.Fatal("unknown account signed in")
	}
	rc := newRefReceiver(t, nil)
	w := keyward.WebhookWorker{Sender: rc.sender(t, 5*time.Second)}
	n, err := e.Svc.DeliverDueWebhooks(ctx, w)
	if err != nil || n != 2 {
		t.Fatalf("DeliverDueWebhooks = %d, %v; want the first of each chain (2)", n, err)
	}
	if n, err := e.Svc.DeliverDueWebhooks(ctx, w); err != nil || n != 1 {
		t.Fatalf("second pass = %d, %v; want the account's second event", n, err)
	}
	if n, _ := e.Svc.DeliverDueWebhooks(ctx, w); n != 0 {
		t.Errorf("a third pass claimed %d", n)
	}
	calls, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatalf("refused: %v", bad)
	}
	var events []keyward.Event
	if err := e.Svc.OperatorEvents(ctx, "", keyward.EventQuery{}, func(ev *keyward.Event) error {
		events = append(events, *ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(events) {
		t.Fatalf("%d webhooks for %d events", len(calls), len(events))
	}
	byID := map[string]webhookCall{}
	for _, c := range calls {
		byID[c.id] = c
	}
	for _, ev := range events {
		c, ok := byID[ev.ID]
		wantAccount := ev.ChainID
		if ev.ChainID == audit.SystemChain {
			wantAccount = ""
		}
		if !ok || c.typ != string(ev.Type) || !c.eventTime.Equal(ev.Time) || c.account != wantAccount {
			t.Errorf("event %s (%s of %s at %v) arrived as %+v", ev.ID, ev.Type, ev.ChainID, ev.Time, c)
		}
	}
	if got := chainOrder(t, e, a.ID); len(got) != 2 {
		t.Errorf("account log: %v", got)
	}
	if waiting, _, _ := e.Svc.WebhooksWaiting(ctx); waiting != 0 {
		t.Errorf("%d still waiting", waiting)
	}
	if got := e.Svc.Metrics().Webhooks.Value(metrics.WebhookDelivered); got != 3 {
		t.Errorf("delivered counter = %d, want 3", got)
	}
}

// TestWebhookOutageInOrder: a receiver that fails for a while (errors,
// requests it never answers) then recovers gets every event, each
// account's in order, while events keep coming; nothing is lost and no
// account's later event goes before an earlier one.
func TestWebhookOutageInOrder(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: webhookConfig(t, ""), RealTime: true})
	var down atomic.Bool
	down.Store(true)
	rc := newRefReceiver(t, func(n int, c webhookCall) (int, bool) {
		if !down.Load() {
			return http.StatusOK, false
		}
		switch n % 4 {
		case 0:
			return http.StatusInternalServerError, false
		case 1:
			return 0, true // never answers: the attempt times out
		case 2:
			return http.StatusServiceUnavailable, false
		}
		return http.StatusFound, false // a redirect is not success
	})
	w := keyward.WebhookWorker{Sender: rc.sender(t, 5*time.Second), SendTimeout: 150 * time.Millisecond,
		RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, Poll: time.Second, Concurrency: 3}
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.Svc.RunWebhookWorker(workCtx, w); close(done) }()
	defer func() { stop(); <-done }()

	emails := []string{"ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"}
	var accounts []string
	for _, em := range emails {
		accounts = append(accounts, signUp(t, e, em).ID)
	}
	act := func(round int) {
		for i, em := range emails {
			c := []keyward.Client{laptop, phone}[(round+i)%2]
			res := signIn(t, e, em, c)
			if (round+i)%3 == 0 {
				if _, err := e.Svc.SignIn(ctx, em, "wrong password here", c); err == nil {
					t.Fatal("wrong password accepted")
				}
			}
			if err := e.Svc.SignOut(ctx, res.Session, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	act(0)
	// Down until at least 16 attempts failed, events arriving meanwhile.
	for round := 1; ; round++ {
		if calls, _ := rc.snapshot(); len(calls) >= 16 {
			break
		}
		if round > 1000 {
			t.Fatal("the worker made too few attempts while the receiver was down")
		}
		if round < 4 {
			act(round)
		}
		time.Sleep(20 * time.Millisecond)
	}
	act(99)
	down.Store(false)
	total := 0
	for _, a := range accounts {
		total += len(chainOrder(t, e, a))
	}
	rc.waitAccepted(t, total, 30*time.Second)
	checkInOrder(t, e, rc, accounts)
	calls, _ := rc.snapshot()
	m := e.Svc.Metrics().Webhooks
	if got := m.Value(metrics.WebhookDelivered); got != uint64(total) {
		t.Errorf("delivered counter = %d, want %d", got, total)
	}
	if failed := m.Value(metrics.WebhookFailed); failed < 16 || failed+uint64(total) != uint64(len(calls)) {
		t.Errorf("failed counter = %d with %d requests for %d events", failed, len(calls), total)
	}
	t.Logf("%d events of %d accounts, %d requests (%d failed)", total, len(accounts), len(calls), m.Value(metrics.WebhookFailed))
}

// TestWebhookGiveUp: a delivery the receiver refuses is tried with a
// growing, jittered wait for RetryFor after its event, then given up,
// counted and logged (without the URL's query); the account's next event
// then goes, and other accounts' went meanwhile.
func TestWebhookGiveUp(t *testing.T) {
	var logs bytes.Buffer
	e := keywardtest.New(t, keywardtest.Options{Config: webhookConfig(t, ""),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ada := signUp(t, e, "ada@example.com")
	first := chainOrder(t, e, ada.ID)[0]
	signIn(t, e, "ada@example.com", laptop)
	rc := newRefReceiver(t, func(n int, c webhookCall) (int, bool) {
		if c.id == first {
			return http.StatusGone, false
		}
		return http.StatusOK, false
	})
	w := keyward.WebhookWorker{Sender: rc.sender(t, 5*time.Second)}
	attempts := 0
	var waits []time.Duration
	for step := 0; ; step++ {
		if step == 3 {
			signUp(t, e, "bob@example.com") // goes while ada's first event retries
		}
		if _, err := e.Svc.DeliverDueWebhooks(ctx, w); err != nil {
			t.Fatal(err)
		}
		attempts++
		next, err := e.Svc.Store().NextWebhookDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if next.IsZero() {
			break
		}
		if wait := next.Sub(e.Clock.Now()); wait > 0 {
			waits = append(waits, wait)
			e.Clock.Advance(wait)
		}
		if step > 100 {
			t.Fatal("never given up")
		}
	}
	calls, _ := rc.snapshot()
	var tries int
	for _, c := range calls {
		if c.id == first {
			tries++
		}
	}
	if elapsed := e.Clock.Now().Sub(keywardtest.Start); elapsed < 24*time.Hour || elapsed > 24*time.Hour+time.Minute {
		t.Errorf("given up %v after the event, want 24h", elapsed)
	}
	if tries < 20 || tries > 45 {
		t.Errorf("%d attempts in 24 h, want some 30 (waits %v)", tries, waits)
	}
	for i, wt := range waits[:5] {
		base := 5 * time.Second << i
		if wt < base/2 || wt > base {
			t.Errorf("wait %d = %v, want %v to %v", i+1, wt, base/2, base)
		}
	}
	if got := rc.accepted(); len(got) != 2 || got[0].account == ada.ID || got[0].typ != "account.created" ||
		got[1].account != ada.ID || got[1].typ != "signin.succeeded" {
		t.Errorf("accepted %+v, want bob's account.created while ada's first event retried, then ada's sign-in once it was given up", got)
	}
	m := e.Svc.Metrics().Webhooks
	if m.Value(metrics.WebhookAbandoned) != 1 || m.Value(metrics.WebhookFailed) != uint64(tries-1) {
		t.Errorf("abandoned %d, failed %d; want 1 and %d", m.Value(metrics.WebhookAbandoned), m.Value(metrics.WebhookFailed), tries-1)
	}
	out := logs.String()
	if !strings.Contains(out, "gave up delivering a webhook") || !strings.Contains(out, first) || !strings.Contains(out, "410 Gone") {
		t.Errorf("no log line of the give-up:\n%s", out)
	}
	if strings.Contains(out, "secret-query") || strings.Contains(out, strings.TrimPrefix(webhookSecret, "whsec_")) {
		t.Errorf("the log shows the URL's query or the secret:\n%s", out)
	}
}

func TestWebhookRetryWait(t *testing.T) {
	w := keyward.WebhookWorker{}
	rnd := mrand.New(mrand.NewPCG(3, 4))
	var seed [8]byte
	for _, tt := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 2500 * time.Millisecond, 5 * time.Second},
		{2, 5 * time.Second, 10 * time.Second},
		{5, 40 * time.Second, 80 * time.Second},
		{11, 30 * time.Minute, time.Hour},
		{40, 30 * time.Minute, time.Hour},
		{1000, 30 * time.Minute, time.Hour},
	} {
		seen := map[time.Duration]bool{}
		for range 50 {
			for i := range seed {
				seed[i] = byte(rnd.Uint32())
			}
			got := w.RetryWait(tt.attempt, bytes.NewReader(seed[:]))
			if got < tt.min || got > tt.max {
				t.Errorf("attempt %d: wait %v, want %v to %v", tt.attempt, got, tt.min, tt.max)
			}
			seen[got] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: %d distinct waits in 50: no jitter", tt.attempt, len(seen))
		}
	}
}

// countingOutbox counts the worker's reads of the outbox.
type countingOutbox struct {
	keyward.Store
	claims, nexts atomic.Int32
}

func (c *countingOutbox) ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]keyward.WebhookDelivery, error) {
	c.claims.Add(1)
	return c.Store.ClaimWebhooks(ctx, now, until, limit)
}

func (c *countingOutbox) NextWebhookDue(ctx context.Context) (time.Time, error) {
	c.nexts.Add(1)
	return c.Store.NextWebhookDue(ctx)
}

// TestWebhookWakeAndIdle: idle, the worker reads the outbox once a poll and
// does nothing else; a committed event wakes it at once, however long the
// poll.
func TestWebhookWakeAndIdle(t *testing.T) {
	store := &countingOutbox{Store: keywardtest.NewStore(t)}
	e := keywardtest.New(t, keywardtest.Options{Config: webhookConfig(t, ""), RealTime: true, Store: store})
	rc := newRefReceiver(t, nil)
	const poll = 200 * time.Millisecond
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		e.Svc.RunWebhookWorker(workCtx, keyward.WebhookWorker{Sender: rc.sender(t, time.Second), Poll: poll})
		close(done)
	}()

	time.Sleep(100 * time.Millisecond) // the first read
	claims, nexts := store.claims.Load(), store.nexts.Load()
	const idle = 2 * time.Second
	time.Sleep(idle)
	dc, dn := store.claims.Load()-claims, store.nexts.Load()-nexts
	if want := int32(idle/poll) + 1; dc > want || dn > want || dc < want-3 {
		t.Errorf("idle for %v with a %v poll: %d claims and %d due reads, want about %d each", idle, poll, dc, dn, want)
	}

	// With a poll of an hour, each event arrives at once.
	stop()
	<-done
	hourCtx, stopHour := context.WithCancel(ctx)
	hourDone := make(chan struct{})
	go func() {
		e.Svc.RunWebhookWorker(hourCtx, keyward.WebhookWorker{Sender: rc.sender(t, time.Second), Poll: time.Hour})
		close(hourDone)
	}()
	defer func() { stopHour(); <-hourDone }()
	time.Sleep(50 * time.Millisecond)
	var lat []time.Duration
	for i := range 20 {
		signUp(t, e, fmt.Sprintf("user%d@example.com", i))
		committed := time.Now()
		got := rc.waitAccepted(t, i+1, 5*time.Second)
		lat = append(lat, got[i].arrived.Sub(committed))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("commit to the receiver: median %v, max %v (poll 1h)", lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)-1] > 2*time.Second {
		t.Errorf("an event took %v to arrive with an hour's poll: the commit did not wake the worker", lat[len(lat)-1])
	}
}

// TestWebhookSlowReceiverDoesNotSlowRequests: a receiver that never
// answers keeps the worker's attempts waiting, never a request.
func TestWebhookSlowReceiverDoesNotSlowRequests(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: webhookConfig(t, ""), RealTime: true})
	rc := newRefReceiver(t, func(int, webhookCall) (int, bool) { return 0, true })
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		e.Svc.RunWebhookWorker(workCtx, keyward.WebhookWorker{Sender: rc.sender(t, 3*time.Second), SendTimeout: 3 * time.Second})
		close(done)
	}()
	defer func() { stop(); <-done }()
	var slowest time.Duration
	for i := range 10 {
		start := time.Now()
		em := fmt.Sprintf("user%d@example.com", i)
		signUp(t, e, em)
		signIn(t, e, em, laptop)
		slowest = max(slowest, time.Since(start))
	}
	if calls, _ := rc.snapshot(); len(calls) == 0 {
		t.Fatal("the worker never reached the receiver")
	}
	if slowest > 2*time.Second { // waiting for the receiver would take 3 s
		t.Errorf("a sign-up and sign-in took %v while the receiver hung", slowest)
	}
}

// TestWebhookTwoNodesOnPostgres: two nodes, each with its own connection
// pool to one PostgreSQL database and its own worker, deliver every event
// once, each account's in order, whichever node wrote it.
func TestWebhookTwoNodesOnPostgres(t *testing.T) {
	if pgtest.ServerURL(t) == "" {
		t.Skip("no PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	open := func() keyward.Store {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cfg := webhookConfig(t, "")
	node1 := keywardtest.New(t, keywardtest.Options{Store: open(), Config: cfg, RealTime: true})
	node2 := keywardtest.New(t, keywardtest.Options{Store: open(), Config: cfg, RealTime: true, Keys: node1.Keys})
	rc := newRefReceiver(t, func(int, webhookCall) (int, bool) {
		time.Sleep(2 * time.Millisecond) // let the nodes' claims overlap
		return http.StatusOK, false
	})
	workCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, n := range []*keywardtest.Env{node1, node2} {
		wg.Go(func() {
			n.Svc.RunWebhookWorker(workCtx, keyward.WebhookWorker{Sender: rc.sender(t, 5*time.Second), Poll: 200 * time.Millisecond, Concurrency: 4})
		})
	}
	defer func() { stop(); wg.Wait() }()

	nodes := []*keywardtest.Env{node1, node2}
	var accounts []string
	for i := range 5 {
		accounts = append(accounts, signUp(t, nodes[i%2], fmt.Sprintf("user%d@example.com", i)).ID)
	}
	for round := range 6 {
		for i := range accounts {
			n := nodes[(round+i)%2]
			res := signIn(t, n, fmt.Sprintf("user%d@example.com", i), laptop)
			if err := nodes[(round+i+1)%2].Svc.SignOut(ctx, res.Session, laptop); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := 0
	for _, a := range accounts {
		total += len(chainOrder(t, node1, a))
	}
	rc.waitAccepted(t, total, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	calls, _ := rc.snapshot()
	seen := map[string]int{}
	for _, c := range calls {
		seen[c.id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if len(calls) != total {
		t.Errorf("%d requests for %d events", len(calls), total)
	}
	checkInOrder(t, node1, rc, accounts)
	d1, d2 := node1.Svc.Metrics().Webhooks.Value(metrics.WebhookDelivered), node2.Svc.Metrics().Webhooks.Value(metrics.WebhookDelivered)
	t.Logf("%d events: node 1 delivered %d, node 2 %d", total, d1, d2)
	if d1+d2 != uint64(total) {
		t.Errorf("the nodes counted %d + %d deliveries for %d events", d1, d2, total)
	}
}
