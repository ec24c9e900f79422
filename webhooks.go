package keyward

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/metrics"
)

// WebhookDelivery is one audit event waiting to go to the webhook receiver:
// a row of the webhook outbox, written in the transaction that appends the
// event, and sent afterwards by a worker that any node may run.
//
// Deliveries of one chain (an account's log, or the system's) go out in the
// order of their events: only the first waiting delivery of a chain is ever
// due; the ones behind it wait (NextAttemptAt zero) until it is sent or
// given up, which makes the next one due. Chains do not wait for each other.
type WebhookDelivery struct {
	ID      string // the event's id, sent as the webhook-id header
	ChainID string // the event's chain: an account id, or audit.SystemChain
	Seq     int64  // the event's place in its chain
	// Body is the JSON the receiver gets (audit.WebhookPayload), the same
	// at every attempt; "" once sent or given up.
	Body      string
	CreatedAt time.Time // when the event was written; retries stop RetryFor after it
	// NextAttemptAt is when the delivery is due; zero while an earlier
	// delivery of its chain waits. A claim moves it to the end of the
	// claim, so that a worker that dies before marking the delivery leaves
	// it to another once the claim runs out (at least once).
	NextAttemptAt time.Time
	Attempts      int        // claims so far, the current one included
	SentAt        *time.Time // set once the receiver answered 2xx
	FailedAt      *time.Time // set when the worker gave up on it
	LastError     string     // why the last attempt failed, for the operator
}

// WebhookOutbox stores the webhook deliveries waiting to be sent.
//
// A chain's order rests on one rule: an enqueue that finds a waiting
// delivery of its chain stores the new one waiting, and finishing (sending
// or giving up) a delivery makes the next waiting one of its chain due.
// The two must not interleave, or a delivery enqueued while the one before
// it is being finished would wait for ever: the service enqueues inside
// InTx after LockAuditHead of the chain (it appends the event first), and
// a store's MarkWebhookSent and GiveUpWebhook hold the chain's head too
// (SQLite, which writes one transaction at a time, needs nothing more).
type WebhookOutbox interface {
	// EnqueueWebhook inserts d (ID, ChainID, Seq, Body, CreatedAt and
	// NextAttemptAt set), due at d.NextAttemptAt unless a delivery of its
	// chain is still waiting (neither sent nor given up): then it waits
	// behind it. Inside InTx it commits, or not, with the event.
	EnqueueWebhook(ctx context.Context, d *WebhookDelivery) error
	// ClaimWebhooks takes up to limit deliveries that are due at now
	// (neither sent nor given up, NextAttemptAt set and <= now), oldest due
	// first: each one's NextAttemptAt becomes until and its Attempts grows
	// by one, and they come back so changed. Of concurrent claims, each
	// delivery goes to one (PostgreSQL skips rows another claim holds).
	// Only the first waiting delivery of a chain is ever due, so a chain
	// never has two claimed at once.
	ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]WebhookDelivery, error)
	// NextWebhookDue returns the earliest NextAttemptAt of the waiting
	// deliveries that have one (due or not, claimed or not); the zero time
	// when none waits.
	NextWebhookDue(ctx context.Context) (time.Time, error)
	// MarkWebhookSent records that the receiver took the delivery at at,
	// forgets its body and makes the next waiting delivery of its chain
	// due at at, together; CodeNotFound when there is no such delivery.
	MarkWebhookSent(ctx context.Context, id string, at time.Time) error
	// RetryWebhook makes the delivery due again at next, keeping why it
	// failed; CodeNotFound when there is no such delivery.
	RetryWebhook(ctx context.Context, id string, next time.Time, lastError string) error
	// GiveUpWebhook records that the delivery will not be sent, forgets
	// its body and makes the next waiting delivery of its chain due at at,
	// together; CodeNotFound when there is no such delivery.
	GiveUpWebhook(ctx context.Context, id string, at time.Time, lastError string) error
	// WebhooksWaiting counts the deliveries neither sent nor given up, and
	// of them those that have been tried at least once (due again later,
	// or claimed).
	WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error)
}

// WebhookSender delivers one webhook: body, signed, as the event id. An
// error is any answer but 2xx, or none; its text must hold no secret (it is
// logged and stored as the delivery's LastError). The webhook package has
// the Standard Webhooks sender.
type WebhookSender interface {
	SendWebhook(ctx context.Context, id string, body []byte) error
}

// sentWebhookKeep is how long the row of a delivery sent or given up stays,
// for an operator asking whether an event went out.
const sentWebhookKeep = 7 * 24 * time.Hour

// WebhookWorker says how RunWebhookWorker delivers; zero fields take the
// defaults.
type WebhookWorker struct {
	Sender WebhookSender
	// Poll is how often the outbox is read when nothing wakes the worker:
	// for rows other nodes wrote and could not send.
	Poll time.Duration
	// Concurrency is how many deliveries (each of another chain) are in
	// flight at once.
	Concurrency int
	// SendTimeout bounds one attempt. A claim lasts twice that and more:
	// past it, a delivery whose worker died goes to another.
	SendTimeout time.Duration
	// RetryBase and RetryMax shape the wait before the next attempt: it
	// doubles from RetryBase at each failure, up to RetryMax, and a random
	// half of it is taken off so that nodes do not retry in step.
	RetryBase, RetryMax time.Duration
	// RetryFor is how long after its event a delivery is tried; the first
	// failure past it gives up (with a log line).
	RetryFor time.Duration
	// ReportEvery is how often, while deliveries wait, a log line says so.
	ReportEvery time.Duration
}

