// Package sqlite is keyward's embedded Store: one SQLite file in the data
// folder, through the pure-Go modernc.org/sqlite driver (no cgo).
//
// # Connections
//
// The store holds two pools on the same file. The writer has exactly one
// connection and begins every transaction with BEGIN IMMEDIATE, so writers
// queue in Go (respecting their context) instead of spinning on SQLITE_BUSY,
// and a read-modify-write inside InTx can never be overtaken. The reader pool
// has several query_only connections; in WAL mode readers never wait for the
// writer and see every committed write. Outside InTx, each statement picks
// its pool by its kind: a SELECT goes to the reader pool, anything else
// (INSERT, UPDATE, DELETE, with or without RETURNING) to the writer; inside
// InTx everything goes through the one transaction.
//
// Because there is one writer connection, code inside InTx must use the q it
// is given: a write through the Store itself would wait for the transaction
// that is waiting for it, until the context ends.
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL: a committed
// transaction survives the process crashing or being killed (kill -9), but
// the last transactions before a power loss or kernel crash may be rolled
// back (the database stays consistent). That is the usual trade for a
// service whose writes are small and frequent.
//
// # Schema
//
// Migrations are numbered .sql files embedded in the binary and recorded in
// schema_migrations; Open applies the pending ones. Times are INTEGER unix
// microseconds in UTC, hashes and salts BLOBs.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// busyTimeout bounds how long a connection waits for a lock held by another
// process (the `keyward migrate` command, a backup) before giving up.
const busyTimeout = 5 * time.Second

// Store is the SQLite keyward.Store. Its zero value is not usable: Open one.
type Store struct {
	// queries outside a transaction: each statement picks its pool by its
	// kind (see queries.on).
	queries

	// Now is the clock, used only to record when a migration was applied.
	Now func() time.Time

	path   string
	writer *sql.DB
	reader *sql.DB
	ws     *stmtCache // the writer's prepared statements; nil while Open migrates
	rs     *stmtCache // the reader pool's; nil while Open migrates
}

var _ keyward.Store = (*Store)(nil)

// Open opens (creating it, with mode 0600, when it does not exist) the
// database file at path, applies the pending migrations and returns the
// store. path is a file name, not a URI; ":memory:" is refused because the
// two pools would each see a database of their own.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want the path of a database file", path)
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writer, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s := &Store{Now: time.Now, path: path, writer: writer}
	s.queries = queries{store: s}
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.Migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", dsn(path, readerParams))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("sqlite: open reader %s: %w", path, err)
	}
	s.reader = reader
	// After Migrate: the statements need the schema.
	ws, err := prepareStmts(ctx, writer, writerStmts)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.ws = ws
	s.rs = &stmtCache{db: reader, m: map[string]*sql.Stmt{}}
	return s, nil
}

// createFile creates path with mode 0600 unless it exists, so that SQLite
// (which creates the -wal and -shm files with the same mode) never makes the
// database readable by others.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// The connection settings, as modernc.org/sqlite DSN parameters.
var (
	writerParams = []string{
		"_pragma=busy_timeout(" + strconv.Itoa(int(busyTimeout/time.Millisecond)) + ")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=cache_size(-16000)", // KiB
		"_txlock=immediate",
	}
	readerParams = []string{
		"_pragma=busy_timeout(" + strconv.Itoa(int(busyTimeout/time.Millisecond)) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=cache_size(-16000)",
		"_pragma=query_only(1)",
	}
)

// dsn returns the file: URI of path with params. The characters that a URI
// would read as its own (%, ?, #) are escaped in the path.
func dsn(path string, params []string) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p + "?" + strings.Join(params, "&")
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	s.rs.close()
	s.ws.close()
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// Ping reports whether the database answers, for both pools.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.writer, s.reader} {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// InTx runs fn in one transaction on the writer connection. SQLite
// serialises writers, so fn runs once: there are no serialisation conflicts
// to retry. A panic in fn rolls back and is passed on.
func (s *Store) InTx(ctx context.Context, fn func(q keyward.Queries) error) error {
	return s.inTx(ctx, func(q *queries) error { return fn(q) })
}

func (s *Store) inTx(ctx context.Context, fn func(q *queries) error) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(ctx, "begin", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&queries{store: s, tx: tx, stmts: s.ws}); err != nil {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return mapErr(ctx, "commit", err)
	}
	return nil
}

// dbtx is what queries run on: a pool or a transaction.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements keyward.Queries. Outside a transaction (the Store's
// own, tx nil) each statement picks its pool by its kind: a read goes to
// the reader pool, a write to the writer, and an operation of several
// statements opens a transaction of its own on the writer. Inside one, every
// statement runs in tx.
//
// Prepared statements are cached (parsing is a third of a point lookup's
// time, and a quarter of an audit append's): every statement for the reader
// pool, the hot writes for the writer.
type queries struct {
	store *Store
	tx    *sql.Tx    // the transaction, or nil
	stmts *stmtCache // tx's prepared statements (the writer's), or nil
}

// isRead reports whether query only reads: it may run on the reader pool,
// whose connections are query_only. Every write of this package starts with
// INSERT, UPDATE or DELETE, a read with SELECT.
func isRead(query string) bool {
	return strings.HasPrefix(strings.TrimLeft(query, " \t\r\n"), "SELECT")
}

