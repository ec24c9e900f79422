package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// migration is one numbered schema change.
type migration struct {
	Version   int
	Name      string    // from the file name: 0001_init.sql is "init"
	AppliedAt time.Time // zero while pending
}

// Applied reports whether the migration has been applied.
func (m migration) Applied() bool { return !m.AppliedAt.IsZero() }

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migrationFile struct {
	migration
	sql string
}

// migrations returns the embedded migrations in order.
func migrations() ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migrationFile
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: want NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].Version == v {
			return nil, fmt.Errorf("sqlite: two migrations numbered %d", v)
		}
		out = append(out, migrationFile{migration{Version: v, Name: rest}, string(b)})
	}
	slices.SortFunc(out, func(a, b migrationFile) int { return a.Version - b.Version })
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_us INTEGER NOT NULL
) STRICT`

// MigrationStatus lists the embedded migrations with when each was applied,
// followed by any the database has that this binary does not know (for
// `keyward migrate status`).
func (s *Store) MigrationStatus(ctx context.Context) ([]keyward.Migration, error) {
	ms, err := s.migrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]keyward.Migration, len(ms))
	for i, m := range ms {
		out[i] = keyward.Migration{Version: m.Version, Name: m.Name}
		if m.Applied() {
			at := m.AppliedAt
			out[i].AppliedAt = &at
		}
	}
	return out, nil
}

func (s *Store) migrationStatus(ctx context.Context) ([]migration, error) {
	files, err := migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]migration{}
	var exists int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, mapErr(ctx, "migration status", err)
	}
	if exists > 0 {
		rows, err := s.writer.QueryContext(ctx, `SELECT version, name, applied_us FROM schema_migrations ORDER BY version`)
		if err != nil {
			return nil, mapErr(ctx, "migration status", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m migration
			var us int64
			if err := rows.Scan(&m.Version, &m.Name, &us); err != nil {
				return nil, mapErr(ctx, "migration status", err)
			}
			m.AppliedAt = fromUS(us)
			applied[m.Version] = m
		}
		if err := rows.Err(); err != nil {
			return nil, mapErr(ctx, "migration status", err)
		}
	}
	var out []migration
	for _, f := range files {
		m := f.migration
		if a, ok := applied[m.Version]; ok {
			m.AppliedAt = a.AppliedAt
			delete(applied, m.Version)
		}
		out = append(out, m)
	}
	for _, m := range applied {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b migration) int { return a.Version - b.Version })
	return out, nil
}

// MigrationStatusAt reports the migrations of the database file at path
// without applying any, for `keyward migrate status`: the file is opened
// read-only and never created (a missing one has every migration pending).
func MigrationStatusAt(ctx context.Context, path string) ([]keyward.Migration, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		files, err := migrations()
		if err != nil {
			return nil, err
		}
		out := make([]keyward.Migration, len(files))
		for i, f := range files {
			out[i] = keyward.Migration{Version: f.Version, Name: f.Name}
		}
		return out, nil
	}
	db, err := sql.Open("sqlite", dsn(path, append(slices.Clone(readerParams), "mode=ro")))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return (&Store{path: path, writer: db}).MigrationStatus(ctx)
}

// Migrate applies the pending migrations, each in its own transaction, and
// refuses a database migrated by a newer keyward. It is safe to run from
// several processes at once: BEGIN IMMEDIATE makes them take turns.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := migrations()
	if err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", mapErr(ctx, "migrate", err))
	}
	var newest int
	if err := s.writer.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return mapErr(ctx, "migrate", err)
	}
	if known := files[len(files)-1].Version; newest > known {
		return fmt.Errorf("sqlite: the database schema is at version %d, newer than this keyward knows (%d): upgrade keyward", newest, known)
	}
	for _, f := range files {
		err := s.inTx(ctx, func(q *queries) error {
			var n int
			if err := q.tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, f.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.tx.ExecContext(ctx, f.sql); err != nil {
				return err
			}
			_, err := q.tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, ?)`,
				f.Version, f.Name, toUS(s.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", f.Version, f.Name, err)
		}
	}
	return nil
}
