package keyward

import (
	"context"
	"errors"
	"maps"

	"github.com/keyward/keyward/audit"
)

// The two ways a request leaves its mark: a change to an account, which
// every node's session cache must hear of, and a refused attempt, which the
// audit log keeps even though nothing changed.

// errUnchanged, returned by a changeAccount change, commits what it did
// (nothing, usually: the session was already gone) without telling other
// nodes: their caches have nothing to drop.
var errUnchanged = errors.New("nothing changed")

// changeAccount runs change in one transaction and writes, last in it (on
// PostgreSQL the row holds a lock until commit), the invalidation row from
// which every other node drops the account's cached sessions. Then it drops
// this node's, even when the transaction failed: an error may come after a
// commit, and an eviction is cheap. Every change that ends sessions or
// changes what a cached session or account says (a factor, an assurance
// level) goes through here.
func (s *Service) changeAccount(ctx context.Context, accountID string, change func(q Queries) error) error {
	err := s.store.InTx(ctx, func(q Queries) error {
		switch err := change(q); {
		case errors.Is(err, errUnchanged):
			return nil
		case err != nil:
			return err
		}
		return q.AddInvalidation(ctx, accountID, s.clock())
	})
	s.cache.evictAccount(accountID)
	return err
}

// failure is a refused attempt as recordFailure records it.
type failure struct {
	attempt *attempt // its counts, taken before the check
	event   *Event   // the attempt itself, recorded as a failure for reason
	reason  string
	also    []*Event // recorded after it, in the same transaction
	// throttled holds the details of the signin.throttled event recorded
	// when the failure starts a wait (retry_after is added); nil records
	// none.
	throttled map[string]string
}

// recordFailure records a refused attempt in a transaction of its own: the
// change it asked for never ran, or rolled back with the refused code, but
// the audit log keeps the attempt. The attempt's failure-only counts are
// taken in the same transaction.
func (s *Service) recordFailure(ctx context.Context, f failure) error {
	now := f.attempt.now
	return s.store.InTx(ctx, func(q Queries) error {
		wait, err := f.attempt.failed(ctx, q)
		if err != nil {
			return err
		}
		f.event.Outcome, f.event.Reason, f.event.Time = audit.Failure, f.reason, now
		if err := s.record(ctx, q, f.event); err != nil {
			return err
		}
		for _, e := range f.also {
			if err := s.record(ctx, q, e); err != nil {
				return err
			}
		}
		if wait == 0 || f.throttled == nil {
			return nil
		}
		t := &Event{ChainID: f.event.ChainID, Type: audit.SigninThrottled, IP: f.event.IP, UserAgent: f.event.UserAgent, Time: now}
		t.Outcome, t.Reason, t.Actor = audit.Failure, "too_many_failures", audit.ActorSystem
		t.Details = maps.Clone(f.throttled)
		t.Details[audit.DetailRetryAfter] = waitSeconds(wait)
		return s.record(ctx, q, t)
	})
}
