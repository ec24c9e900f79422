package keywardtest

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/sqlite"
)

// Dump reads every table of a store's database past the store: each
// table's rows, each row as its columns' text joined by " | " (bytes in
// hex, NULL as "NULL"). A test looks through it for what must not be left.
type Dump func(t testing.TB) map[string][]string

// NewStoreWithDump returns a fresh, migrated store of engine ("sqlite" or
// "postgres"; the latter skips t when no test server is set) and a Dump of
// the same database. Both close when the test ends.
func NewStoreWithDump(t testing.TB, engine string) (keyward.Store, Dump) {
	t.Helper()
	ctx := context.Background()
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "keyward.db")
		store, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() { store.Close() })
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return store, func(t testing.TB) map[string][]string {
			t.Helper()
			return dumpTables(t, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
				func(query string) (rowSource, error) {
					rows, err := db.QueryContext(ctx, query)
					if err != nil {
						return nil, err
					}
					return sqlRows{rows}, nil
				})
		}
	case "postgres":
		url := pgtest.NewDatabase(t)
		store, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() { store.Close() })
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return store, func(t testing.TB) map[string][]string {
			t.Helper()
			return dumpTables(t, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`,
				func(query string) (rowSource, error) {
					rows, err := conn.Query(ctx, query)
					if err != nil {
						return nil, err
					}
					return pgxRows{rows}, nil
				})
		}
	}
	t.Fatalf("unknown engine %q", engine)
	return nil, nil
}

// rowSource is what both drivers' rows give a dump.
type rowSource interface {
	Next() bool
	Err() error
	Close() error
	values() ([]any, error)
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error           { r.Rows.Close(); return nil }
func (r pgxRows) values() ([]any, error) { return r.Values() }

// sqlRows adapts database/sql's rows, which scan into pointers.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) values() ([]any, error) {
	cols, err := r.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, r.Scan(ptrs...)
}

func dumpTables(t testing.TB, listTables string, query func(string) (rowSource, error)) map[string][]string {
	t.Helper()
	read := func(q string) [][]any {
		t.Helper()
		src, err := query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer src.Close()
		var out [][]any
		for src.Next() {
			v, err := src.values()
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			out = append(out, v)
		}
		if err := src.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	out := map[string][]string{}
	for _, row := range read(listTables) {
		table := fmt.Sprint(row[0])
		out[table] = []string{}
		for _, r := range read(`SELECT * FROM "` + table + `"`) {
			cols := make([]string, len(r))
			for i, v := range r {
				cols[i] = dumpValue(v)
			}
			out[table] = append(out[table], strings.Join(cols, " | "))
		}
	}
	return out
}

func dumpValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return hex.EncodeToString(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
