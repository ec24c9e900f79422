// Package pgtest gives tests a PostgreSQL keyward store of their own.
//
// The server comes from KEYWARD_TEST_DATABASE_URL. When it is unset the test
// is skipped with a message, unless KEYWARD_TEST_REQUIRE (comma-separated)
// names "postgres": then it fails, so that CI never skips silently.
//
// Every New creates a fresh database (kw_test_<random>) on that server, a
// copy of a migrated template, and drops it (WITH (FORCE)) when the test
// ends: tests are isolated from each other (rows, advisory locks, NOTIFY
// channels), may run in parallel, even from several test processes, and
// leave nothing behind but the template (kw_tpl_<schema digest>).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/postgres"
)

// URLEnv and RequireEnv are the environment variables pgtest reads.
const (
	URLEnv     = "KEYWARD_TEST_DATABASE_URL"
	RequireEnv = "KEYWARD_TEST_REQUIRE"
)

// ServerURL returns the test server's URL, or skips (or fails) t when there
// is none.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(URLEnv)
	if u != "" {
		return u
	}
	for _, part := range strings.Split(os.Getenv(RequireEnv), ",") {
		if strings.TrimSpace(part) == "postgres" {
			t.Fatalf("%s is unset but %s asks for postgres", URLEnv, RequireEnv)
		}
	}
	t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)", URLEnv)
	return ""
}

// NewDatabase creates an empty database on the test server, drops it when
// the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, ServerURL(t), "")
}

// newDatabase creates a database, a copy of template when it is not "".
func newDatabase(t testing.TB, server, template string) string {
	t.Helper()
	var rnd [8]byte
	rand.Read(rnd[:])
	name := "kw_test_" + hex.EncodeToString(rnd[:])
	dbURL, err := withDatabase(server, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	create := "CREATE DATABASE " + name
	if template == "" {
		admin(t, server, create)
	} else {
		// Test processes of another schema (another branch on the same
		// server) drop this template when they make theirs: make it again.
		for attempt := 1; ; attempt++ {
			err := adminErr(server, create+" TEMPLATE "+template)
			var pe *pgconn.PgError
			if err == nil {
				break
			}
			if !errors.As(err, &pe) || pe.Code != "3D000" || attempt == 5 {
				t.Fatalf("pgtest: %s TEMPLATE %s: %v", create, template, err)
			}
			template = Template(t)
		}
	}
	t.Cleanup(func() { admin(t, server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return dbURL
}

// New opens a store on a new database of its own, and closes it when the
// test ends. The database is a copy of a migrated template (see Template),
// so New costs one CREATE DATABASE, not a migration.
func New(t testing.TB) *postgres.Store {
	t.Helper()
	server := ServerURL(t)
	dbURL := newDatabase(t, server, Template(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// templateLockKey serialises the making of templates between test
// processes (go test runs packages in parallel).
const templateLockKey int64 = 0x6b65797761726474

// Template returns the name of a database that holds the current schema
// and nothing else, kw_tpl_<digest of the migrations>, making it first if
// needed. It is kept on the test server between runs (no connections
// allowed, so that it can always be copied); a template of an older schema
// is dropped when a new one is made.
func Template(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	name := "kw_tpl_" + postgres.SchemaDigest()[:20]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", URLEnv, err)
	}
	defer c.Close(ctx)
	var exists bool
	check := func() {
		t.Helper()
		err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
		if err != nil {
			t.Fatalf("pgtest: looking for the template: %v", err)
		}
	}
	if check(); exists {
		return name
	}
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		t.Fatalf("pgtest: template lock: %v", err)
	}
	defer c.Exec(ctx, `SELECT pg_advisory_unlock($1)`, templateLockKey)
	if check(); exists { // made by another process meanwhile
		return name
	}
	// Build under a temporary name and rename when complete, so that no
	// one ever copies a half-migrated template.
	tmp := name + "_new"
	exec := func(sql string) {
		t.Helper()
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("pgtest: %s: %v", sql, err)
		}
	}
	exec("DROP DATABASE IF EXISTS " + tmp + " WITH (FORCE)")
	exec("CREATE DATABASE " + tmp)
	tmpURL, err := withDatabase(server, tmp)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s, err := postgres.Open(ctx, tmpURL)
	if err != nil {
		t.Fatalf("pgtest: migrating the template: %v", err)
	}
	s.Close()
	// Wait until the pool's server processes are gone: a database with
	// connections can be neither renamed nor copied.
	if _, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = $1`, tmp); err != nil {
		t.Fatalf("pgtest: closing the template's connections: %v", err)
	}
	exec("ALTER DATABASE " + tmp + " RENAME TO " + name)
	exec("ALTER DATABASE " + name + " WITH ALLOW_CONNECTIONS false")
	// Templates of other schemas are stale now; best effort.
	rows, err := c.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'kw\_tpl\_%' AND datname <> $1`, name)
	if err == nil {
		old, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, o := range old {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{o}.Sanitize()+" WITH (FORCE)")
		}
	}
	return name
}

// admin runs one statement on the server's own database. It does not use
// t.Context, which has ended by the time cleanups run.
func admin(t testing.TB, server, sql string) {
	t.Helper()
	if err := adminErr(server, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

func adminErr(server, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", URLEnv, err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// withDatabase returns the server's connection string with another
// database name, for both URL and key=value forms.
func withDatabase(server, name string) (string, error) {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return server + " dbname=" + name, nil
}
