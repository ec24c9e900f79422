package keyward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
)

// record appends an event to its chain inside the caller's transaction, so
// that the change and the event that records it commit together; and so
// does the event's webhook delivery, when webhooks pick its type.
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
	if head.Seq == 0 && e.ChainID != audit.SystemChain && e.Type != audit.AccountCreated {
		// An account's chain starts with account.created and is deleted
		// with the account. A chain without a head is that of an account
		// deleted since the caller read it (a sign-in still checking the
		// password): starting one would leave an orphan. Or it was erased
		// by hand, while the account is still here: then the event is
		// appended (verify reports the erased chain), so that tampering
		// never locks the owner out.
		if _, err := q.AccountByID(ctx, e.ChainID); err != nil {
			return err
		}
	}
	audit.Link(head, e)
	audit.Seal(s.auditKeys, head, e)
	if err := q.AppendEvent(ctx, e); err != nil {
		return err
	}
	if s.webhooksOn(e.Type) {
		return s.enqueueWebhook(ctx, q, e)
	}
	return nil
}

// auditKeyPurpose labels the subkey of the audit log's MACs (audit.Seal).
const auditKeyPurpose = "audit chain"

// auditKeys are the audit log's MAC keys, derived from the keyring (kept
// outside the database) by key id. Ids are never reused, so a derived key
// never changes and is kept: an append derives nothing.
type auditKeys struct {
	ring *keyring.Keyring
	mu   sync.RWMutex
	byID map[string][]byte
}

func newAuditKeys(ring *keyring.Keyring) *auditKeys {
	return &auditKeys{ring: ring, byID: map[string][]byte{}}
}

func (k *auditKeys) Current() (string, []byte) {
	id := k.ring.CurrentID()
	key, err := k.Key(id)
	if err != nil {
		// The current key is always held; an empty keyring fails earlier.
		panic("keyward: no audit key for the current key " + id + ": " + err.Error())
	}
	return id, key
}

func (k *auditKeys) Key(id string) ([]byte, error) {
	k.mu.RLock()
	key, ok := k.byID[id]
	k.mu.RUnlock()
	if ok {
		return key, nil
	}
	key, err := k.ring.DeriveWith(id, auditKeyPurpose)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.byID[id] = key
	k.mu.Unlock()
	return key, nil
}

func (k *auditKeys) IDs() []string { return k.ring.IDs() }

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

// eventFilter turns q into a filter of chainID's log ("" for every chain).
// Cursors are bound to cursorScope: one handed out for one log (or one
// reader: an account, the admin API) fails on another.
func (s *Service) eventFilter(chainID, cursorScope string, q EventQuery) (EventFilter, error) {
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
		c, err := s.cursors.Decode(cursorScope, q.Cursor)
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
	return s.events(ctx, chainID, chainID, q)
}

func (s *Service) events(ctx context.Context, chainID, cursorScope string, q EventQuery) (EventPage, error) {
	f, err := s.eventFilter(chainID, cursorScope, q)
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
		page.NextCursor = s.cursors.Encode(cursorScope, audit.Cursor{Time: last.Time, ID: last.ID})
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
	f, err := s.eventFilter(chainID, chainID, q)
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
// event of a chain is named in its Problem. Beyond the hash chain it checks
// the keyed seal (audit.VerifySealed: every MAC, every head's seal, the age
// of every pruning checkpoint against AuditRetention), and that every
// account has a chain and every chain but the system's an account (each
// account's chain starts with account.created, in the transaction that
// creates it, and ends in the transaction that deletes the account: a
// deleted account leaves no chain, only account.deleted in the system
// chain, which is as expected). A missing chain is reported as a
// ChainReport of its own.
func (s *Service) VerifyAudit(ctx context.Context) ([]ChainReport, error) {
	heads, err := s.store.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	accounts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(accounts))
	for _, a := range accounts {
		known[a.ID] = true
	}
	sealed := audit.Sealed{Keys: s.auditKeys, Now: s.clock(), Retention: s.cfg.AuditRetention}
	reports := make([]ChainReport, 0, len(heads))
	chains := make(map[string]bool, len(heads))
	for _, h := range heads {
		if h.Seq == 0 {
			// Locked but never appended to: not a chain (PostgreSQL's store
			// does not even list it). Counting it would let a log erased
			// down to an empty head pass for an account's chain.
			continue
		}
		chains[h.ChainID] = true
		var first Event // the first event read: its seq, id and type
		problem, n, err := audit.VerifySealed(h, sealed, func(fn func(*Event) error) error {
			return s.store.EachChainEvent(ctx, h.ChainID, func(e *Event) error {
				if first.Seq == 0 {
					first = Event{Seq: e.Seq, ID: e.ID, Type: e.Type}
				}
				return fn(e)
			})
		})
		if err != nil {
			return nil, fmt.Errorf("verifying chain %s: %w", h.ChainID, err)
		}
		if problem == nil && h.ChainID != audit.SystemChain && h.BaseSeq == 0 && first.Seq == 1 && first.Type != audit.AccountCreated {
			// The chain verifies from a genuine first link, but an account's
			// log starts with account.created: the old chain and its head
			// were deleted, and the next append (a failed sign-in anyone can
			// cause) started a new one.
			problem = &audit.Problem{ChainID: h.ChainID, Kind: audit.KindMissingChain,
				Detail: fmt.Sprintf("its log starts with %q (event %s), not account.created: the account's chain and its head were deleted and a new chain started at the next event", string(first.Type), first.ID)}
		}
		if problem == nil && h.ChainID != audit.SystemChain && !known[h.ChainID] {
			problem = &audit.Problem{ChainID: h.ChainID, Kind: audit.KindOrphanChain,
				Detail: fmt.Sprintf("its %d events are intact, but the account was deleted from the database (keyward deletes an account's chain in the transaction that deletes the account)", n)}
		}
		reports = append(reports, ChainReport{ChainID: h.ChainID, Events: n, Problem: problem})
	}
	unseen := map[string]bool{}
	for _, a := range accounts {
		if !chains[a.ID] {
			unseen[a.ID] = true
			reports = append(reports, ChainReport{ChainID: a.ID, Problem: &audit.Problem{ChainID: a.ID, Kind: audit.KindMissingChain,
				Detail: "every account's log starts with account.created, so its events and the chain's head were deleted"}})
		}
	}
	return s.changedMeanwhile(ctx, reports, unseen)
}

