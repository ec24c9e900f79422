package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// eachBatch is how many events EachEvent and EachChainEvent read per query:
// memory stays constant, and no connection is held while fn runs (an export
// to a slow client may take minutes).
const eachBatch = 500

// LockAuditHead implements keyward.Queries: SELECT ... FOR UPDATE. Outside
// a transaction the lock would end with the statement, and a plain read
// would pass for a lock: it fails instead.
func (q *queries) LockAuditHead(ctx context.Context, chainID string) (audit.Head, error) {
	if !q.inTx {
		return audit.Head{}, keyward.Internal(errors.New("postgres: LockAuditHead outside a transaction"))
	}
	h, err := q.selectHeadForUpdate(ctx, chainID)
	if errors.Is(err, pgx.ErrNoRows) {
		// A new chain: make its head row, then lock it. ON CONFLICT lets
		// concurrent first appenders (on any node) meet on the same row.
		if _, err := q.db.Exec(ctx, `INSERT INTO audit_heads (chain_id) VALUES ($1) ON CONFLICT DO NOTHING`, chainID); err != nil {
			return audit.Head{}, wrap("lock audit head", err)
		}
		h, err = q.selectHeadForUpdate(ctx, chainID)
	}
	return h, wrap("lock audit head", err)
}

func (q *queries) selectHeadForUpdate(ctx context.Context, chainID string) (audit.Head, error) {
	return scanHead(q.db.QueryRow(ctx, `SELECT `+headColumns+` FROM audit_heads WHERE chain_id = $1 FOR UPDATE`, chainID))
}

const headColumns = `chain_id, seq, hash, seal, base_seq, base_hash, base_mac, base_time`

func scanHead(row pgx.Row) (audit.Head, error) {
	var (
		h    audit.Head
		base *time.Time
	)
	err := row.Scan(&h.ChainID, &h.Seq, &h.Hash, &h.Seal, &h.BaseSeq, &h.BaseHash, &h.BaseMAC, &base)
	if base != nil {
		h.BaseTime = base.UTC()
	}
	return h, err
}

// appendEventSQL inserts an event and moves its chain's head from Seq-1 to
// Seq, or fails. A new chain's head is created here when the caller did not
// lock it first (ins); otherwise it must be at Seq-1 (upd). Both CTEs see
// the snapshot of the statement's start. When neither moved the head, the
// event's hash is NULL, which audit_events refuses (NOT NULL): a mismatch
// is an error that aborts the transaction, never zero rows a caller could
// overlook, so the statement can wait to be sent with COMMIT (tx.deferExec).
const appendEventSQL = `
	WITH ins AS (
		INSERT INTO audit_heads (chain_id, seq, hash, seal)
		SELECT $1, $2::bigint, $14, $16 WHERE $2::bigint = 1
		ON CONFLICT (chain_id) DO NOTHING
		RETURNING 1
	), upd AS (
		UPDATE audit_heads SET seq = $2::bigint, hash = $14, seal = $16
		WHERE chain_id = $1 AND seq = $2::bigint - 1
		RETURNING 1
	)
	INSERT INTO audit_events (chain_id, seq, id, time, type, outcome, reason, ip, user_agent,
		session_id, actor, details, prev_hash, hash, mac)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
		CASE WHEN EXISTS (SELECT 1 FROM ins UNION ALL SELECT 1 FROM upd) THEN $14::bytea END, $15`

