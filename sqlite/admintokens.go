package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Admin tokens.

const adminTokenCols = `name, token_hash, scopes, created_us, last_used_us`

func scanAdminToken(sc scanner) (*keyward.AdminToken, error) {
	var (
		t        keyward.AdminToken
		scopes   string
		created  int64
		lastUsed sql.NullInt64
	)
	if err := sc.Scan(&t.Name, &t.TokenHash, &scopes, &created, &lastUsed); err != nil {
		return nil, err
	}
	t.Scopes = splitScopes(scopes)
	t.CreatedAt, t.LastUsedAt = fromUS(created), timeOrNil(lastUsed)
	return &t, nil
}

// splitScopes reads the stored comma-separated list; the service checks
// what the scopes are.
func splitScopes(s string) []keyward.AdminScope {
	var out []keyward.AdminScope
	for _, part := range strings.Split(s, ",") {
		if part != "" {
			out = append(out, keyward.AdminScope(part))
		}
	}
	return out
}

func joinScopes(scopes []keyward.AdminScope) string {
	parts := make([]string, len(scopes))
	for i, sc := range scopes {
		parts[i] = string(sc)
	}
	return strings.Join(parts, ",")
}

func (q *queries) CreateAdminToken(ctx context.Context, t *keyward.AdminToken) error {
	// DO NOTHING on the name: a taken name is an answer, not an error that
	// the caller's transaction must survive.
	n, err := q.execCount(ctx, "create admin token", `INSERT INTO admin_tokens (`+adminTokenCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING`,
		t.Name, blob(t.TokenHash), joinScopes(t.Scopes), toUS(t.CreatedAt), nullTime(t.LastUsedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return keyward.Errorf(keyward.CodeConflict, "An admin token with this name exists.")
	}
	return nil
}

func (q *queries) AdminTokenByHash(ctx context.Context, hash []byte) (*keyward.AdminToken, error) {
	t, err := scanAdminToken(q.row(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Admin token")
	}
	return t, mapErr(ctx, "read admin token", err)
}

func (q *queries) ListAdminTokens(ctx context.Context) ([]keyward.AdminToken, error) {
	rows, err := q.query(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens ORDER BY name`)
	if err != nil {
		return nil, mapErr(ctx, "list admin tokens", err)
	}
	return collect(ctx, "list admin tokens", rows, scanAdminToken)
}

func (q *queries) TouchAdminToken(ctx context.Context, name string, at time.Time) error {
	return q.updateOne(ctx, "Admin token", `UPDATE admin_tokens SET last_used_us = ? WHERE name = ?`, toUS(at), name)
}

func (q *queries) DeleteAdminToken(ctx context.Context, name string) (bool, error) {
	n, err := q.execCount(ctx, "delete admin token", `DELETE FROM admin_tokens WHERE name = ?`, name)
	return n == 1, err
}
