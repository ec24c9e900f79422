package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/postgres"
)

// buildPostgresAudit fills the fresh database at dbURL: the schema and the
// accounts through the postgres package, then the events with COPY (the
// audit_events indexes and constraints dropped first and made again from
// their own definitions afterwards), the heads, and ANALYZE, which any
// PostgreSQL of that size would have run by itself (autovacuum).
func buildPostgresAudit(ctx context.Context, dbURL string, cfg genConfig, logf func(string, ...any)) (storeMeta, error) {
	g := newGenerator(cfg)
	meta := g.meta("copy")
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return meta, err
	}
	err = createAccounts(ctx, st, g)
	st.Close()
	if err != nil {
		return meta, err
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return meta, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
		return meta, err
	}
	type def struct{ name, sql string }
	collect := func(q string) ([]def, error) {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (def, error) {
			var d def
			return d, r.Scan(&d.name, &d.sql)
		})
	}
	constraints, err := collect(`SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'audit_events'::regclass AND contype IN ('p', 'u') ORDER BY conname`)
	if err != nil {
		return meta, err
	}
	indexes, err := collect(`SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = 'audit_events'
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'audit_events'::regclass AND c.conname = i.indexname)
		ORDER BY i.indexname`)
	if err != nil {
		return meta, err
	}
	for _, ix := range indexes {
		if _, err := conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix.name}.Sanitize()); err != nil {
			return meta, err
		}
	}
	for _, c := range constraints {
		if _, err := conn.Exec(ctx, `ALTER TABLE audit_events DROP CONSTRAINT `+pgx.Identifier{c.name}.Sanitize()); err != nil {
			return meta, err
		}
	}

	start := time.Now()
	tick := progress(g, logf, "postgres: ")
	cols := []string{"chain_id", "seq", "id", "time", "type", "outcome", "reason", "ip", "user_agent", "session_id", "actor", "details", "prev_hash", "hash"}
	var copyErr error
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if g.done() {
			return nil, nil
		}
		tick()
		e := g.next()
		details, err := detailsJSON(e.Details)
		if err != nil {
			copyErr = err
			return nil, err
		}
		// The values postgres's AppendEvent binds.
		return []any{e.ChainID, e.Seq, e.ID, e.Time, string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), []byte(details), e.PrevHash, e.Hash}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, src); err != nil {
		return meta, fmt.Errorf("copying events: %w", err)
	}
	if copyErr != nil {
		return meta, copyErr
	}
	logf("postgres: %s events copied in %v; setting heads, constraints and %d indexes", fmtInt(int64(g.n)), time.Since(start).Round(time.Second), len(indexes))
	var heads [][]any
	for _, h := range g.heads {
		if h.Seq > 0 {
			heads = append(heads, []any{h.ChainID, h.Seq, h.Hash})
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_heads"}, []string{"chain_id", "seq", "hash"}, pgx.CopyFromRows(heads)); err != nil {
		return meta, fmt.Errorf("copying heads: %w", err)
	}
	for _, c := range constraints {
		t0 := time.Now()
		if _, err := conn.Exec(ctx, `ALTER TABLE audit_events ADD CONSTRAINT `+pgx.Identifier{c.name}.Sanitize()+` `+c.sql); err != nil {
			return meta, fmt.Errorf("making constraint %s again: %w", c.name, err)
		}
		logf("postgres: constraint %s made in %v", c.name, time.Since(t0).Round(time.Second))
	}
	for _, ix := range indexes {
		t0 := time.Now()
		if _, err := conn.Exec(ctx, ix.sql); err != nil {
			return meta, fmt.Errorf("making index %s again: %w", ix.name, err)
		}
		logf("postgres: index %s made in %v", ix.name, time.Since(t0).Round(time.Second))
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		return meta, err
	}
	meta.BigEvents = g.heads[0].Seq
	return meta, nil
}
