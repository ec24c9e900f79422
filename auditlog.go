package keyward

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/audit"
)

// record appends an event to its chain inside the caller's transaction, so
// that the change and the event that records it commit together.
func (s *Service) record(ctx context.Context, q Queries, e *Event) error {
	if e.ChainID == "" {
		e.ChainID = audit.SystemChain
	}
	if e.Actor == "" {
		e.Actor = audit.ActorSelf
	}
	if e.Outcome == "" {
		e.Outcome = audit.Success
	}
	if e.Time.IsZero() {
		e.Time = s.clock()
	}
	e.ID = s.newID("ev_")
	head, err := q.LockAuditHead(ctx, e.ChainID)
	if err != nil {
		return err
	}
	audit.Link(head, e)
	return q.AppendEvent(ctx, e)
}

// event builds an event of the account's chain from the request's client.
func event(accountID string, t audit.Type, c Client, sessionID string) *Event {
	c = c.clean()
	return &Event{ChainID: accountID, Type: t, IP: c.IP, UserAgent: c.UserAgent, SessionID: sessionID}
}

// EventQuery is what a reader of an audit log asks for.
type EventQuery struct {
	Types  []audit.Type
	Since  time.Time
	Until  time.Time
	Cursor string // from EventPage.NextCursor
	Limit  int    // 1..200, default 50
}

// EventPage is one page of a log, newest first.
type EventPage struct {
	Events     []Event
	NextCursor string // "" on the last page
}

const (
	defaultEventLimit = 50
	maxEventLimit     = 200
)

func (s *Service) eventFilter(chainID string, q EventQuery) (EventFilter, error) {
	f := EventFilter{ChainID: chainID, Since: q.Since, Until: q.Until, Limit: q.Limit}
	for _, t := range q.Types {
		if !audit.Known(t) {
			return f, Errorf(CodeInvalidRequest, "Unknown event type %q.", string(t))
		}
	}
	f.Types = q.Types
	if f.Limit == 0 {
		f.Limit = defaultEventLimit
	}
	if f.Limit < 1 || f.Limit > maxEventLimit {
		return f, Errorf(CodeInvalidRequest, "limit must be between 1 and %d.", maxEventLimit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, Errorf(CodeInvalidRequest, "since must be before until.")
	}
	if q.Cursor != "" {
		c, err := s.cursors.Decode(chainID, q.Cursor)
		if err != nil {
			return f, Errorf(CodeInvalidRequest, "The cursor is not valid. Start again from the first page.")
		}
		f.Before = &EventCursor{Time: c.Time, ID: c.ID}
	}
	return f, nil
}

// Events returns a page of the account's log, newest first. Keyset cursors
// keep pages correct while new events arrive.
func (s *Service) Events(ctx context.Context, chainID string, q EventQuery) (EventPage, error) {
	f, err := s.eventFilter(chainID, q)
	if err != nil {
		return EventPage{}, err
	}
	limit := f.Limit
	f.Limit = limit + 1 // one more tells whether there is a next page
	events, err := s.store.ListEvents(ctx, f)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Events: events}
	if len(events) > limit {
		page.Events = events[:limit]
		last := page.Events[limit-1]
		page.NextCursor = s.cursors.Encode(chainID, audit.Cursor{Time: last.Time, ID: last.ID})
	}
	return page, nil
}

// ExportEvents streams every event of the account's log that matches q
// (Cursor and Limit aside) to fn, newest first, in constant memory.
func (s *Service) ExportEvents(ctx context.Context, accountID string, q EventQuery, fn func(*Event) error) error {
	return s.OperatorEvents(ctx, accountID, q, fn)
}

// OperatorEvents streams events for the operator's `audit list`: one chain
// (an account, or the system log) or, with chainID "", every chain.
func (s *Service) OperatorEvents(ctx context.Context, chainID string, q EventQuery, fn func(*Event) error) error {
	q.Cursor, q.Limit = "", 0
	f, err := s.eventFilter(chainID, q)
	if err != nil {
		return err
	}
	f.Limit = 0
	return s.store.EachEvent(ctx, f, fn)
}

// ChainReport is the verdict on one chain.
type ChainReport struct {
	ChainID string
	Events  int
	Problem *audit.Problem // nil when intact
}

// VerifyAudit walks every chain and reports on each; the first broken
// event of a chain is named in its Problem.
func (s *Service) VerifyAudit(ctx context.Context) ([]ChainReport, error) {
	heads, err := s.store.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	reports := make([]ChainReport, 0, len(heads))
	for _, h := range heads {
		problem, n, err := audit.VerifyChain(h, func(fn func(*Event) error) error {
			return s.store.EachChainEvent(ctx, h.ChainID, fn)
		})
		if err != nil {
			return nil, fmt.Errorf("verifying chain %s: %w", h.ChainID, err)
		}
		reports = append(reports, ChainReport{ChainID: h.ChainID, Events: n, Problem: problem})
	}
	return reports, nil
}

// PruneAudit deletes events older than the retention period; each chain
// keeps a checkpoint so that what remains still verifies.
func (s *Service) PruneAudit(ctx context.Context) (int, error) {
	if s.cfg.AuditRetention <= 0 {
		return 0, nil
	}
	heads, err := s.store.AuditHeads(ctx)
	if err != nil {
		return 0, err
	}
	before := s.clock().Add(-s.cfg.AuditRetention)
	total := 0
	var errs []error
	for _, h := range heads {
		n, err := s.store.PruneEvents(ctx, h.ChainID, before)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}