func (w WebhookWorker) withDefaults() WebhookWorker {
	fillDuration(&w.Poll, 10*time.Second)
	fillDuration(&w.SendTimeout, 10*time.Second)
	fillDuration(&w.RetryBase, 5*time.Second)
	fillDuration(&w.RetryMax, time.Hour)
	fillDuration(&w.RetryFor, 24*time.Hour)
	fillDuration(&w.ReportEvery, time.Minute)
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	return w
}

// claimFor is how long a claim lasts: the attempt's whole timeout, the
// marking after it, and as much again to spare, so that a slow store does
// not hand a delivery in flight to another node.
func (w WebhookWorker) claimFor() time.Duration { return 2*w.SendTimeout + 5*time.Second }

// markTimeout bounds the marking of a delivery after its attempt.
const markTimeout = 5 * time.Second

// webhookIdleFloor is the least wait between two reads of an idle outbox:
// a due delivery another node is claiming right now is not spun on.
const webhookIdleFloor = 100 * time.Millisecond

// retryWait is the wait after the attempt-th failed attempt: exponential,
// with "equal jitter" (half of it fixed, half random), from rnd.
func (w WebhookWorker) retryWait(attempt int, rnd io.Reader) time.Duration {
	wait := w.RetryMax
	if attempt < 32 {
		wait = min(w.RetryMax, w.RetryBase<<(max(attempt, 1)-1))
	}
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return wait
	}
	half := wait / 2
	return half + time.Duration(binary.BigEndian.Uint64(b[:])%uint64(half+1))
}

// webhooksOn reports whether events of type t go to the webhook.
func (s *Service) webhooksOn(t audit.Type) bool {
	return s.cfg.WebhookEvents != nil && s.cfg.WebhookEvents.Match(t)
}

// enqueueWebhook writes the delivery of e, just appended through q: it is
// sent if, and only if, the transaction commits.
func (s *Service) enqueueWebhook(ctx context.Context, q Queries, e *Event) error {
	body, err := json.Marshal(audit.WebhookPayloadOf(e))
	if err != nil {
		return Internal(fmt.Errorf("encoding a webhook: %w", err))
	}
	now := s.clock()
	return q.EnqueueWebhook(ctx, &WebhookDelivery{ID: e.ID, ChainID: e.ChainID, Seq: e.Seq, Body: string(body), CreatedAt: now, NextAttemptAt: now})
}

// wakeWebhookWorker tells this node's worker that a delivery was committed.
func (s *Service) wakeWebhookWorker() {
	select {
	case s.webhookWake <- struct{}{}:
	default:
	}
}

// webhookStore is the Store of a service with webhooks: a transaction that
// enqueued a delivery wakes the worker once it has committed (not before:
// the worker would find nothing and wait for its next poll).
type webhookStore struct {
	Store
	wake func()
}

func (w webhookStore) InTx(ctx context.Context, fn func(q Queries) error) error {
	var enqueued bool
	err := w.Store.InTx(ctx, func(q Queries) error {
		enqueued = false // fn may run again, and roll back again
		return fn(enqueueWatch{Queries: q, enqueued: &enqueued})
	})
	if err == nil && enqueued {
		w.wake()
	}
	return err
}

// enqueueWatch notes that a transaction enqueued a delivery.
type enqueueWatch struct {
	Queries
	enqueued *bool
}

func (q enqueueWatch) EnqueueWebhook(ctx context.Context, d *WebhookDelivery) error {
	err := q.Queries.EnqueueWebhook(ctx, d)
	if err == nil {
		*q.enqueued = true
	}
	return err
}

// WebhooksWaiting counts the deliveries not sent yet, and those of them that
// were tried at least once (for /metrics and the operator).
func (s *Service) WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error) {
	return s.store.WebhooksWaiting(ctx)
}

// RunWebhookWorker delivers the webhook outbox until ctx ends. Every node
// may run one: each claim takes deliveries no other worker holds, and the
// first waiting delivery of a chain only, so every account's events arrive
// in order while accounts do not wait for each other. It is woken when this
// node commits a delivery, at the next retry or claim end it knows of, and
// otherwise reads the outbox every Poll; idle, it does nothing else. A
// delivery that fails is tried again with a growing, jittered wait until
// RetryFor after its event, then given up (counted and logged). On return
// every attempt it started has ended and been marked.
func (s *Service) RunWebhookWorker(ctx context.Context, w WebhookWorker) {
	w = w.withDefaults()
	if w.Sender == nil {
		s.log.Error("webhook worker not started: no sender")
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, w.Concurrency)
	inFlight := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastReport time.Time
	for {
		wait := w.Poll
		if free := w.Concurrency - inFlight; free > 0 {
			now := s.clock()
			claimed, err := s.store.ClaimWebhooks(ctx, now, now.Add(w.claimFor()), free)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("reading the webhook outbox", "err", err)
			}
			for _, d := range claimed {
				inFlight++
				wg.Go(func() {
					s.deliverWebhook(ctx, w, &d)
					done <- struct{}{}
				})
			}
			if err == nil && len(claimed) < free {
				wait = s.webhookWait(ctx, w)
			}
		}
		if time.Since(lastReport) >= w.ReportEvery {
			s.reportWaitingWebhooks(ctx)
			lastReport = time.Now()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-done:
			inFlight--
		case <-s.webhookWake:
		case <-timer.C:
		}
		for drained := false; !drained; { // every attempt that ended frees its slot
			select {
			case <-done:
				inFlight--
			default:
				drained = true
			}
		}
	}
}

