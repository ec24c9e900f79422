package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/storetest"
)

// open opens a fresh store in a temporary folder, closed when t ends.
func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB) keyward.Store { return open(t) })
}

func TestOpenRefuses(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:keyward.db?mode=memory"} {
		t.Run(path, func(t *testing.T) {
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got no error, want one", path)
			}
		})
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateAccount(t.Context(), &keyward.Account{ID: "a", Email: "a@example.com", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(name), got)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "we?ird#na%20me.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, "we?ird#na%20me.db") {
		t.Errorf("files in the folder: %q, want the database under its own name", names)
	}
}

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	files, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.migrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(files) {
		t.Fatalf("MigrationStatus: got %d migrations, want %d", len(first), len(files))
	}
	for i, m := range first {
		if m.Version != files[i].Version || m.Name != files[i].Name || !m.Applied() {
			t.Errorf("migration %d: got %+v, want version %d %q applied", i, m, files[i].Version, files[i].Name)
		}
	}
	if first[0].Version != 1 || first[0].Name != "init" {
		t.Errorf("first migration: got %d %q, want 1 \"init\"", first[0].Version, first[0].Name)
	}
	acct := &keyward.Account{ID: "a", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.UnixMicro(1).UTC()}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a migrated database: %v", err)
	}
	s.Close()

	t.Run("reopen", func(t *testing.T) {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		again, err := s.migrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again, first) {
			t.Errorf("status after reopening:\n got  %+v\n want %+v", again, first)
		}
		if _, err := s.AccountByID(ctx, "a"); err != nil {
			t.Errorf("account after reopening: %v", err)
		}
	})

	t.Run("newer schema", func(t *testing.T) {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (9999, 'future', 0)`); err != nil {
			t.Fatal(err)
		}
		status, err := s.migrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last := status[len(status)-1]; last.Version != 9999 || last.Name != "future" {
			t.Errorf("status lists last %+v, want the unknown version 9999", last)
		}
		s.Close()
		s, err = Open(ctx, path)
		if err == nil {
			s.Close()
			t.Fatal("Open of a database migrated by a newer keyward: got no error")
		}
		if !strings.Contains(err.Error(), "newer") {
			t.Errorf("error %q does not say the schema is newer", err)
		}
	})
}

func TestPragmas(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	cases := []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer journal mode", s.writer, "journal_mode", "wal"},
		{"writer synchronous NORMAL", s.writer, "synchronous", "1"},
		{"writer foreign keys", s.writer, "foreign_keys", "1"},
		{"writer busy timeout", s.writer, "busy_timeout", "5000"},
		{"reader journal mode", s.reader, "journal_mode", "wal"},
		{"reader foreign keys", s.reader, "foreign_keys", "1"},
		{"reader query only", s.reader, "query_only", "1"},
		{"reader busy timeout", s.reader, "busy_timeout", "5000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
			}
		})
	}
	if _, err := s.reader.ExecContext(ctx, `DELETE FROM throttles`); err == nil {
		t.Errorf("a write through the reader pool: got no error, want one")
	}
}

func TestAuditEventsAppendOnly(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	e := &keyward.Event{ID: "e1", ChainID: "c", Seq: 1, Time: time.UnixMicro(5).UTC(), Type: "signout", Hash: []byte{1}}
	if err := s.AppendEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET type = 'signin.succeeded'`,
		`UPDATE audit_events SET hash = x'02' WHERE id = 'e1'`,
	} {
		if _, err := s.writer.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s: got no error, want the append-only trigger to refuse", stmt)
		}
	}
}

