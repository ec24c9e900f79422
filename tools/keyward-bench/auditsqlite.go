package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// storeMeta describes a cached audit-at-scale SQLite store. It is written
// next to the database once the build has finished, so a half-built store
// is never reused.
type storeMeta struct {
	Generator    int       `json:"generator"`
	Schema       string    `json:"schema"` // sqliteSchemaHash of the database
	Events       int       `json:"events"`
	Accounts     int       `json:"accounts"`
	Big          string    `json:"big"`
	BigEvents    int64     `json:"big_events"`
	Append       []string  `json:"append"` // ordinary accounts the append measurement writes to
	Built        time.Time `json:"built"`
	BuildSeconds float64   `json:"build_seconds"`
	Method       string    `json:"method"`
}

// sqliteAuditStore returns the path of an audit-at-scale SQLite store of the
// configured size, building it unless a cached one made by this generator
// on the current schema exists.
func (b *bench) sqliteAuditStore(ctx context.Context, cfg genConfig) (string, storeMeta, bool, error) {
	path := filepath.Join(b.opts.cacheDir, fmt.Sprintf("keyward-bench-%d.db", cfg.Events))
	metaPath := path + ".json"
	schema, err := freshSQLiteSchema(ctx, b.tmp)
	if err != nil {
		return "", storeMeta{}, false, err
	}
	var meta storeMeta
	if raw, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(raw, &meta) == nil &&
		meta.Generator == genVersion && meta.Schema == schema && meta.Events == cfg.Events && meta.Accounts == cfg.Accounts &&
		meta.Method == b.opts.auditBuild {
		if have, err := sqliteSchemaHash(ctx, path); err == nil && have == schema {
			return path, meta, false, nil
		}
	}
	// Stale, half-built or made by another generator: start again.
	removeSQLite(path)
	b.logf("sqlite: building the audit store of %s events in %s (cached for later runs)", fmtInt(int64(cfg.Events)), path)
	start := time.Now()
	meta, err = buildSQLiteAudit(ctx, path, cfg, b.opts.auditBuild, b.logf)
	if err != nil {
		removeSQLite(path)
		return "", storeMeta{}, false, err
	}
	meta.Schema = schema
	meta.Built = time.Now().UTC().Truncate(time.Second)
	meta.BuildSeconds = time.Since(start).Seconds()
	raw, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(metaPath, raw, 0o600); err != nil {
		return "", storeMeta{}, false, err
	}
	return path, meta, true, nil
}

func removeSQLite(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".json"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "keyward-bench:", err)
		}
	}
}

// freshSQLiteSchema is the schema hash of a store the current sqlite
// package makes: a cached store with another one is rebuilt.
func freshSQLiteSchema(ctx context.Context, tmp string) (string, error) {
	dir, err := os.MkdirTemp(tmp, "schema-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "schema.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return "", err
	}
	st.Close()
	return sqliteSchemaHash(ctx, path)
}

// sqliteSchemaHash hashes the schema of the database at path: every table,
// index and trigger definition and the applied migrations.
func sqliteSchemaHash(ctx context.Context, path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	h := sha256.New()
	for _, q := range []string{
		`SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`,
		`SELECT version || ' ' || name FROM schema_migrations ORDER BY version`,
	} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return "", err
			}
			h.Write([]byte(s + "\n"))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// benchPasswordHash is the stored hash of every generated account: a valid
// argon2id PHC string of the default parameters (no one signs in to them).
const benchPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaGJlbmNoYmVuY2g$2E2Db3cLcG1ZnqmaPv3fCuk2p7W5e4lkCKDqgIqvKpA"

