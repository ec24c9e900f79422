package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// TestAuditClusteredMigration: a database written before the audit table
// was clustered by chain (migration 7) keeps every event, byte for byte,
// and its chains still verify; the table is then keyed (chain_id, seq),
// keeps its indexes and still refuses updates.
func TestAuditClusteredMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	files, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	// The database as migration 6 left it, with three chains appended to
	// in turn (rowid order: every chain's events interleaved).
	db, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, createMigrationsTable); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Version > 6 {
			break
		}
		if _, err := db.ExecContext(ctx, f.sql); err != nil {
			t.Fatalf("migration %d: %v", f.Version, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, 0)`, f.Version, f.Name); err != nil {
			t.Fatal(err)
		}
	}
	chains := []string{"acct_b", "acct_a", "acct_c"}
	heads := map[string]audit.Head{}
	start := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i := range 300 {
		chain := chains[i%len(chains)]
		h := heads[chain]
		h.ChainID = chain
		e := &keyward.Event{ID: fmt.Sprintf("ev_%05d", i), ChainID: chain, Time: start.Add(time.Duration(i) * time.Second),
			Type: audit.SigninSucceeded, Outcome: audit.Success, IP: "203.0.113.7", UserAgent: "curl/8", SessionID: "sess_x",
			Actor: audit.ActorSelf, Details: map[string]string{"method": "password"}, MAC: fmt.Sprintf("mac-%d", i)}
		if i%7 == 0 {
			e.Details = nil // stored as {}
		}
		audit.Link(h, e)
		h.Seq, h.Hash = e.Seq, e.Hash
		heads[chain] = h
		details := "{}"
		if len(e.Details) > 0 {
			details = `{"method":"password"}`
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.ChainID, e.Seq, toUS(e.Time), string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), details, blob(e.PrevHash), blob(e.Hash), e.MAC); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range heads {
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_heads (chain_id, seq, hash) VALUES (?, ?, ?)`, h.ChainID, h.Seq, h.Hash); err != nil {
			t.Fatal(err)
		}
	}
	dump := func(db *sql.DB) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT quote(id), quote(chain_id), seq, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details,
			quote(prev_hash), quote(hash), mac FROM audit_events ORDER BY chain_id, seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			v := make([]any, 15)
			p := make([]any, len(v))
			for i := range v {
				p[i] = &v[i]
			}
			if err := rows.Scan(p...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(v...))
		}
		return out
	}
	before := dump(db)
	db.Close()

	s, err := Open(ctx, path) // migrates
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := dump(s.writer); !slices.Equal(after, before) {
		t.Fatalf("rows changed by the migration: %d before, %d after", len(before), len(after))
	}
	var table string
	if err := s.writer.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'audit_events'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "WITHOUT ROWID") || !strings.Contains(table, "PRIMARY KEY (chain_id, seq)") {
		t.Errorf("audit_events after the migration:\n%s", table)
	}
	var indexes []string
	rows, err := s.writer.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		indexes = append(indexes, n)
	}
	rows.Close()
	if want := []string{"audit_events_chain_time", "audit_events_chain_type_time", "audit_events_time"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes = %v, want %v", indexes, want)
	}
	if _, err := s.writer.ExecContext(ctx, `UPDATE audit_events SET reason = 'x'`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE after the migration: %v, want the append-only refusal", err)
	}
	stored, err := s.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(chains) {
		t.Fatalf("%d heads, want %d", len(stored), len(chains))
	}
	for _, h := range stored {
		problem, n, err := audit.VerifyChain(h, func(fn func(*keyward.Event) error) error {
			return s.EachChainEvent(ctx, h.ChainID, fn)
		})
		if problem != nil || err != nil || n != 100 {
			t.Errorf("chain %s after the migration: %v, %d events, %v", h.ChainID, problem, n, err)
		}
	}
	// Appends go on where the chains were.
	h := heads["acct_a"]
	e := &keyward.Event{ID: "ev_next", ChainID: "acct_a", Time: start.Add(time.Hour), Type: audit.Signout, Outcome: audit.Success, Actor: audit.ActorSelf}
	if err := s.InTx(ctx, func(q keyward.Queries) error {
		head, err := q.LockAuditHead(ctx, "acct_a")
		if err != nil {
			return err
		}
		if head.Seq != h.Seq {
			return fmt.Errorf("head at %d, want %d", head.Seq, h.Seq)
		}
		audit.Link(head, e)
		return q.AppendEvent(ctx, e)
	}); err != nil {
		t.Fatalf("append after the migration: %v", err)
	}
}
