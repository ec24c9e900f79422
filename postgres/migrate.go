package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// migrationFiles are the schema's versions: NNNN_name.sql, applied in order,
// each once. A released file never changes; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migrationFile struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migrationFile
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %q: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migrationFile{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migrationFile) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("postgres: migration version %d appears twice", out[i].version)
		}
	}
	return out, nil
}

// SchemaDigest returns a digest of the embedded migrations: two builds with
// the same digest create the same schema (tests keep a migrated template
// database under this name).
func SchemaDigest() string {
	files, err := loadMigrations()
	if err != nil {
		return "invalid"
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d\x00%s\x00%d\x00%s", f.version, f.name, len(f.sql), f.sql)
	}
	return hex.EncodeToString(h.Sum(nil))
}

const createMigrationsTable = `
	CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`

// Migrate applies the migrations the database does not have yet, all in one
// transaction. A transaction-scoped advisory lock serialises nodes that
// start at the same time: the second waits, then finds nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := loadMigrations()
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q *queries) error {
		if _, err := q.db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return wrap("migrate: lock", err)
		}
		if _, err := q.db.Exec(ctx, createMigrationsTable); err != nil {
			return wrap("migrate: create schema_migrations", err)
		}
		rows, err := q.db.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return wrap("migrate: read versions", err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return wrap("migrate: read versions", err)
		}
		for _, f := range files {
			if slices.Contains(applied, int32(f.version)) {
				continue
			}
			// No arguments: the simple protocol, so one file may hold
			// many statements.
			if _, err := q.db.Exec(ctx, f.sql); err != nil {
				return wrap(fmt.Sprintf("migrate: %04d_%s", f.version, f.name), err)
			}
			if _, err := q.db.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
				f.version, f.name); err != nil {
				return wrap("migrate: record version", err)
			}
		}
		return nil
	})
}

// MigrationStatus lists every migration this binary knows, applied or
// pending, and after them any version the database has that this binary
// does not know (applied by a newer node), by the name it was applied under.
func (s *Store) MigrationStatus(ctx context.Context) ([]keyward.Migration, error) {
	files, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, wrap("migration status", err)
	}
	var applied []keyward.Migration
	if exists {
		rows, err := s.db.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			return nil, wrap("migration status", err)
		}
		applied, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Migration, error) {
			var m keyward.Migration
			err := row.Scan(&m.Version, &m.Name, &m.AppliedAt)
			return m, err
		})
		if err != nil {
			return nil, wrap("migration status", err)
		}
	}
	out := make([]keyward.Migration, 0, len(files))
	for _, f := range files {
		m := keyward.Migration{Version: f.version, Name: f.name}
		if i := slices.IndexFunc(applied, func(a keyward.Migration) bool { return a.Version == f.version }); i >= 0 {
			m.AppliedAt = applied[i].AppliedAt
			applied = slices.Delete(applied, i, i+1)
		}
		out = append(out, m)
	}
	return append(out, applied...), nil
}
