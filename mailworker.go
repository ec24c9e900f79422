package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MailSender delivers one mail. id is the mail's outbox id: the same at
// every attempt, so a sender can make it the Message-ID and a receiver can
// tell a repeat (delivery is at least once). The mail package has the SMTP
// sender and the .eml folder sender.
type MailSender interface {
	SendMail(ctx context.Context, id string, c *MailContent) error
}

// PermanentMailError is implemented by a sender's error that no retry can
// fix (the server refused the recipient, an address it cannot carry): the
// worker gives up on the mail at once.
type PermanentMailError interface {
	error
	Permanent() bool
}

// sentMailKeep is how long the row of a mail sent or given up stays, for
// an operator asking whether a mail went out.
const sentMailKeep = 30 * 24 * time.Hour

// MailWorker says how RunMailWorker sends; zero fields take the defaults.
type MailWorker struct {
	Sender MailSender
	// Poll is how often the outbox is read when nothing wakes the worker
	// and mails may be waiting.
	Poll time.Duration
	// IdlePoll is how often it is read once the outbox was found empty:
	// a mail enqueued on this node wakes the worker at once, so the poll
	// is only for mails enqueued elsewhere (an operator's command, a node
	// that stopped before sending its own). An idle worker then costs
	// nothing that can be measured.
	IdlePoll time.Duration
	// Batch is how many mails one claim takes.
	Batch int
	// SendTimeout bounds one mail's sending. A claim lasts a batch's worth
	// of it and more: past that, a mail whose worker died goes to another.
	SendTimeout time.Duration
	// RetryBase and RetryMax shape the wait before the next attempt: it
	// doubles from RetryBase at each failure, up to RetryMax.
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how many times a mail is tried before the worker
	// gives up on it (and logs it).
	MaxAttempts int
	// ReportEvery is how often, while mails wait, a log line says so.
	ReportEvery time.Duration
}

func (w MailWorker) withDefaults() MailWorker {
	fillDuration(&w.Poll, 2*time.Second)
	fillDuration(&w.IdlePoll, 30*time.Second)
	fillDuration(&w.SendTimeout, 30*time.Second)
	fillDuration(&w.RetryBase, 30*time.Second)
	fillDuration(&w.RetryMax, time.Hour)
	fillDuration(&w.ReportEvery, time.Minute)
	if w.Batch <= 0 {
		w.Batch = 10
	}
	if w.MaxAttempts <= 0 {
		// 30 s doubling to an hour: some 8 hours of trying in all.
		w.MaxAttempts = 12
	}
	return w
}

// claimFor is how long a claim lasts: every mail of a batch may take its
// whole timeout, and the marking after it needs a moment.
func (w MailWorker) claimFor() time.Duration {
	return time.Duration(w.Batch)*w.SendTimeout + time.Minute
}

// retryAfter is the wait after the attempt-th failed attempt.
func (w MailWorker) retryAfter(attempt int) time.Duration {
	return ThrottleRule{Free: 0, Base: w.RetryBase, Max: w.RetryMax}.Delay(attempt)
}

// enqueueMail writes a mail to the outbox through q: it is sent if, and
// only if, the transaction commits. The content is sealed under the mail's
// id, so the row holds no usable link in the clear.
func (s *Service) enqueueMail(ctx context.Context, q Queries, a *Account, c *MailContent) error {
	accountID := ""
	if a != nil {
		accountID, c.Language = a.ID, a.Language
	}
	now := s.clock()
	id := s.newID("mail_")
	b, err := json.Marshal(c)
	if err != nil {
		return Internal(fmt.Errorf("encoding a mail: %w", err))
	}
	sealed, err := s.keys.Seal(b, []byte(id))
	if err != nil {
		return Internal(fmt.Errorf("sealing a mail: %w", err))
	}
	if err := q.EnqueueMail(ctx, &Mail{ID: id, Kind: c.Kind, AccountID: accountID, Sealed: sealed, CreatedAt: now, NextAttemptAt: now}); err != nil {
		return err
	}
	s.wakeMailWorker()
	return nil
}

// mailWakeGrace is how long after a wake the worker keeps to its short
// poll: the wake comes from inside the transaction that enqueued the mail,
// which commits within it (PostgreSQL bounds a transaction to 5 s).
const mailWakeGrace = 10 * time.Second

// wakeMailWorker tells this node's worker that a mail is waiting. It may
// come before the commit: the worker then finds nothing, and one of the
// short polls that follow a wake (mailWakeGrace) sends the mail.
func (s *Service) wakeMailWorker() {
	select {
	case s.mailWake <- struct{}{}:
	default:
	}
}

