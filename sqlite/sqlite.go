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
// writer and see every committed write. Outside InTx, reads go to the reader
// pool and writes to the writer; inside InTx everything goes through the one
// transaction.
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
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	// Now is the clock, used only to record when a migration was applied.
	Now func() time.Time

	path   string
	writer *sql.DB
	reader *sql.DB
	w      *queries   // writes outside a transaction
	r      *queries   // reads outside a transaction
	ws     *stmtCache // the writer's prepared statements; nil while Open migrates
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
	s.w = &queries{db: writer, store: s, stmts: ws}
	s.r = &queries{db: reader, store: s, stmts: &stmtCache{db: reader, m: map[string]*sql.Stmt{}}}
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
	if s.r != nil {
		s.r.stmts.close()
	}
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
	if err := fn(&queries{db: tx, tx: tx, stmts: s.ws}); err != nil {
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

// unavailable is the error of a database that cannot answer now.
func unavailable(err error) error {
	return &keyward.Error{Code: keyward.CodeUnavailable, Message: "The service is busy. Please try again.", RetryAfter: time.Second, Err: err}
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

// migration is one numbered schema change.
type migration struct {
	Version   int
	Name      string    // from the file name: 0001_init.sql is "init"
	AppliedAt time.Time // zero while pending
}

// Applied reports whether the migration has been applied.
func (m migration) Applied() bool { return !m.AppliedAt.IsZero() }

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migrationFile struct {
	migration
	sql string
}

// migrations returns the embedded migrations in order.
func migrations() ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migrationFile
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: want NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].Version == v {
			return nil, fmt.Errorf("sqlite: two migrations numbered %d", v)
		}
		out = append(out, migrationFile{migration{Version: v, Name: rest}, string(b)})
	}
	slices.SortFunc(out, func(a, b migrationFile) int { return a.Version - b.Version })
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_us INTEGER NOT NULL
) STRICT`

// MigrationStatus lists the embedded migrations with when each was applied,
// followed by any the database has that this binary does not know (for
// `keyward migrate status`).
func (s *Store) MigrationStatus(ctx context.Context) ([]keyward.Migration, error) {
	ms, err := s.migrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]keyward.Migration, len(ms))
	for i, m := range ms {
		out[i] = keyward.Migration{Version: m.Version, Name: m.Name}
		if m.Applied() {
			at := m.AppliedAt
			out[i].AppliedAt = &at
		}
	}
	return out, nil
}

func (s *Store) migrationStatus(ctx context.Context) ([]migration, error) {
	files, err := migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]migration{}
	var exists int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, mapErr(ctx, "migration status", err)
	}
	if exists > 0 {
		rows, err := s.writer.QueryContext(ctx, `SELECT version, name, applied_us FROM schema_migrations ORDER BY version`)
		if err != nil {
			return nil, mapErr(ctx, "migration status", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m migration
			var us int64
			if err := rows.Scan(&m.Version, &m.Name, &us); err != nil {
				return nil, mapErr(ctx, "migration status", err)
			}
			m.AppliedAt = fromUS(us)
			applied[m.Version] = m
		}
		if err := rows.Err(); err != nil {
			return nil, mapErr(ctx, "migration status", err)
		}
	}
	var out []migration
	for _, f := range files {
		m := f.migration
		if a, ok := applied[m.Version]; ok {
			m.AppliedAt = a.AppliedAt
			delete(applied, m.Version)
		}
		out = append(out, m)
	}
	for _, m := range applied {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b migration) int { return a.Version - b.Version })
	return out, nil
}

// MigrationStatusAt reports the migrations of the database file at path
// without applying any, for `keyward migrate status`: the file is opened
// read-only and never created (a missing one has every migration pending).
func MigrationStatusAt(ctx context.Context, path string) ([]keyward.Migration, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		files, err := migrations()
		if err != nil {
			return nil, err
		}
		out := make([]keyward.Migration, len(files))
		for i, f := range files {
			out[i] = keyward.Migration{Version: f.Version, Name: f.Name}
		}
		return out, nil
	}
	db, err := sql.Open("sqlite", dsn(path, append(slices.Clone(readerParams), "mode=ro")))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return (&Store{path: path, writer: db}).MigrationStatus(ctx)
}

// Migrate applies the pending migrations, each in its own transaction, and
// refuses a database migrated by a newer keyward. It is safe to run from
// several processes at once: BEGIN IMMEDIATE makes them take turns.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := migrations()
	if err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", mapErr(ctx, "migrate", err))
	}
	var newest int
	if err := s.writer.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return mapErr(ctx, "migrate", err)
	}
	if known := files[len(files)-1].Version; newest > known {
		return fmt.Errorf("sqlite: the database schema is at version %d, newer than this keyward knows (%d): upgrade keyward", newest, known)
	}
	for _, f := range files {
		err := s.inTx(ctx, func(q *queries) error {
			var n int
			if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, f.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.db.ExecContext(ctx, f.sql); err != nil {
				return err
			}
			_, err := q.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, ?)`,
				f.Version, f.Name, toUS(s.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", f.Version, f.Name, err)
		}
	}
	return nil
}

// toUS and fromUS convert between time.Time and stored unix microseconds.
func toUS(t time.Time) int64 { return t.UnixMicro() }

func fromUS(us int64) time.Time { return time.UnixMicro(us).UTC() }
