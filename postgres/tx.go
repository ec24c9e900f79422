package postgres

import (
	"context"
	"errors"

	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// beginSQL begins every InTx transaction: READ COMMITTED whatever the
// server's default.
const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// tx is the transaction of InTx. It saves round trips by pipelining its
// statements (pgx batches, one round trip each): BEGIN goes with the first
// statement, and a statement whose only result is success or failure (an
// audit append, see deferExec) waits to go with the next statement or with
// COMMIT. An audit append, BEGIN, lock the head, append, COMMIT, thus takes
// two round trips instead of four; on two cores shared with the server,
// each round trip's system calls and wake-ups are most of its cost.
//
// It is bound to one connection and, like a pgx.Tx, not safe for
// concurrent use.
type tx struct {
	conn     *pgx.Conn
	deadline time.Time  // of the whole transaction: no statement waits past it
	began    bool       // BEGIN has succeeded
	done     bool       // committed or rolled back
	broken   error      // why BEGIN failed: there is no transaction to run in
	pending  []deferred // sent with the next statement
	failed   error      // the first deferred statement's failure
}

// bound returns ctx, ending no later than the transaction's deadline. The
// statements of fn run with the caller's own context, which (a request's)
// often has no deadline: without this, a statement on a server that stopped
// answering would wait for as long as it stays silent.
func (t *tx) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); t.deadline.IsZero() || ok && !d.After(t.deadline) {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, t.deadline)
}

// deferred is a statement waiting to be sent, and what to make of its
// result.
type deferred struct {
	sql   string
	args  []any
	check func(pgconn.CommandTag, error) error
}

// deferExec queues sql to be sent with the next statement or COMMIT; check
// turns its result into the error that call then returns. Only for a
// statement that, when it fails, fails on the server (an error, not zero
// rows): the transaction is then aborted there, so nothing sent after it
// can commit, even if the caller overlooked the error.
func (t *tx) deferExec(sql string, args []any, check func(pgconn.CommandTag, error) error) {
	t.pending = append(t.pending, deferred{sql, args, check})
}

// usable returns why no statement may run, if so: never outside the
// transaction (with autocommit), even when fn goes on after an error.
func (t *tx) usable() error {
	if t.done {
		return pgx.ErrTxClosed
	}
	return t.broken
}

// send sends, in one batch, BEGIN unless it succeeded already, the pending
// statements and sql (unless ""), and read reads sql's result. The first
// error wins: after it the server skips the rest of the batch.
func (t *tx) send(ctx context.Context, sql string, args []any, read func(pgx.BatchResults) error) error {
	if err := t.usable(); err != nil {
		return err
	}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	b := &pgx.Batch{}
	if !t.began {
		b.Queue(beginSQL)
	}
	pending := t.pending
	t.pending = nil
	for _, p := range pending {
		b.Queue(p.sql, p.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	br := t.conn.SendBatch(ctx, b)
	var err error
	if !t.began {
		if _, err = br.Exec(); err != nil {
			t.broken = err
		}
		t.began = err == nil
	}
	for _, p := range pending {
		tag, perr := br.Exec()
		if err == nil {
			err = p.check(tag, perr)
			if t.failed == nil {
				t.failed = err
			}
		}
	}
	if err == nil && sql != "" {
		err = read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// flush sends BEGIN and the pending statements unless they are sent.
func (t *tx) flush(ctx context.Context) error {
	if err := t.usable(); err != nil || t.began && len(t.pending) == 0 {
		return err
	}
	return t.send(ctx, "", nil, nil)
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(args) == 0 || t.began && len(t.pending) == 0 {
		// Without arguments pgx sends a simple query, which may hold several
		// statements (a migration): a batch could not.
		if err := t.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		ctx, cancel := t.bound(ctx)
		defer cancel()
		return t.conn.Exec(ctx, sql, args...)
	}
	var tag pgconn.CommandTag
	err := t.send(ctx, sql, args, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	})
	return tag, err
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	// Rows outlive the call, and a batch must be closed before the
	// connection is used again: what is queued goes first, on its own.
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := t.bound(ctx)
	rows, err := t.conn.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &releasingRows{Rows: rows, cancel: cancel}, nil
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &txRow{t: t, ctx: ctx, sql: sql, args: args}
}

// txRow runs its query, with whatever is queued, when scanned.
type txRow struct {
	t    *tx
	ctx  context.Context
	sql  string
	args []any
}

func (r *txRow) Scan(dest ...any) error {
	t := r.t
	if err := t.usable(); err != nil {
		return err
	}
	if t.began && len(t.pending) == 0 {
		ctx, cancel := t.bound(r.ctx)
		defer cancel()
		return t.conn.QueryRow(ctx, r.sql, r.args...).Scan(dest...)
	}
	return t.send(r.ctx, r.sql, r.args, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(dest...)
	})
}

// CopyFrom is pgx's, in the transaction.
func (t *tx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// commit sends what is queued and COMMIT. A transaction that sent nothing
// has nothing to commit.
func (t *tx) commit(ctx context.Context) error {
	if err := t.usable(); err != nil {
		return err
	}
	if !t.began && len(t.pending) == 0 {
		t.done = true
		return nil
	}
	var tag pgconn.CommandTag
	err := t.send(ctx, "COMMIT", nil, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	})
	if err == nil && tag.String() == "ROLLBACK" {
		// An earlier statement had failed, and fn went on: when it was a
		// deferred one, its error says why better.
		err = t.failed
		if err == nil {
			err = pgx.ErrTxCommitRollback
		}
	}
	if err != nil {
		// After an error in the batch the server skipped COMMIT: the
		// transaction may still be open, aborted.
		if rerr := t.rollback(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	t.done = true
	return nil
}

// rollback ends the transaction unless it has ended. A connection that
// cannot roll back is closed, as pgx does: its state is unknown (the pool
// then drops it).
func (t *tx) rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	t.pending = nil
	if !t.began || t.conn.PgConn().TxStatus() == 'I' {
		return nil // never begun, or already over
	}
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = t.conn.Close(ctx)
		return err
	}
	return nil
}
