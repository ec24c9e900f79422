package keyward

import (
	"context"
	"io"
	"time"
)

// PasswordChecksInFlight is, for tests, how many password checks the
// address of ip has in flight on this node.
func (s *Service) PasswordChecksInFlight(ip string) int {
	return s.checks.inFlight(clientAddress(ip))
}

// HoldStrengthSlots, for tests, takes every place the node has for strength
// advice in flight; release gives them back.
func (s *Service) HoldStrengthSlots() (release func()) {
	n := cap(s.advice.slots)
	for range n {
		s.advice.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.advice.slots
		}
	}
}

// HoldStrengthAddress, for tests, takes every place the address of ip has
// for strength advice in flight; release gives them back.
func (s *Service) HoldStrengthAddress(ip string) (release func()) {
	addr := clientAddress(ip)
	for s.advice.addrs.enter(addr) {
	}
	return func() {
		for s.advice.addrs.inFlight(addr) > 0 {
			s.advice.addrs.leave(addr)
		}
	}
}

// DeviceTokenIssuedAt is, for tests, a device token of the account issued at t.
func (s *Service) DeviceTokenIssuedAt(accountID string, t time.Time) (string, error) {
	return s.newDeviceToken(accountID, t)
}

// FollowInvalidations, for tests, switches the node's session cache on at
// the present end of the invalidation log and returns what the cache
// watcher does at each poll: apply the rows written since, reporting
// whether there were any. Tests poll when they choose instead of waiting.
func (s *Service) FollowInvalidations(ctx context.Context) (poll func() (bool, error), err error) {
	seq, err := s.store.LastInvalidation(ctx)
	if err != nil {
		return nil, err
	}
	mark := invalidationMark{seq: seq, seen: make(map[int64]struct{})}
	s.cache.setEnabled(true)
	return func() (bool, error) {
		before := mark.seq
		err := mark.apply(ctx, s.store, s.cache)
		return mark.seq > before, err
	}, nil
}

// EnqueueMailThen, for tests, writes c to the outbox in a transaction that
// then returns then's error: nil commits, anything else rolls back.
func (s *Service) EnqueueMailThen(ctx context.Context, c *MailContent, then func() error) error {
	return s.store.InTx(ctx, func(q Queries) error {
		if err := s.enqueueMail(ctx, q, nil, c); err != nil {
			return err
		}
		return then()
	})
}

// RetryWait is, for tests, the wait after the attempt-th failed webhook
// attempt, drawing its jitter from rnd.
func (w WebhookWorker) RetryWait(attempt int, rnd io.Reader) time.Duration {
	return w.withDefaults().retryWait(attempt, rnd)
}
