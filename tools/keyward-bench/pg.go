package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresVersion returns the server's version, which also checks that the
// URL works before anything is started.
func postgresVersion(ctx context.Context, adminURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", err
	}
	return "PostgreSQL " + v, nil
}

// createDatabase makes a fresh database named kw_bench_<random> on the
// server of adminURL, returns its URL, and leaves dropping it to clean.
func createDatabase(ctx context.Context, adminURL string, clean *cleanups) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	name := "kw_bench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", redactURL(adminURL), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	drop := func() error {
		// Not ctx: dropping must happen after a Ctrl-C too. A server that is
		// restarting refuses connections for a while: try for a minute.
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for {
			err := dropDatabase(dctx, adminURL, name)
			if err == nil {
				return nil
			}
			select {
			case <-dctx.Done():
				return fmt.Errorf("dropping database %s (drop it by hand): %w", name, err)
			case <-time.After(2 * time.Second):
			}
		}
	}
	clean.add("database", drop)
	return withDatabase(adminURL, name)
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(actx, adminURL)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(actx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// withDatabase returns the connection string adminURL with its database
// replaced by name: a postgres:// URL's path, or a key=value string's dbname.
func withDatabase(adminURL, name string) (string, error) {
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", fmt.Errorf("--database-url is not a valid URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	var kept []string
	for _, kv := range strings.Fields(adminURL) {
		if !strings.HasPrefix(kv, "dbname=") {
			kept = append(kept, kv)
		}
	}
	return strings.Join(append(kept, "dbname="+name), " "), nil
}

// pgxSize returns the size of the database at dbURL in bytes.
func pgxSize(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	return n, err
}