// createAccounts makes the generator's accounts through the store.
func createAccounts(ctx context.Context, st keyward.Store, g *generator) error {
	const batch = 2000
	for from := 0; from < len(g.accounts); from += batch {
		to := min(from+batch, len(g.accounts))
		err := st.InTx(ctx, func(q keyward.Queries) error {
			for i := from; i < to; i++ {
				email := fmt.Sprintf("user%05d@example.com", i)
				if i == 0 {
					email = "big@example.com"
				}
				if err := q.CreateAccount(ctx, &keyward.Account{ID: g.accounts[i], Email: email, PasswordHash: benchPasswordHash, CreatedAt: g.created[i]}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("creating accounts: %w", err)
		}
	}
	return nil
}

// buildSQLiteAudit makes the store at path: the schema and the accounts
// through the sqlite package, then the events, either through the Store
// (method "store": AppendEvent in transactions of 5,000) or written
// directly (method "bulk"): the audit_events indexes are dropped, the rows
// the store would write are inserted in large transactions, the heads set,
// and the indexes made again from their own definitions.
func buildSQLiteAudit(ctx context.Context, path string, cfg genConfig, method string, logf func(string, ...any)) (storeMeta, error) {
	g := newGenerator(cfg)
	meta := g.meta(method)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return meta, err
	}
	if err := createAccounts(ctx, st, g); err != nil {
		st.Close()
		return meta, err
	}
	if method == "store" {
		err = appendThroughStore(ctx, st, g, logf)
		st.Close()
		if err != nil {
			return meta, err
		}
		meta.BigEvents = g.heads[0].Seq
		return meta, nil
	}
	st.Close()

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return meta, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	type index struct{ name, sql string }
	var indexes []index
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return meta, err
	}
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return meta, err
		}
		indexes = append(indexes, ix)
	}
	rows.Close()
	for _, ix := range indexes {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+quoteIdent(ix.name)); err != nil {
			return meta, err
		}
	}

	const batch = 50_000
	start := time.Now()
	tick := progress(g, logf, "sqlite: ")
	for !g.done() {
		if err := ctx.Err(); err != nil {
			return meta, err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return meta, err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (id, chain_id, seq, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			tx.Rollback()
			return meta, err
		}
		for i := 0; i < batch && !g.done(); i++ {
			e := g.next()
			details, err := detailsJSON(e.Details)
			if err != nil {
				tx.Rollback()
				return meta, err
			}
			// Exactly the values sqlite's AppendEvent binds.
			_, err = stmt.ExecContext(ctx, e.ID, e.ChainID, e.Seq, e.Time.UnixMicro(), string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
				e.SessionID, string(e.Actor), details, nullBlob(e.PrevHash), nullBlob(e.Hash))
			if err != nil {
				tx.Rollback()
				return meta, err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return meta, err
		}
		tick()
	}
	logf("sqlite: %s events inserted in %v; setting heads and making %d indexes", fmtInt(int64(g.n)), time.Since(start).Round(time.Second), len(indexes))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return meta, err
	}
	for _, h := range g.heads {
		if h.Seq == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (chain_id, seq, hash) VALUES (?, ?, ?)`, h.ChainID, h.Seq, nullBlob(h.Hash)); err != nil {
			tx.Rollback()
			return meta, err
		}
	}
	if err := tx.Commit(); err != nil {
		return meta, err
	}
	for _, ix := range indexes {
		t0 := time.Now()
		if _, err := db.ExecContext(ctx, ix.sql); err != nil {
			return meta, fmt.Errorf("making index %s again: %w", ix.name, err)
		}
		logf("sqlite: index %s made in %v", ix.name, time.Since(t0).Round(time.Second))
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return meta, err
	}
	meta.BigEvents = g.heads[0].Seq
	return meta, nil
}

// appendThroughStore appends every event with the Store's own AppendEvent,
// 5,000 to a transaction.
func appendThroughStore(ctx context.Context, st keyward.Store, g *generator, logf func(string, ...any)) error {
	tick := progress(g, logf, "")
	for !g.done() {
		err := st.InTx(ctx, func(q keyward.Queries) error {
			for i := 0; i < 5000 && !g.done(); i++ {
				if err := q.AppendEvent(ctx, g.next()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		tick()
	}
	return nil
}

// detailsJSON is how both stores keep details: {} when empty, else the
// JSON object.
func detailsJSON(d map[string]string) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	return string(b), err
}

// nullBlob stores an empty byte slice as NULL, as the SQLite store does.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// restoreSQLiteHeads undoes the append measurement on the cached store:
// the events past each saved head go, and the heads are set back.
func restoreSQLiteHeads(ctx context.Context, path string, heads map[string]headState) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for chain, h := range heads {
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE chain_id = ? AND seq > ?`, chain, h.seq); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_heads SET seq = ?, hash = ? WHERE chain_id = ?`, h.seq, nullBlob(h.hash), chain); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

type headState struct {
	seq  int64
	hash []byte
}