// RunMailWorker sends the outbox's mails until ctx ends. Every node may run
// one: each claim takes mails no other worker holds. A mail that fails is
// tried again later, with a growing wait, and given up (with a log line)
// after MaxAttempts; a failing mail server never fails the request that
// caused the mail.
func (s *Service) RunMailWorker(ctx context.Context, w MailWorker) {
	w = w.withDefaults()
	wait := time.NewTimer(w.Poll)
	defer wait.Stop()
	var lastReport time.Time
	// waiting is the outbox's count at the last look (-1: not known since
	// a mail was sent or enqueued): the worker polls slowly only at 0, and
	// not within mailWakeGrace of a wake (see wakeMailWorker).
	waiting := -1
	var wokeAt time.Time
	for {
		for {
			n, err := s.SendDueMails(ctx, w)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("reading the mail outbox", "err", err)
			}
			if n > 0 || err != nil {
				waiting = -1
			}
			if n < w.Batch || err != nil {
				break
			}
		}
		if time.Since(lastReport) >= w.ReportEvery || waiting < 0 {
			waiting = s.reportWaitingMails(ctx, time.Since(lastReport) >= w.ReportEvery)
			if time.Since(lastReport) >= w.ReportEvery {
				lastReport = time.Now()
			}
		}
		next := w.Poll
		if waiting == 0 && time.Since(wokeAt) >= mailWakeGrace {
			next = w.IdlePoll
		}
		wait.Reset(next) // Go 1.23 timers: no stale tick survives a Reset
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		case <-s.mailWake:
			waiting, wokeAt = -1, time.Now()
		}
	}
}

// reportWaitingMails counts the mails not sent yet (-1 when the outbox
// cannot be read) and, when log is set and some of them were tried before,
// logs how many: the sign that the mail server is down or refusing.
func (s *Service) reportWaitingMails(ctx context.Context, log bool) int {
	waiting, retrying, err := s.store.MailsWaiting(ctx)
	if err != nil {
		return -1
	}
	s.metrics.MailOutboxPending.Store(int64(waiting))
	if retrying > 0 && log {
		s.log.Warn("mails are waiting in the outbox: the mail server failed, they will be tried again", "waiting", waiting, "retrying", retrying)
	}
	return waiting
}

// MailsWaiting counts the mails not sent yet, and those of them that failed
// at least once (for /metrics and the operator).
func (s *Service) MailsWaiting(ctx context.Context) (waiting, retrying int, err error) {
	return s.store.MailsWaiting(ctx)
}

// SendDueMails claims one batch of due mails, sends them and marks each
// sent, or to be tried again, or given up. It returns how many it claimed.
func (s *Service) SendDueMails(ctx context.Context, w MailWorker) (int, error) {
	w = w.withDefaults()
	if w.Sender == nil {
		return 0, errors.New("keyward: MailWorker.Sender is required")
	}
	now := s.clock()
	mails, err := s.store.ClaimMails(ctx, now, now.Add(w.claimFor()), w.Batch)
	if err != nil {
		return 0, err
	}
	for i := range mails {
		if ctx.Err() != nil {
			// The claim runs out and another worker (or this one, later)
			// sends the rest.
			return len(mails), ctx.Err()
		}
		s.sendOne(ctx, w, &mails[i])
	}
	return len(mails), nil
}

func (s *Service) sendOne(ctx context.Context, w MailWorker, m *Mail) {
	log := s.log.With("mail_id", m.ID, "kind", string(m.Kind), "attempt", m.Attempts)
	content, err := s.openMail(m)
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, w.SendTimeout)
		err = w.Sender.SendMail(sendCtx, m.ID, content)
		cancel()
	}
	// The marking must not be lost to a shutdown that interrupted the
	// sending: the mail went, or must be tried again.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.clock()
	var perm PermanentMailError
	switch {
	case err == nil:
		if err := s.store.MarkMailSent(markCtx, m.ID, now); err != nil {
			// It went: at worst it goes again once the claim runs out.
			log.Warn("a mail was sent but could not be marked sent", "err", err)
			return
		}
		log.Info("mail sent")
	case errors.As(err, &perm) && perm.Permanent(), m.Attempts >= w.MaxAttempts:
		if err := s.store.GiveUpMail(markCtx, m.ID, now, err.Error()); err != nil {
			log.Warn("marking a mail given up", "err", err)
		}
		log.Error("gave up sending a mail", "err", err)
	default:
		wait := w.retryAfter(m.Attempts)
		if err := s.store.RetryMail(markCtx, m.ID, now.Add(wait), err.Error()); err != nil {
			log.Warn("marking a mail to retry", "err", err)
		}
		log.Warn("sending a mail failed: it will be tried again", "err", err, "retry_in", wait.String())
	}
}

// permanent marks an error no retry can fix.
type permanent struct{ error }

func (permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error { return p.error }

// openMail unseals a claimed mail's content.
func (s *Service) openMail(m *Mail) (*MailContent, error) {
	b, err := s.keys.Open(m.Sealed, []byte(m.ID))
	if err != nil {
		return nil, permanent{fmt.Errorf("opening the mail: %w", err)}
	}
	var c MailContent
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, permanent{fmt.Errorf("decoding the mail: %w", err)}
	}
	return &c, nil
}