// changedMeanwhile leaves out of reports what accounts made or deleted
// while verification read the store (heads first, then accounts, then
// each chain) made look broken: an account chain that is gone when the
// walk ends, head and account both (DeleteAccount takes them together;
// someone who erased one by hand, account and all, leaves no trace
// either way), and an account reported without a chain (unseen) that has
// one by then (it was made after the heads were read: the next run
// verifies it).
func (s *Service) changedMeanwhile(ctx context.Context, reports []ChainReport, unseen map[string]bool) ([]ChainReport, error) {
	broken := false
	for _, r := range reports {
		broken = broken || r.Problem != nil && r.ChainID != audit.SystemChain
	}
	if !broken {
		return reports, nil
	}
	heads, err := s.store.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	now := make(map[string]bool, len(heads))
	for _, h := range heads {
		now[h.ChainID] = h.Seq > 0
	}
	out := reports[:0]
	for _, r := range reports {
		switch {
		case r.Problem == nil || r.ChainID == audit.SystemChain:
		case unseen[r.ChainID] && now[r.ChainID]:
			continue
		case !unseen[r.ChainID] && !now[r.ChainID]:
			switch _, err := s.store.AccountByID(ctx, r.ChainID); {
			case IsCode(err, CodeNotFound):
				continue
			case err != nil:
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// SealAudit gives a seal to the heads of a log written before sealing
// existed, and returns how many it sealed. It does so only when no head is
// sealed yet (the first start after upgrading): once one is, a head without
// a seal is tampering, which sealing would hide, so it is left for
// VerifyAudit to report. Each chain's hash chain is verified first; one
// that fails stays unsealed (and is reported). Run it before serving, so no
// event is appended to an unsealed head (that event would not verify).
func (s *Service) SealAudit(ctx context.Context) (int, error) {
	heads, err := s.store.AuditHeads(ctx)
	if err != nil {
		return 0, err
	}
	for _, h := range heads {
		if h.Seal != "" {
			return 0, nil
		}
	}
	n := 0
	for _, h := range heads {
		if h.Seq == 0 {
			continue
		}
		last := Event{Seq: h.BaseSeq, Time: h.BaseTime, Hash: h.BaseHash, MAC: h.BaseMAC}
		problem, _, err := audit.VerifyChain(h, func(fn func(*Event) error) error {
			return s.store.EachChainEvent(ctx, h.ChainID, func(e *Event) error {
				last = Event{Seq: e.Seq, Time: e.Time, Hash: e.Hash, MAC: e.MAC}
				return fn(e)
			})
		})
		if err != nil {
			return n, fmt.Errorf("verifying chain %s before sealing it: %w", h.ChainID, err)
		}
		if problem != nil {
			s.log.Error("audit chain left unsealed: it does not verify", "chain", h.ChainID, "problem", problem.Error())
			continue
		}
		seal := audit.SealHead(s.auditKeys, h.ChainID, h.Seq, last.Time, last.Hash, last.MAC)
		ok, err := s.store.SealAuditHead(ctx, h.ChainID, h.Seq, seal)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	if n > 0 {
		s.log.Warn("sealed the audit log's heads, written before sealing existed; if this keyward had started before, this is tampering", "chains", n)
	}
	return n, nil
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
