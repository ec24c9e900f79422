package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// Audit log.

// The statements of an audit append, prepared on the writer at Open (see
// writerStmts). Moving the head is also the check that e follows it, so an
// append reads the head once (LockAuditHead), not twice.
const (
	headSQL        = `SELECT ` + headCols + ` FROM audit_heads WHERE chain_id = ?`
	moveHeadSQL    = `UPDATE audit_heads SET seq = ?1, hash = ?2, seal = ?4 WHERE chain_id = ?3 AND seq = ?1 - 1`
	newHeadSQL     = `INSERT INTO audit_heads (chain_id, seq, hash, seal) VALUES (?, 1, ?, ?) ON CONFLICT (chain_id) DO NOTHING`
	insertEventSQL = `INSERT INTO audit_events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	headCols       = `chain_id, seq, hash, seal, base_seq, base_hash, base_mac, base_time_us`
)

// writerStmts are the writes prepared on the writer connection at Open: the
// audit append, which every recorded action makes, and the webhook
// delivery each event may have.
var writerStmts = []string{headSQL, moveHeadSQL, newHeadSQL, insertEventSQL, enqueueWebhookSQL}

// LockAuditHead implements keyward.Queries. Inside InTx the writer's BEGIN
// IMMEDIATE already holds the database's write lock, which covers every
// head: reading is enough. Outside one there is nothing to hold the head
// for, and a plain read would pass for a lock: it fails instead.
func (q *queries) LockAuditHead(ctx context.Context, chainID string) (audit.Head, error) {
	if q.tx == nil {
		return audit.Head{}, errNoTx("LockAuditHead")
	}
	h, err := scanHead(q.row(ctx, headSQL, chainID))
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{ChainID: chainID}, nil
	}
	if err != nil {
		return audit.Head{}, mapErr(ctx, "read audit head", err)
	}
	return h, nil
}

// scanHead reads the columns of headCols.
func scanHead(sc scanner) (audit.Head, error) {
	var (
		h  audit.Head
		us int64
	)
	err := sc.Scan(&h.ChainID, &h.Seq, &h.Hash, &h.Seal, &h.BaseSeq, &h.BaseHash, &h.BaseMAC, &us)
	if us != 0 {
		h.BaseTime = fromUS(us)
	}
	return h, err
}

const eventCols = `id, chain_id, seq, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details, prev_hash, hash, mac`

func (q *queries) AppendEvent(ctx context.Context, e *keyward.Event) error {
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("sqlite: append event: %w", err)
		}
		details = string(b)
	}
	return q.atomic(ctx, func(q *queries) error {
		// The head moves first: it moves only from e.Seq-1, so when nothing
		// moved, e does not follow it and nothing was written.
		n, err := q.execCount(ctx, "append event", moveHeadSQL, e.Seq, blob(e.Hash), e.ChainID, e.HeadSeal)
		if err != nil {
			return err
		}
		if n == 0 && e.Seq == 1 {
			// A new chain: its head is made here.
			n, err = q.execCount(ctx, "append event", newHeadSQL, e.ChainID, blob(e.Hash), e.HeadSeal)
			if err != nil {
				return err
			}
		}
		if n == 0 {
			return q.chainMoved(ctx, e)
		}
		_, err = q.exec(ctx, insertEventSQL,
			e.ID, e.ChainID, e.Seq, toUS(e.Time), string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), details, blob(e.PrevHash), blob(e.Hash), e.MAC)
		return mapErr(ctx, "append event", err)
	})
}

// chainMoved is the error of an append that does not follow the head; it
// reads the head only to say where it is.
func (q *queries) chainMoved(ctx context.Context, e *keyward.Event) error {
	var head int64
	if err := q.row(ctx, `SELECT seq FROM audit_heads WHERE chain_id = ?`, e.ChainID).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr(ctx, "append event", err)
	}
	return &keyward.Error{Code: keyward.CodeConflict, Message: "The audit log changed meanwhile. Please try again.",
		Err: fmt.Errorf("sqlite: append event %d to chain %q whose head is %d", e.Seq, e.ChainID, head)}
}

func scanEvent(sc scanner) (*keyward.Event, error) {
	var (
		e       keyward.Event
		us      int64
		details string
	)
	err := sc.Scan(&e.ID, &e.ChainID, &e.Seq, &us, &e.Type, &e.Outcome, &e.Reason, &e.IP, &e.UserAgent,
		&e.SessionID, &e.Actor, &details, &e.PrevHash, &e.Hash, &e.MAC)
	if err != nil {
		return nil, err
	}
	e.Time = fromUS(us)
	e.Details = map[string]string{}
	if details != "{}" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, fmt.Errorf("event %s details: %w", e.ID, err)
		}
		if e.Details == nil {
			e.Details = map[string]string{}
		}
	}
	return &e, nil
}

// eventQuery returns the SELECT of the events f selects, newest first.
//
// With several types of one chain it is a UNION ALL of one SELECT per type:
// each reads an index in (time, id) order and SQLite merges them, so a page
// costs its own rows and no sort of every matching event, and EachEvent
// still streams. Across every chain (the operator's list) types filter one
// walk of audit_events_time.
func eventQuery(f keyward.EventFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.ChainID != "" {
		where = append(where, `chain_id = ?`)
		args = append(args, f.ChainID)
	}
	if !f.Since.IsZero() {
		where = append(where, `time_us >= ?`)
		args = append(args, toUS(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, `time_us < ?`)
		args = append(args, toUS(f.Until))
	}
	if f.Before != nil {
		// The first term bounds the index range; the second breaks the tie.
		us := toUS(f.Before.Time)
		where = append(where, `time_us <= ? AND (time_us < ? OR id < ?)`)
		args = append(args, us, us, f.Before.ID)
	}
	types := slices.Compact(slices.Sorted(slices.Values(f.Types)))
	selectWhere := func(extra string) string {
		w := where
		if extra != "" {
			w = append(slices.Clip(w), extra)
		}
		q := `SELECT ` + eventCols + ` FROM audit_events`
		if len(w) > 0 {
			q += ` WHERE ` + strings.Join(w, ` AND `)
		}
		return q
	}
	var (
		query   string
		allArgs []any
	)
	switch {
	case len(types) == 0:
		query, allArgs = selectWhere(""), args
	case f.ChainID == "":
		// Every chain: no index leads with type, so one walk of
		// audit_events_time, newest first, skips the other types. The unary
		// + keeps the planner off a skip-scan of audit_events_chain_type_time,
		// which with ANALYZE's statistics it may prefer, and which must sort
		// every matching event before the first row.
		in := strings.Repeat(`, ?`, len(types))[2:]
		allArgs = args
		for _, t := range types {
			allArgs = append(allArgs, string(t))
		}
		query = selectWhere(`+type IN (` + in + `)`)
	default:
		arms := make([]string, len(types))
		for i, t := range types {
			arms[i] = selectWhere(`type = ?`)
			allArgs = append(append(allArgs, args...), string(t))
		}
		query = strings.Join(arms, ` UNION ALL `)
	}
	query += ` ORDER BY time_us DESC, id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		allArgs = append(allArgs, f.Limit)
	}
	return query, allArgs
}

