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
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "keyward.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return s, func(t testing.TB, query string, args ...any) {
			t.Helper()
			// SQLite reads $1 as a parameter named "$1": ?1 is positional.
			if _, err := db.ExecContext(ctx, dollar.ReplaceAllString(query, "?$1"), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	case "postgres":
		url := pgtest.NewDatabase(t)
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return s, func(t testing.TB, query string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(ctx, query, args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	}
	t.Fatalf("unknown engine %q", engine)
	return nil, nil
}

var dollar = regexp.MustCompile(`\$([0-9]+)`)
