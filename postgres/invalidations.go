package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// notifyChannel is the channel every invalidation row is announced on; the
// payload is "seq:account_id", so that a listener can evict the account at
// once, before it reads the log (a payload of the seq alone, from a node
// of an earlier version, only wakes it).
const notifyChannel = "keyward_invalidation"

// Advisory lock keys ("keyward" and a number), one per purpose.
const (
	migrateLockKey      int64 = 0x6b65797761726401
	invalidationLockKey int64 = 0x6b65797761726402
)

// watchKeepalive is how long WatchInvalidations waits for a notification
// before it checks that its connection still answers: a connection that
// died silently (no FIN, no RST) must not leave a node deaf.
const watchKeepalive = 30 * time.Second

func (q *queries) AddInvalidation(ctx context.Context, accountID string, at time.Time) error {
	// Readers follow the log by seq ("everything after the last seq I
	// saw"), so seqs must become visible in order: an identity value taken
	// by a transaction that commits after a later one would be skipped for
	// good. A transaction-scoped advisory lock, taken before the seq, makes
	// the transactions that add invalidations commit one after another.
	// It is held until commit: call AddInvalidation late in a transaction.
	// NOTIFY is delivered when the transaction commits.
	_, err := q.db.Exec(ctx, `
		WITH l AS (
			SELECT pg_advisory_xact_lock($3)
		), ins AS (
			INSERT INTO invalidations (account_id, at) SELECT $1, $2 FROM l RETURNING seq
		)
		SELECT pg_notify('`+notifyChannel+`', seq::text || ':' || $1) FROM ins`, accountID, at, invalidationLockKey)
	return wrap("add invalidation", err)
}

func (q *queries) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	sql := `SELECT seq, account_id, at FROM invalidations WHERE seq > $1 ORDER BY seq`
	args := []any{after}
	if limit > 0 {
		sql += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("invalidations since", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Invalidation, error) {
		var v keyward.Invalidation
		err := row.Scan(&v.Seq, &v.AccountID, &v.At)
		return v, err
	})
	return out, wrap("invalidations since", err)
}

func (q *queries) LastInvalidation(ctx context.Context) (int64, error) {
	var seq int64
	err := q.db.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM invalidations`).Scan(&seq)
	return seq, wrap("last invalidation", err)
}

// WatchInvalidations implements keyward.InvalidationNotifier. It listens on
// a connection of its own (not one of the pool's), calls ready once
// listening and notify for every invalidation committed by any node. It
// returns ctx's error when ctx ends, and a CodeUnavailable error when the
// connection is lost: the caller calls it again (and, having perhaps missed
// notifications, reads InvalidationsSince once ready is called again).
func (s *Store) WatchInvalidations(ctx context.Context, ready func(), notify func(accountID string)) error {
	return s.watch(ctx, ready, notify, watchKeepalive)
}

// payloadAccount is the account named by a notification's payload, "" for
// a payload that names none.
func payloadAccount(payload string) string {
	_, account, _ := strings.Cut(payload, ":")
	return account
}

func (s *Store) watch(ctx context.Context, ready func(), notify func(string), keepalive time.Duration) error {
	if s.closed.Load() {
		return unavailable(errors.New("postgres: store closed"))
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return watchErr(ctx, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return watchErr(ctx, err)
	}
	ready()
	for {
		wctx, cancel := context.WithTimeout(ctx, keepalive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			notify(payloadAccount(n.Payload))
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case wctx.Err() != nil && !conn.IsClosed():
			// Quiet for a while: make sure the server is still there.
			pctx, cancel := context.WithTimeout(ctx, connectTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return watchErr(ctx, err)
			}
		default:
			return watchErr(ctx, err)
		}
	}
}

func watchErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return unavailable(wrap("watch invalidations", err))
}
