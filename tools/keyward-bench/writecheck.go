package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the SQLite store uses
)

// A writeProbe tells whether keyward wrote to its store between two
// snapshots: for the invalid-token run, which must write nothing.
type writeProbe interface {
	snapshot(ctx context.Context) (map[string]int64, error)
	close()
}

// writeProbeFor opens a probe on t's store, read-only.
func writeProbeFor(ctx context.Context, t *target) (writeProbe, error) {
	if t.engine == "postgres" {
		conn, err := pgx.Connect(ctx, t.dbURL)
		if err != nil {
			return nil, err
		}
		return &pgProbe{conn}, nil
	}
	path := filepath.Join(t.dataDir, "keyward.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	// One connection, kept: PRAGMA data_version compares commits by other
	// connections since this connection's previous call.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return &sqliteProbe{db}, nil
}

// The tables and columns a check could write to: a session touched, a
// failure counted, an event recorded, an invalidation, a challenge.
const probeSQL = `SELECT
	CAST((SELECT count(*) FROM sessions) AS BIGINT),
	CAST((SELECT coalesce(sum(%s), 0) FROM sessions) AS BIGINT),
	CAST((SELECT count(*) FROM throttles) AS BIGINT),
	CAST((SELECT coalesce(sum(failures), 0) FROM throttles) AS BIGINT),
	CAST((SELECT count(*) FROM audit_events) AS BIGINT),
	CAST((SELECT coalesce(sum(seq), 0) FROM audit_heads) AS BIGINT),
	CAST((SELECT coalesce(max(seq), 0) FROM invalidations) AS BIGINT),
	CAST((SELECT count(*) FROM mfa_challenges) AS BIGINT),
	CAST((SELECT count(*) FROM accounts) AS BIGINT)`

var probeKeys = []string{"sessions", "sessions.last_seen", "throttles", "throttles.failures", "audit_events", "audit_heads.seq", "invalidations.seq", "mfa_challenges", "accounts"}

type sqliteProbe struct{ db *sql.DB }

func (p *sqliteProbe) snapshot(ctx context.Context) (map[string]int64, error) {
	v := make([]int64, len(probeKeys)+1)
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, fmt.Sprintf(probeSQL, "last_seen_us")).Scan(dest[:len(probeKeys)]...); err != nil {
		return nil, fmt.Errorf("write probe: %w", err)
	}
	// data_version changes when any other connection commits a change.
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(dest[len(probeKeys)]); err != nil {
		return nil, fmt.Errorf("write probe: %w", err)
	}
	return probeMap(append(slices.Clone(probeKeys), "data_version"), v), nil
}

func (p *sqliteProbe) close() { p.db.Close() }

type pgProbe struct{ conn *pgx.Conn }

func (p *pgProbe) snapshot(ctx context.Context) (map[string]int64, error) {
	v := make([]int64, len(probeKeys))
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	q := fmt.Sprintf(probeSQL, "(extract(epoch FROM last_seen_at) * 1000000)::bigint")
	if err := p.conn.QueryRow(ctx, q).Scan(dest...); err != nil {
		return nil, fmt.Errorf("write probe: %w", err)
	}
	return probeMap(probeKeys, v), nil
}

func (p *pgProbe) close() { p.conn.Close(context.Background()) }

func probeMap(keys []string, v []int64) map[string]int64 {
	m := make(map[string]int64, len(keys))
	for i, k := range keys {
		m[k] = v[i]
	}
	return m
}

// probeDiff lists what changed between two snapshots ("" when nothing).
func probeDiff(before, after map[string]int64) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if before[k] != after[k] {
			out = append(out, fmt.Sprintf("%s %d→%d", k, before[k], after[k]))
		}
	}
	return strings.Join(out, ", ")
}