// AppendEvent in a transaction is sent with the transaction's next
// statement, or with its COMMIT: a mismatch with the head is then reported
// by that call (InTx's, for the service), and the transaction is rolled
// back all the same.
func (q *queries) AppendEvent(ctx context.Context, e *keyward.Event) error {
	if len(e.Hash) == 0 {
		return errors.New("postgres: append event: the event has no hash")
	}
	details, err := encodeDetails(e.Details)
	if err != nil {
		return wrap("append event", err)
	}
	args := []any{e.ChainID, e.Seq, e.ID, e.Time, string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
		e.SessionID, string(e.Actor), details, e.PrevHash, e.Hash, e.MAC, e.HeadSeal}
	check := func(tag pgconn.CommandTag, err error) error {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "23505" || // unique_violation: (chain_id, seq) taken
			pe.Code == "23502" && pe.TableName == "audit_events" && pe.ColumnName == "hash") { // the head did not move
			return chainMoved(e)
		}
		if err != nil {
			return wrap("append event", err)
		}
		if tag.RowsAffected() != 1 {
			return chainMoved(e)
		}
		return nil
	}
	if t, ok := q.db.(*tx); ok {
		t.deferExec(appendEventSQL, args, check)
		return nil
	}
	// Outside a transaction: one of its own, BEGIN to COMMIT in one batch.
	return q.s.inTx(ctx, func(q *queries) error { return q.AppendEvent(ctx, e) })
}

func chainMoved(e *keyward.Event) error {
	return &keyward.Error{
		Code:    keyward.CodeConflict,
		Message: "The audit log changed at the same time. Try again.",
		Err:     errors.New("postgres: append event: seq " + strconv.FormatInt(e.Seq, 10) + " does not follow the head of chain " + e.ChainID),
	}
}

// encodeDetails stores nil and empty alike, as {}.
func encodeDetails(d map[string]string) ([]byte, error) {
	if len(d) == 0 {
		return []byte("{}"), nil
	}
	return json.Marshal(d)
}

const eventColumns = `chain_id, seq, id, time, type, outcome, reason, ip, user_agent,
	session_id, actor, details, prev_hash, hash, mac`

// eventScanner scans events, reusing its buffer for details.
type eventScanner struct {
	details []byte
	typ     string
	outcome string
	actor   string
}

func (s *eventScanner) scan(row pgx.Row, e *keyward.Event) error {
	s.details = s.details[:0]
	err := row.Scan(&e.ChainID, &e.Seq, &e.ID, &e.Time, &s.typ, &s.outcome, &e.Reason, &e.IP, &e.UserAgent,
		&e.SessionID, &s.actor, &s.details, &e.PrevHash, &e.Hash, &e.MAC)
	if err != nil {
		return err
	}
	e.Type, e.Outcome, e.Actor = audit.Type(s.typ), audit.Outcome(s.outcome), audit.Actor(s.actor)
	// Never nil on read: a reader may add to it.
	e.Details = map[string]string{}
	if len(s.details) > 2 { // more than {}
		if err := json.Unmarshal(s.details, &e.Details); err != nil {
			return err
		}
	}
	return nil
}

// eventsQuery builds the newest-first query for f; limit <= 0 is no limit.
func eventsQuery(f keyward.EventFilter, limit int) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 7)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + eventColumns + ` FROM audit_events WHERE true`)
	if f.ChainID != "" {
		b.WriteString(` AND chain_id = ` + arg(f.ChainID))
	}
	switch len(f.Types) {
	case 0:
	case 1:
		b.WriteString(` AND type = ` + arg(string(f.Types[0])))
	default:
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = string(t)
		}
		b.WriteString(` AND type = ANY(` + arg(types) + `::text[])`)
	}
	if !f.Since.IsZero() {
		b.WriteString(` AND time >= ` + arg(f.Since))
	}
	if !f.Until.IsZero() {
		b.WriteString(` AND time < ` + arg(f.Until))
	}
	if f.Before != nil {
		b.WriteString(` AND (time, id) < (` + arg(f.Before.Time) + `, ` + arg(f.Before.ID) + `)`)
	}
	b.WriteString(` ORDER BY time DESC, id DESC`)
	if limit > 0 {
		b.WriteString(` LIMIT ` + arg(limit))
	}
	return b.String(), args
}

func (q *queries) ListEvents(ctx context.Context, f keyward.EventFilter) ([]keyward.Event, error) {
	return q.listEvents(ctx, f, f.Limit)
}