// TestWriterQueue checks the one writer connection: a writer waiting behind
// a transaction gives up when its context ends, and readers do not wait.
func TestWriterQueue(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	a := &keyward.Account{ID: "a", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.UnixMicro(1).UTC()}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	err := s.InTx(ctx, func(q keyward.Queries) error {
		if err := q.SetPasswordHash(ctx, "a", "uncommitted"); err != nil {
			return err
		}
		got, err := s.AccountByID(ctx, "a")
		if err != nil {
			t.Errorf("read during a write transaction: %v", err)
		} else if got.PasswordHash != "h" {
			t.Errorf("read during a write transaction sees %q, want the committed %q", got.PasswordHash, "h")
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = s.SetPasswordHash(short, "a", "queued")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("write queued behind a transaction: got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("queued write took %v to give up", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByID(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "uncommitted" {
		t.Errorf("after commit: hash %q, want %q", got.PasswordHash, "uncommitted")
	}
}

// TestQueryPlans keeps the audit queries on their indexes: a page of 50
// events must never sort or scan a table of millions. It looks at the plans
// of an empty store, and of one that ANALYZE gave statistics, with which the
// planner weighs other plans (the values are written into the queries: with
// statistics SQLite plans again for the values bound).
func TestQueryPlans(t *testing.T) {
	t.Run("empty", func(t *testing.T) { testQueryPlans(t, open(t)) })
	t.Run("with statistics", func(t *testing.T) {
		s := open(t)
		chains := make([]string, 20)
		for i := range chains {
			chains[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		}
		fillEvents(t, s, chains, 5000) // and ANALYZE
		// A connection reads the statistics when it loads the schema.
		s, err := Open(t.Context(), s.path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		testQueryPlans(t, s)
	})
}

func testQueryPlans(t *testing.T, s *Store) {
	ctx := t.Context()
	now := time.UnixMicro(1_700_000_000_000_000).UTC()
	cursor := &keyward.EventCursor{Time: now, ID: "x"}
	two := []audit.Type{audit.SigninFailed, audit.SigninMFAFailed}
	one := []audit.Type{audit.SigninFailed}
	type plan struct {
		name  string
		query string
		args  []any
	}
	var plans []plan
	for _, c := range []struct {
		name string
		f    keyward.EventFilter
	}{
		{"chain", keyward.EventFilter{ChainID: "c", Limit: 50}},
		{"chain, next page", keyward.EventFilter{ChainID: "c", Before: cursor, Limit: 50}},
		{"chain, one type", keyward.EventFilter{ChainID: "c", Types: one, Limit: 50}},
		{"chain, two types, next page", keyward.EventFilter{ChainID: "c", Types: two, Before: cursor, Limit: 50}},
		{"chain, window", keyward.EventFilter{ChainID: "c", Since: now.Add(-time.Hour), Until: now, Limit: 50}},
		{"all chains", keyward.EventFilter{Limit: 50}},
		{"all chains, next page", keyward.EventFilter{Before: cursor, Limit: 50}},
		{"all chains, one type", keyward.EventFilter{Types: one, Limit: 50}},
		{"all chains, two types", keyward.EventFilter{Types: two, Limit: 50}},
		{"all chains, one type, streamed", keyward.EventFilter{Types: one}},
		{"export of a chain", keyward.EventFilter{ChainID: "c"}},
	} {
		q, args := eventQuery(c.f)
		plans = append(plans, plan{c.name, q, args})
	}
	plans = append(plans,
		plan{"chain in seq order", `SELECT ` + eventCols + ` FROM audit_events WHERE chain_id = ? ORDER BY seq`, []any{"c"}},
		plan{"prune", lastPrunedSQL, []any{"c", 1}},
	)
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+inline(p.query, p.args))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var lines []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, detail)
			}
			for _, l := range lines {
				// SEARCH … USING PRIMARY KEY is a seek in the table itself,
				// clustered by (chain_id, seq): no scan.
				if strings.Contains(l, "TEMP B-TREE") ||
					strings.Contains(l, "audit_events") && !strings.Contains(l, "INDEX") && !strings.Contains(l, "USING PRIMARY KEY") {
					t.Errorf("plan sorts or scans the table:\n  %s", strings.Join(lines, "\n  "))
					break
				}
			}
			// No index leads with type: across every chain a type filter
			// walks the time index (one walk, whatever the types).
			if strings.HasPrefix(p.name, "all chains") && (len(lines) != 1 || !strings.Contains(lines[0], "USING INDEX audit_events_time")) {
				t.Errorf("plan does not walk audit_events_time once:\n  %s", strings.Join(lines, "\n  "))
			}
			if p.name == "prune" && !strings.Contains(strings.Join(lines, " "), "SCALAR SUBQUERY 1 SEARCH audit_events USING PRIMARY KEY (chain_id=?)") {
				t.Errorf("prune does not walk the chain in seq order:\n  %s", strings.Join(lines, "\n  "))
			}
		})
	}
}

// inline writes args into query as SQL literals, for the parameters ? and ?N.
func inline(query string, args []any) string {
	var b strings.Builder
	next := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		n := next
		if j > i+1 {
			n, _ = strconv.Atoi(query[i+1 : j])
			n--
		} else {
			next++
		}
		switch v := args[n].(type) {
		case string:
			b.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
		default:
			fmt.Fprint(&b, v)
		}
		i = j - 1
	}
	return b.String()
}

// TestErrorCodes covers the codes this store gives where the contract (and
// so storetest) only asks for an error.
func TestErrorCodes(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	now := time.UnixMicro(1_700_000_000_000_000).UTC()
	a := &keyward.Account{ID: "a", Email: "a@example.com", PasswordHash: "h", CreatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	cred := &keyward.TOTPCredential{AccountID: "a", SealedSecret: "k", EnabledAt: now, LastStep: 1}
	if err := s.EnableTOTP(ctx, cred); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  func() error
		want keyward.Code
	}{
		{"enable twice", func() error { return s.EnableTOTP(ctx, cred) }, keyward.CodeAlreadyEnabled},
		{"enable for no account", func() error {
			return s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: "nobody", SealedSecret: "k", EnabledAt: now})
		}, keyward.CodeNotFound},
		{"session of no account", func() error {
			return s.CreateSession(ctx, &keyward.Session{ID: "s", AccountID: "nobody", TokenHash: []byte{1}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now})
		}, keyward.CodeNotFound},
		{"backup codes of no account", func() error { return s.ReplaceBackupCodes(ctx, "nobody", []byte{1}, [][]byte{{2}}) }, keyward.CodeNotFound},
		{"event out of sequence", func() error {
			return s.AppendEvent(ctx, &keyward.Event{ID: "e", ChainID: "a", Seq: 2, Time: now, Type: audit.Signout})
		}, keyward.CodeConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if got := keyward.ErrorCode(err); got != c.want {
				t.Errorf("got %v (code %q), want code %q", err, got, c.want)
			}
			if msg := strings.ToLower(keyward.ErrorMessage(err)); strings.Contains(msg, "constraint") || strings.Contains(msg, "sql") {
				t.Errorf("message %q leaks SQL", msg)
			}
		})
	}
}