// webhookWait is how long the worker may sleep: until the next delivery it
// can claim is due (a retry, a claim of a dead worker running out), at
// least webhookIdleFloor, at most Poll.
func (s *Service) webhookWait(ctx context.Context, w WebhookWorker) time.Duration {
	next, err := s.store.NextWebhookDue(ctx)
	if err != nil || next.IsZero() {
		return w.Poll
	}
	return min(max(next.Sub(s.clock()), webhookIdleFloor), w.Poll)
}

// deliverWebhook makes one attempt and marks the delivery sent, to be tried
// again, or given up.
func (s *Service) deliverWebhook(ctx context.Context, w WebhookWorker, d *WebhookDelivery) {
	log := s.log.With("event_id", d.ID, "attempt", d.Attempts)
	sendCtx, cancel := context.WithTimeout(ctx, w.SendTimeout)
	start := time.Now()
	err := w.Sender.SendWebhook(sendCtx, d.ID, []byte(d.Body))
	took := time.Since(start)
	cancel()
	// The marking must not be lost to a shutdown that interrupted the
	// attempt: the delivery went, or must be tried again.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancelMark()
	now := s.clock()
	deadline := d.CreatedAt.Add(w.RetryFor)
	switch {
	case err == nil:
		s.metrics.Webhooks.Inc(metrics.WebhookDelivered)
		if err := s.store.MarkWebhookSent(markCtx, d.ID, now); err != nil {
			// It went: at worst it goes again once the claim runs out.
			log.Warn("a webhook was delivered but could not be marked delivered", "err", err)
			return
		}
		log.Debug("webhook delivered", "duration_ms", took.Milliseconds())
	case ctx.Err() != nil:
		// Shutting down: the attempt was cut short, not refused. Another
		// node (or this one, restarted) takes it at once.
		if err := s.store.RetryWebhook(markCtx, d.ID, now, "interrupted: the node shut down"); err != nil {
			log.Warn("marking an interrupted webhook to retry", "err", err)
		}
	case !now.Before(deadline):
		s.metrics.Webhooks.Inc(metrics.WebhookAbandoned)
		if err := s.store.GiveUpWebhook(markCtx, d.ID, now, err.Error()); err != nil {
			log.Warn("marking a webhook given up", "err", err)
		}
		log.Error("gave up delivering a webhook: the receiver did not take it for "+w.RetryFor.String(), "err", err)
	default:
		s.metrics.Webhooks.Inc(metrics.WebhookFailed)
		wait := w.retryWait(d.Attempts, s.rand)
		next := now.Add(wait)
		if next.After(deadline) {
			next = deadline // one last attempt when the time is up
		}
		if err := s.store.RetryWebhook(markCtx, d.ID, next, err.Error()); err != nil {
			log.Warn("marking a webhook to retry", "err", err)
		}
		log.Warn("webhook delivery failed: it will be tried again, and the account's later events wait for it", "err", err, "retry_in", next.Sub(now).Round(time.Millisecond).String())
	}
}

// reportWaitingWebhooks sets the pending gauge and logs, when deliveries
// wait that failed before, how many: the sign that the receiver is down.
func (s *Service) reportWaitingWebhooks(ctx context.Context) {
	waiting, retrying, err := s.store.WebhooksWaiting(ctx)
	if err != nil {
		return
	}
	s.metrics.WebhookOutboxPending.Store(int64(waiting))
	if retrying == 0 {
		return
	}
	s.log.Warn("webhooks are waiting in the outbox: the receiver failed, they will be tried again", "waiting", waiting, "retrying", retrying)
}

// DeliverDueWebhooks claims the due deliveries a worker would (up to
// Concurrency), makes their attempts at once and marks each; it returns how
// many it claimed. RunWebhookWorker does this in a loop.
func (s *Service) DeliverDueWebhooks(ctx context.Context, w WebhookWorker) (int, error) {
	w = w.withDefaults()
	if w.Sender == nil {
		return 0, errors.New("keyward: WebhookWorker.Sender is required")
	}
	now := s.clock()
	claimed, err := s.store.ClaimWebhooks(ctx, now, now.Add(w.claimFor()), w.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, d := range claimed {
		wg.Go(func() { s.deliverWebhook(ctx, w, &d) })
	}
	wg.Wait()
	return len(claimed), nil
}
