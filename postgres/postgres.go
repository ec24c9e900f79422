// Package postgres is the PostgreSQL keyward.Store, for N keyward nodes that
// share one database.
//
// It uses pgx directly (a pgxpool pool, no database/sql). Open applies the
// embedded migrations, serialised between nodes by an advisory lock. Single-use
// things are consumed by one conditional statement each, audit appends are
// serialised per chain by a row lock on the chain's head, and every
// invalidation row is announced with NOTIFY keyward_invalidation, which
// WatchInvalidations follows on a connection of its own.
//
// InTx pipelines: BEGIN goes with the transaction's first statement, and an
// audit append with the next statement or with COMMIT (see tx), so that a
// recorded action costs as few round trips as it can. An append that does
// not follow its chain's head then fails the call that sent it, or InTx.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
)

const (
	// connectTimeout bounds dialling and authenticating one connection, so a
	// request fails fast when the database is down. A connect_timeout in the
	// URL wins.
	connectTimeout = 3 * time.Second
	// acquireTimeout bounds the wait for a pooled connection.
	acquireTimeout = 5 * time.Second
	// opTimeout bounds a statement or a transaction whose caller set no
	// deadline: a server that stops answering without closing connections
	// (a paused VM, a partition) must cost a request a 503, not a hang.
	// Long work (pruning, copying) sets its own deadline.
	opTimeout = 5 * time.Second
	// txAttempts is how many times InTx runs fn when the transaction hits a
	// serialisation failure or a deadlock.
	txAttempts = 5
)

// Store is the PostgreSQL keyward.Store. It is safe for concurrent use.
type Store struct {
	queries
	pool   *pgxpool.Pool
	closed atomic.Bool
}

var (
	_ keyward.Store                = (*Store)(nil)
	_ keyward.InvalidationNotifier = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool settings such as pool_max_conns are read from it)
// and brings its schema up to date.
func Open(ctx context.Context, url string) (*Store, error) {
	s, err := Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect connects like Open but leaves the schema as it is: for
// `keyward migrate status`, which must show what is pending.
func Connect(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password and all.
		return nil, errors.New("postgres: the database URL is not valid")
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	cfg.AfterConnect = afterConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr(err)
	}
	s := &Store{pool: pool}
	s.queries = queries{db: poolDB{s}, s: s}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// afterConnect prepares every new connection: timestamptz values are read
// in UTC.
func afterConnect(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// Close closes the pool; WatchInvalidations calls end on their own when
// their ctx ends.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return mapErr(c.Ping(ctx))
}

// InTx runs fn in one READ COMMITTED transaction, and runs it again (a few
// times, after a short random pause) when the transaction fails with a
// serialisation failure or a deadlock. q is bound to one connection: fn must
// not use it from several goroutines at once.
func (s *Store) InTx(ctx context.Context, fn func(q keyward.Queries) error) error {
	return s.inTx(ctx, func(q *queries) error { return fn(q) })
}

func (s *Store) inTx(ctx context.Context, fn func(q *queries) error) error {
	for attempt := 1; ; attempt++ {
		err := s.txOnce(ctx, fn)
		if err == nil || attempt == txAttempts || !retryable(err) {
			return err
		}
		// 5-10 ms, 10-20 ms, 20-40 ms, ...
		base := time.Duration(5<<(attempt-1)) * time.Millisecond
		pause := base + rand.N(base)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// bounded returns ctx with opTimeout unless the caller chose a deadline.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, opTimeout)
}

func (s *Store) txOnce(ctx context.Context, fn func(q *queries) error) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	deadline, _ := ctx.Deadline() // bounded: always set
	t := &tx{conn: c.Conn(), deadline: deadline}
	defer t.rollback(ctx) // fn failed or panicked; after the commit it does nothing
	if err := fn(&queries{db: t, s: s, inTx: true}); err != nil {
		return mapErr(err)
	}
	return mapErr(t.commit(ctx))
}

// retryable reports whether a transaction failed only because it raced
// another one, so running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return false
}

// acquire takes a connection from the pool, waiting at most acquireTimeout.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if s.closed.Load() {
		return nil, unavailable(errors.New("postgres: store closed"))
	}
	actx, cancel := context.WithTimeout(ctx, acquireTimeout)
	defer cancel()
	c, err := s.pool.Acquire(actx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, mapErr(fmt.Errorf("postgres: acquiring a connection: %w", context.Cause(ctx)))
		}
		return nil, unavailable(fmt.Errorf("postgres: acquiring a connection: %w", err))
	}
	return c, nil
}

// queries implements keyward.Queries on the pool (each call on its own) or on
// one transaction (the q of InTx).
type queries struct {
	db   dbtx
	s    *Store
	inTx bool
}

var _ keyward.Queries = (*queries)(nil)

// atomic runs fn in the caller's transaction, or in a new one: for the few
// operations that take more than one statement.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if q.inTx {
		return fn(q)
	}
	return q.s.inTx(ctx, fn)
}

// accountMissing turns the foreign key violation of a row written for an
// account that does not exist into CodeNotFound.
func accountMissing(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Account not found.", Err: err}
	}
	return err
}

// dbtx is what queries run on: a transaction, or the pool.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// poolDB runs each statement on a connection taken from the pool for that
// statement only (with acquireTimeout).
type poolDB struct{ s *Store }

func (p poolDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	c, err := p.s.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

func (p poolDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := bounded(ctx)
	c, err := p.s.acquire(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		cancel()
		return nil, err
	}
	return &releasingRows{Rows: rows, c: c, cancel: cancel}, nil
}

func (p poolDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &poolRow{p: p, ctx: ctx, sql: sql, args: args}
}

// poolRow runs its query when scanned.
type poolRow struct {
	p    poolDB
	ctx  context.Context
	sql  string
	args []any
}

func (r *poolRow) Scan(dest ...any) error {
	ctx, cancel := bounded(r.ctx)
	defer cancel()
	c, err := r.p.s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return c.QueryRow(ctx, r.sql, r.args...).Scan(dest...)
}

// releasingRows, once read or closed, gives its connection back to the pool
// (c: nil inside a transaction, which keeps its own) and releases its
// context's timer.
type releasingRows struct {
	pgx.Rows
	c      *pgxpool.Conn
	cancel context.CancelFunc
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	if r.c != nil {
		r.c.Release()
		r.c = nil
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

const unavailableMessage = "The database is unavailable. Try again shortly."

func unavailable(cause error) error {
	var ke *keyward.Error
	if errors.As(cause, &ke) && ke.Code == keyward.CodeUnavailable {
		return cause
	}
	return &keyward.Error{Code: keyward.CodeUnavailable, Message: unavailableMessage, Err: cause}
}

// mapErr turns a driver error into keyward's: a database that cannot be
// reached (or does not answer in time) is CodeUnavailable; a *keyward.Error
// and a cancelled ctx pass through; anything else is returned as is and
// becomes CodeInternal (its text, which may hold SQL, reaches only the log).
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var ke *keyward.Error
	if errors.As(err, &ke) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if isUnavailable(err) {
		return unavailable(err)
	}
	return err
}

func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// wrap maps err and adds what was being done, for the log.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	err = mapErr(err)
	var ke *keyward.Error
	if errors.As(err, &ke) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func notFound(what string) error {
	return keyward.Errorf(keyward.CodeNotFound, "%s not found.", what)
}
