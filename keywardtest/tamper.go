package keywardtest

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/sqlite"
)

// SQL runs one statement straight on a store's database, past the store:
// what an attacker with access to the database can do. Write placeholders
// as $1, $2 on both engines.
type SQL func(t testing.TB, query string, args ...any)

// NewStoreWithSQL returns a fresh, migrated store of engine ("sqlite" or
// "postgres"; the latter skips t when no test server is set) and a plain
// connection to the same database. Both close when the test ends.
func NewStoreWithSQL(t testing.TB, engine string) (keyward.Store, SQL) {
	t.Helper()
	ctx := context.Background()
	var (
		store  keyward.Store
		target string
		err    error
	)
	switch engine {
	case "sqlite":
		target = filepath.Join(t.TempDir(), "keyward.db")
		store, err = sqlite.Open(ctx, target)
	case "postgres":
		target = pgtest.NewDatabase(t)
		store, err = postgres.Open(ctx, target)
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store, OpenSQL(t, engine, target)
}

// OpenSQL connects to a database of engine: target is the SQLite file's
// path, or the PostgreSQL URL. The connection closes when the test ends.
func OpenSQL(t testing.TB, engine, target string) SQL {
	t.Helper()
	ctx := context.Background()
	switch engine {
	case "sqlite":
		db, err := sql.Open("sqlite", "file:"+target+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return func(t testing.TB, query string, args ...any) {
			t.Helper()
			// SQLite reads $1 as a parameter named "$1": ?1 is positional.
			if _, err := db.ExecContext(ctx, dollar.ReplaceAllString(query, "?$1"), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return func(t testing.TB, query string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(ctx, query, args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	}
	t.Fatalf("unknown engine %q", engine)
	return nil
}

// Unprotect does what an attacker with the database owner's rights does
// first: turn off the audit log's append-only trigger.
func Unprotect(t testing.TB, engine string, run SQL) {
	t.Helper()
	if engine == "sqlite" {
		run(t, `DROP TRIGGER IF EXISTS audit_events_append_only`)
		return
	}
	run(t, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`)
}

var dollar = regexp.MustCompile(`\$([0-9]+)`)