// on returns where query runs and its prepared statement, or nil: run it
// unprepared on db.
func (q *queries) on(ctx context.Context, query string) (dbtx, *sql.Stmt) {
	if q.tx != nil {
		st := q.stmts.get(ctx, query)
		if st != nil {
			// Prepared on the writer's one connection, which the transaction
			// holds: Tx.StmtContext finds it there and prepares nothing.
			st = q.tx.StmtContext(ctx, st)
		}
		return q.tx, st
	}
	if isRead(query) {
		return q.store.reader, q.store.rs.get(ctx, query)
	}
	return q.store.writer, q.store.ws.get(ctx, query)
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	db, st := q.on(ctx, query)
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.ExecContext(ctx, query, args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db, st := q.on(ctx, query)
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.QueryContext(ctx, query, args...)
}

func (q *queries) row(ctx context.Context, query string, args ...any) *sql.Row {
	db, st := q.on(ctx, query)
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, query, args...)
}

// stmtCache holds the prepared statements of one pool, by query text. It
// stops growing at maxStmts (the event filters make a few hundred shapes at
// most); beyond, statements are parsed each time.
//
// The writer's cache is fixed: its statements are prepared at Open, and it
// never prepares another. Preparing on a *sql.DB takes a free connection,
// and inside a transaction the writer's only one is taken: that would wait
// for itself.
type stmtCache struct {
	db    *sql.DB
	fixed bool
	mu    sync.Mutex
	m     map[string]*sql.Stmt
}

const maxStmts = 1000

// prepareStmts returns a fixed cache of queries prepared on db.
func prepareStmts(ctx context.Context, db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{db: db, fixed: true, m: make(map[string]*sql.Stmt, len(queries))}
	for _, query := range queries {
		st, err := db.PrepareContext(ctx, query)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("prepare %q: %w", query, err)
		}
		c.m[query] = st
	}
	return c, nil
}

// get returns the prepared statement of query, or nil when c is nil, when
// the statement could not be prepared (the caller then runs query
// unprepared, and meets the error, if any, there) or when c is fixed and
// does not hold it.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if c.fixed {
		return c.m[query] // never written after prepareStmts
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	if !c.fixed {
		clear(c.m)
	}
}

var _ keyward.Queries = (*queries)(nil)

// atomic runs fn in a transaction: q's own, or a new one on the writer.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.store.inTx(ctx, fn)
}

type scanner interface{ Scan(dest ...any) error }

// blob stores an empty byte slice as NULL; NULL reads back as nil.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// affected reports the number of rows res changed.
func affected(res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	return int(n), err
}

// updateOne runs an UPDATE that must change one row: none is notFound(what).
func (q *queries) updateOne(ctx context.Context, what, query string, args ...any) error {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return mapErr(ctx, "update "+strings.ToLower(what), err)
	}
	n, err := affected(res)
	if err != nil {
		return mapErr(ctx, "update "+strings.ToLower(what), err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

func (q *queries) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET password_hash = ? WHERE id = ?`, hash, accountID)
}

// collect scans every row with scan and closes rows.
func collect[T any](ctx context.Context, op string, rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(ctx, op, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(ctx, op, err)
	}
	return out, nil
}

func (q *queries) execCount(ctx context.Context, op, query string, args ...any) (int, error) {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(ctx, op, err)
	}
	n, err := affected(res)
	return n, mapErr(ctx, op, err)
}

// unavailable is the error of a database that cannot answer now.
func unavailable(err error) error {
	return &keyward.Error{Code: keyward.CodeUnavailable, Message: "The service is busy. Please try again.", RetryAfter: time.Second, Err: err}
}

// errNoTx is the error of a method that only the q of InTx may call,
// called on the Store.
func errNoTx(method string) error {
	return keyward.Internal(fmt.Errorf("sqlite: %s outside a transaction", method))
}

// notFound is the error of a missing row.
func notFound(what string) error {
	return keyward.Errorf(keyward.CodeNotFound, "%s not found.", what)
}

// mapErr turns a driver error into what the Store contract promises: the
// codes it knows, the cause kept in Err and never in Message; anything else
// wrapped with the operation's name.
func mapErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var ke *keyward.Error
	if errors.As(err, &ke) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Not found.", Err: err}
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// The driver reports an interrupted statement; the cause is the context.
		return fmt.Errorf("sqlite: %s: %w (%v)", op, cerr, err)
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		code := se.Code()
		switch {
		case code == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "accounts.email_key"):
			return &keyward.Error{Code: keyward.CodeEmailTaken, Message: "An account with this email already exists.", Err: err}
		case code == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY && strings.Contains(se.Error(), "totp_credentials.account_id"):
			return &keyward.Error{Code: keyward.CodeAlreadyEnabled, Message: "Two-factor authentication is already enabled.", Err: err}
		case code == sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			// Every foreign key of the schema points at accounts.
			return &keyward.Error{Code: keyward.CodeNotFound, Message: "Account not found.", Err: err}
		}
		switch code & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_IOERR,
			sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_PROTOCOL:
			return unavailable(fmt.Errorf("sqlite: %s: %w", op, err))
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// toUS and fromUS convert between time.Time and stored unix microseconds.
func toUS(t time.Time) int64 { return t.UnixMicro() }

func fromUS(us int64) time.Time { return time.UnixMicro(us).UTC() }
