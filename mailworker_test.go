package keyward_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
)

// smtpMailer is a Mailer sending to srv over the wire.
func smtpMailer(t testing.TB, srv *mailtest.Server) *mail.Mailer {
	t.Helper()
	tr, err := mail.NewSMTP(mail.SMTPConfig{URL: srv.URL(), TLS: srv.TLSConfig(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	m, err := mail.New(mail.Config{ProductName: "Example", PublicURL: "https://id.example.com", From: "Example <accounts@example.com>"}, tr)
	if err != nil {
		t.Fatalf("mail.New: %v", err)
	}
	return m
}

func noticeTo(to string) *keyward.MailContent {
	return &keyward.MailContent{To: to, Kind: keyward.MailNotice, Event: "password.changed", Time: keywardtest.Start, IP: "203.0.113.5", Device: "Chrome on Windows"}
}

func enqueue(t testing.TB, e *keywardtest.Env, c *keyward.MailContent) {
	t.Helper()
	if err := e.Svc.EnqueueMailThen(ctx, c, func() error { return nil }); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func waiting(t testing.TB, e *keywardtest.Env) [2]int {
	t.Helper()
	w, r, err := e.Svc.MailsWaiting(ctx)
	if err != nil {
		t.Fatalf("MailsWaiting: %v", err)
	}
	return [2]int{w, r}
}

// TestMailWorkerSends: committed mails reach a real SMTP server (STARTTLS)
// once each; a mail of a transaction that rolled back never does.
func TestMailWorkerSends(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	srv := mailtest.Start(t, mailtest.Options{STARTTLS: true})
	for _, to := range []string{"a@example.com", "b@example.com"} {
		enqueue(t, e, noticeTo(to))
	}
	errRollback := errors.New("the change failed")
	if err := e.Svc.EnqueueMailThen(ctx, noticeTo("rolled-back@example.com"), func() error { return errRollback }); !errors.Is(err, errRollback) {
		t.Fatalf("rolled-back enqueue: %v", err)
	}
	if got := waiting(t, e); got != [2]int{2, 0} {
		t.Errorf("waiting, retrying = %v, want [2 0]", got)
	}
	w := keyward.MailWorker{Sender: smtpMailer(t, srv)}
	n, err := e.Svc.SendDueMails(ctx, w)
	if err != nil || n != 2 {
		t.Fatalf("SendDueMails = %d, %v; want 2", n, err)
	}
	if n, _ := e.Svc.SendDueMails(ctx, w); n != 0 {
		t.Errorf("a second pass claimed %d mails", n)
	}
	got := srv.Wait(t, 2, 5*time.Second)
	var to []string
	for _, m := range got {
		to = append(to, m.To...)
		if !m.TLS {
			t.Errorf("mail to %v went without TLS", m.To)
		}
		msg := mailtest.Parse(t, m.Data)
		if msg.Subject != "Example: Your password was changed" {
			t.Errorf("subject %q", msg.Subject)
		}
	}
	if strings.Join(to, ",") != "a@example.com,b@example.com" {
		t.Errorf("sent to %v", to)
	}
	if got := waiting(t, e); got != [2]int{0, 0} {
		t.Errorf("after sending: waiting, retrying = %v", got)
	}
}

// TestMailWorkerRetries: a mail server that is down or deferring costs a
// retry with a growing wait, the mail waits, and it goes out once the
// server is back; a permanent refusal or too many attempts give up.
func TestMailWorkerRetries(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	var deferring atomic.Bool
	deferring.Store(true)
	srv := mailtest.Start(t, mailtest.Options{Refuse: func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		if deferring.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	}})
	w := keyward.MailWorker{Sender: smtpMailer(t, srv), RetryBase: time.Minute, RetryMax: 10 * time.Minute, MaxAttempts: 4}
	enqueue(t, e, noticeTo("ann@example.com"))
	enqueue(t, e, noticeTo("gone@example.com"))

	steps := []struct {
		advance    time.Duration
		claimed    int
		waitingNow [2]int
	}{
		{0, 2, [2]int{1, 1}},                // one deferred, one refused for good
		{59 * time.Second, 0, [2]int{1, 1}}, // not due before a minute
		{time.Second, 1, [2]int{1, 1}},      // then 2 minutes
		{2 * time.Minute, 1, [2]int{1, 1}},
	}
	for i, st := range steps {
		e.Clock.Advance(st.advance)
		n, err := e.Svc.SendDueMails(ctx, w)
		if err != nil || n != st.claimed {
			t.Fatalf("step %d: SendDueMails = %d, %v; want %d", i, n, err, st.claimed)
		}
		if got := waiting(t, e); got != st.waitingNow {
			t.Errorf("step %d: waiting, retrying = %v, want %v", i, got, st.waitingNow)
		}
	}
	deferring.Store(false)
	e.Clock.Advance(4 * time.Minute)
	if n, err := e.Svc.SendDueMails(ctx, w); err != nil || n != 1 {
		t.Fatalf("after the server is back: SendDueMails = %d, %v", n, err)
	}
	if got := srv.Wait(t, 1, 5*time.Second); len(got) != 1 || got[0].To[0] != "ann@example.com" {
		t.Errorf("received %d mails", len(got))
	}
	if got := waiting(t, e); got != [2]int{0, 0} {
		t.Errorf("waiting, retrying = %v, want none", got)
	}

	// A server that never takes the mail: given up after MaxAttempts.
	deferring.Store(true)
	enqueue(t, e, noticeTo("late@example.com"))
	for range 4 {
		if _, err := e.Svc.SendDueMails(ctx, w); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Hour)
	}
	if got := waiting(t, e); got != [2]int{0, 0} {
		t.Errorf("after MaxAttempts: waiting, retrying = %v, want none (given up)", got)
	}
}

// TestMailAtLeastOnceAcrossCrash: a worker that dies between claiming a
// mail and marking it sent leaves it to another node once its claim runs
// out: the mail is sent, not lost.
func TestMailAtLeastOnceAcrossCrash(t *testing.T) {
	store := keywardtest.NewStore(t)
	clock := keywardtest.NewClock(keywardtest.Start)
	node1 := keywardtest.New(t, keywardtest.Options{Store: store, Clock: clock})
	node2 := keywardtest.New(t, keywardtest.Options{Store: store, Clock: clock, Keys: node1.Keys})
	enqueue(t, node1, noticeTo("ann@example.com"))

	// Node 1's worker stops dead inside the sending: nothing after the
	// claim runs, as when the process is killed.
	crashed := make(chan struct{})
	go func() {
		defer close(crashed)
		_, _ = node1.Svc.SendDueMails(ctx, keyward.MailWorker{Sender: senderFunc(func(context.Context, string, *keyward.MailContent) error {
			runtime.Goexit()
			return nil
		})})
	}()
	<-crashed

	srv := mailtest.Start(t, mailtest.Options{})
	w := keyward.MailWorker{Sender: smtpMailer(t, srv)}
	if n, _ := node2.Svc.SendDueMails(ctx, w); n != 0 {
		t.Fatalf("node 2 claimed %d mails while node 1's claim lasts", n)
	}
	clock.Advance(10*30*time.Second + time.Minute) // the default claim
	if n, err := node2.Svc.SendDueMails(ctx, w); n != 1 || err != nil {
		t.Fatalf("node 2 after the claim ran out: %d, %v", n, err)
	}
	srv.Wait(t, 1, 5*time.Second)
}

type senderFunc func(ctx context.Context, id string, c *keyward.MailContent) error

func (f senderFunc) SendMail(ctx context.Context, id string, c *keyward.MailContent) error {
	return f(ctx, id, c)
}

// TestTwoNodesSendEachMailOnce: two nodes' workers, each on its own
// connection pool to one PostgreSQL database, drain one outbox together
// and each mail goes out once.
func TestTwoNodesSendEachMailOnce(t *testing.T) {
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
	clock := keywardtest.NewClock(keywardtest.Start)
	node1 := keywardtest.New(t, keywardtest.Options{Store: open(), Clock: clock})
	node2 := keywardtest.New(t, keywardtest.Options{Store: open(), Clock: clock, Keys: node1.Keys})
	const mails = 60
	for i := range mails {
		enqueue(t, []*keywardtest.Env{node1, node2}[i%2], noticeTo("n"+strings.Repeat("x", i%7)+"@example.com"))
	}
	var (
		mu   sync.Mutex
		sent = map[string]int{}
	)
	count := senderFunc(func(_ context.Context, id string, _ *keyward.MailContent) error {
		mu.Lock()
		sent[id]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // let the claims overlap
		return nil
	})
	var wg sync.WaitGroup
	for _, node := range []*keywardtest.Env{node1, node2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := node.Svc.SendDueMails(ctx, keyward.MailWorker{Sender: count, Batch: 3})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(sent) != mails {
		t.Errorf("%d distinct mails sent, want %d", len(sent), mails)
	}
	for id, n := range sent {
		if n != 1 {
			t.Errorf("mail %s sent %d times", id, n)
		}
	}
}

// TestMailWorkerServerDown: with the server unreachable the worker keeps
// the mail and says so in the log, once a ReportEvery.
func TestMailWorkerServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.New(mail.Config{ProductName: "Example", PublicURL: "https://id.example.com", From: "a@example.com"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	var logged syncBuffer
	e := keywardtest.New(t, keywardtest.Options{Logger: newTextLogger(&logged)})
	enqueue(t, e, noticeTo("ann@example.com"))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Svc.RunMailWorker(runCtx, keyward.MailWorker{Sender: m, Poll: 20 * time.Millisecond, ReportEvery: 20 * time.Millisecond})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logged.String(), "mails are waiting") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if !strings.Contains(logged.String(), "mails are waiting") {
		t.Errorf("no log line about waiting mails:\n%s", logged.String())
	}
	if got := waiting(t, e); got != [2]int{1, 1} {
		t.Errorf("waiting, retrying = %v, want [1 1]", got)
	}
}

// syncBuffer is a log destination safe for the worker's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// outboxReads counts the worker's reads of the outbox.
type outboxReads struct {
	keyward.Store
	reads atomic.Int64
}

func (o *outboxReads) ClaimMails(ctx context.Context, now, until time.Time, limit int) ([]keyward.Mail, error) {
	o.reads.Add(1)
	return o.Store.ClaimMails(ctx, now, until, limit)
}

func (o *outboxReads) MailsWaiting(ctx context.Context) (int, int, error) {
	o.reads.Add(1)
	return o.Store.MailsWaiting(ctx)
}

// TestMailWorkerIdles: with an empty outbox the worker reads it at the
// idle pace, not at every Poll, and a mail enqueued on this node still
// wakes it at once.
func TestMailWorkerIdles(t *testing.T) {
	base := keywardtest.New(t, keywardtest.Options{})
	store := &outboxReads{Store: base.Store}
	e := keywardtest.New(t, keywardtest.Options{Store: store, Clock: base.Clock, Keys: base.Keys})
	srv := mailtest.Start(t, mailtest.Options{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Svc.RunMailWorker(runCtx, keyward.MailWorker{Sender: smtpMailer(t, srv), Poll: 5 * time.Millisecond, IdlePoll: time.Hour})
	}()
	defer func() { stop(); <-done }()
	time.Sleep(300 * time.Millisecond) // 60 Polls
	// The first look: one claim and one count, then nothing.
	if n := store.reads.Load(); n > 2 {
		t.Errorf("an idle worker read the outbox %d times in 60 polls' time, want 2", n)
	}
	enqueue(t, e, noticeTo("ann@example.com"))
	srv.Wait(t, 1, 5*time.Second) // not an hour: the enqueue woke it
}

// TestMailWorkerWokenBeforeCommit: the wake comes from inside the
// transaction that enqueues the mail; a worker that looks before the commit
// finds nothing, and must not then idle for IdlePoll before sending it.
//
// On SQLite the worker's claim waits for the writer the transaction holds,
// so the race shows on PostgreSQL (KEYWARD_TEST_ENGINE=postgres).
func TestMailWorkerWokenBeforeCommit(t *testing.T) {
	base := keywardtest.New(t, keywardtest.Options{})
	store := &outboxReads{Store: base.Store}
	e := keywardtest.New(t, keywardtest.Options{Store: store, Clock: base.Clock, Keys: base.Keys})
	srv := mailtest.Start(t, mailtest.Options{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Svc.RunMailWorker(runCtx, keyward.MailWorker{Sender: smtpMailer(t, srv), Poll: 20 * time.Millisecond, IdlePoll: time.Hour})
	}()
	defer func() { stop(); <-done }()
	// Idle: the outbox was claimed from and counted empty.
	for deadline := time.Now().Add(5 * time.Second); store.reads.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker never looked at its outbox")
		}
	}
	time.Sleep(20 * time.Millisecond) // and waits
	reads := store.reads.Load()
	if err := e.Svc.EnqueueMailThen(ctx, noticeTo("ann@example.com"), func() error {
		// The worker wakes and looks before the commit (on SQLite its
		// claim waits for this transaction's writer instead).
		for deadline := time.Now().Add(time.Second); store.reads.Load() < reads+2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	srv.Wait(t, 1, 5*time.Second)
}