func (q *queries) ListEvents(ctx context.Context, f keyward.EventFilter) ([]keyward.Event, error) {
	query, args := eventQuery(f)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(ctx, "list events", err)
	}
	return collect(ctx, "list events", rows, scanEvent)
}

// each streams the rows of query to fn, one at a time.
func (q *queries) each(ctx context.Context, op, query string, args []any, fn func(*keyward.Event) error) error {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return mapErr(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return mapErr(ctx, op, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return mapErr(ctx, op, rows.Err())
}

func (q *queries) EachEvent(ctx context.Context, f keyward.EventFilter, fn func(*keyward.Event) error) error {
	query, args := eventQuery(f)
	return q.each(ctx, "stream events", query, args, fn)
}

func (q *queries) EachChainEvent(ctx context.Context, chainID string, fn func(*keyward.Event) error) error {
	return q.each(ctx, "stream chain", `SELECT `+eventCols+` FROM audit_events WHERE chain_id = ? ORDER BY seq`, []any{chainID}, fn)
}

func (q *queries) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	rows, err := q.query(ctx, `SELECT `+headCols+` FROM audit_heads ORDER BY chain_id`)
	if err != nil {
		return nil, mapErr(ctx, "list audit heads", err)
	}
	return collect(ctx, "list audit heads", rows, func(sc scanner) (*audit.Head, error) {
		h, err := scanHead(sc)
		return &h, err
	})
}

func (q *queries) SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error) {
	n, err := q.execCount(ctx, "seal audit head", `UPDATE audit_heads SET seal = ? WHERE chain_id = ? AND seq = ? AND seal = ''`, seal, chainID, seq)
	return n == 1, err
}

// lastPrunedSQL finds the last event PruneEvents deletes: the one before
// the first event, in Seq order, that is not older than before.
const lastPrunedSQL = `SELECT seq, hash, mac, time_us FROM audit_events
	WHERE chain_id = ?1 AND seq < coalesce((SELECT seq FROM audit_events WHERE chain_id = ?1 AND +time_us >= ?2 ORDER BY seq LIMIT 1), 9223372036854775807)
	ORDER BY seq DESC LIMIT 1`

func (q *queries) PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error) {
	var n int
	err := q.atomic(ctx, func(q *queries) error {
		// The run to delete ends just before the first event (in Seq order)
		// that is not older than before: a later event with an earlier time
		// (clocks of two nodes disagreeing) stays, so no gap opens. The unary
		// + keeps SQLite on the table's own (chain_id, seq) order: it walks
		// the chain from its start and stops at that first event.
		var (
			lastSeq  int64
			lastHash []byte
			lastMAC  string
			lastUS   int64
		)
		err := q.row(ctx, lastPrunedSQL, chainID, toUS(before)).Scan(&lastSeq, &lastHash, &lastMAC, &lastUS)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(ctx, "prune events", err)
		}
		if n, err = q.execCount(ctx, "prune events", `DELETE FROM audit_events WHERE chain_id = ? AND seq <= ?`, chainID, lastSeq); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE audit_heads SET base_seq = ?, base_hash = ?, base_mac = ?, base_time_us = ? WHERE chain_id = ?`,
			lastSeq, blob(lastHash), lastMAC, lastUS, chainID)
		return mapErr(ctx, "prune events", err)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