func (q *queries) listEvents(ctx context.Context, f keyward.EventFilter, limit int) ([]keyward.Event, error) {
	sql, args := eventsQuery(f, limit)
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("list events", err)
	}
	defer rows.Close()
	var out []keyward.Event
	var sc eventScanner
	for rows.Next() {
		out = append(out, keyward.Event{})
		if err := sc.scan(rows, &out[len(out)-1]); err != nil {
			return nil, wrap("list events", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list events", err)
	}
	return out, nil
}

func (q *queries) EachEvent(ctx context.Context, f keyward.EventFilter, fn func(*keyward.Event) error) error {
	remaining := f.Limit // <= 0: all
	for {
		n := eachBatch
		if remaining > 0 && remaining < n {
			n = remaining
		}
		batch, err := q.listEvents(ctx, f, n)
		if err != nil {
			return err
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if len(batch) < n {
			return nil
		}
		if remaining > 0 {
			if remaining -= len(batch); remaining == 0 {
				return nil
			}
		}
		last := batch[len(batch)-1]
		f.Before = &keyward.EventCursor{Time: last.Time, ID: last.ID}
	}
}

func (q *queries) EachChainEvent(ctx context.Context, chainID string, fn func(*keyward.Event) error) error {
	var after int64
	var sc eventScanner
	batch := make([]keyward.Event, 0, eachBatch)
	for {
		rows, err := q.db.Query(ctx, `
			SELECT `+eventColumns+` FROM audit_events
			WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, chainID, after, eachBatch)
		if err != nil {
			return wrap("chain events", err)
		}
		batch = batch[:0]
		for rows.Next() {
			batch = append(batch, keyward.Event{})
			if err := sc.scan(rows, &batch[len(batch)-1]); err != nil {
				rows.Close()
				return wrap("chain events", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap("chain events", err)
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if len(batch) < eachBatch {
			return nil
		}
		after = batch[len(batch)-1].Seq
		// fn may have kept the events it was given: a new batch.
		batch = make([]keyward.Event, 0, eachBatch)
	}
}

func (q *queries) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	// A head at seq 0 was locked but never appended to: not a chain yet.
	rows, err := q.db.Query(ctx, `SELECT `+headColumns+` FROM audit_heads WHERE seq > 0 ORDER BY chain_id`)
	if err != nil {
		return nil, wrap("audit heads", err)
	}
	heads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Head, error) { return scanHead(row) })
	return heads, wrap("audit heads", err)
}

func (q *queries) SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE audit_heads SET seal = $1 WHERE chain_id = $2 AND seq = $3 AND seal = ''`, seal, chainID, seq)
	if err != nil {
		return false, wrap("seal audit head", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error) {
	// Only a prefix of the chain goes: the events before the first one that
	// is not older than before. Were node clocks ever out of step, deleting
	// by time alone could leave a hole that no checkpoint describes.
	// The checkpoint only moves forward, so concurrent prunes agree.
	var n int64
	prune := func(q *queries) error {
		// The append-only trigger lets this transaction, and only it, delete.
		if _, err := q.db.Exec(ctx, `SELECT set_config('keyward.audit_prune', 'on', true)`); err != nil {
			return err
		}
		return q.db.QueryRow(ctx, `
		WITH del AS (
			DELETE FROM audit_events
			WHERE chain_id = $1 AND time < $2
			  AND seq < COALESCE(
				(SELECT seq FROM audit_events WHERE chain_id = $1 AND time >= $2 ORDER BY seq LIMIT 1),
				9223372036854775807)
			RETURNING seq, hash, mac, time
		), last AS (
			SELECT seq, hash, mac, time FROM del ORDER BY seq DESC LIMIT 1
		), upd AS (
			UPDATE audit_heads h SET base_seq = last.seq, base_hash = last.hash, base_mac = last.mac, base_time = last.time
			FROM last WHERE h.chain_id = $1 AND h.base_seq < last.seq
		)
		SELECT count(*) FROM del`, chainID, before).Scan(&n)
	}
	var err error
	if _, ok := q.db.(*tx); ok {
		err = prune(q)
	} else {
		err = q.s.inTx(ctx, prune)
	}
	if err != nil {
		return 0, wrap("prune events", err)
	}
	return int(n), nil
}
