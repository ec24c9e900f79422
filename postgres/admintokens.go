package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Admin tokens.

const adminTokenColumns = `name, token_hash, scopes, created_at, last_used_at`

func scanAdminToken(row pgx.Row, t *keyward.AdminToken) error {
	var scopes string
	if err := row.Scan(&t.Name, &t.TokenHash, &scopes, &t.CreatedAt, &t.LastUsedAt); err != nil {
		return err
	}
	t.Scopes = splitScopes(scopes)
	return nil
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
	// ON CONFLICT keeps the caller's transaction usable when the name is
	// taken; a race for one name waits for the other and then sees its row.
	tag, err := q.db.Exec(ctx, `INSERT INTO admin_tokens (`+adminTokenColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO NOTHING`, t.Name, t.TokenHash, joinScopes(t.Scopes), t.CreatedAt, t.LastUsedAt)
	if err != nil {
		return wrap("create admin token", err)
	}
	if tag.RowsAffected() == 0 {
		return keyward.Errorf(keyward.CodeConflict, "An admin token with this name exists.")
	}
	return nil
}

func (q *queries) AdminTokenByHash(ctx context.Context, hash []byte) (*keyward.AdminToken, error) {
	var t keyward.AdminToken
	err := scanAdminToken(q.db.QueryRow(ctx, `SELECT `+adminTokenColumns+` FROM admin_tokens WHERE token_hash = $1`, hash), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Admin token")
	}
	if err != nil {
		return nil, wrap("admin token", err)
	}
	return &t, nil
}

func (q *queries) ListAdminTokens(ctx context.Context) ([]keyward.AdminToken, error) {
	rows, err := q.db.Query(ctx, `SELECT `+adminTokenColumns+` FROM admin_tokens ORDER BY name`)
	if err != nil {
		return nil, wrap("list admin tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.AdminToken, error) {
		var t keyward.AdminToken
		err := scanAdminToken(row, &t)
		return t, err
	})
	return out, wrap("list admin tokens", err)
}

func (q *queries) TouchAdminToken(ctx context.Context, name string, at time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE admin_tokens SET last_used_at = $2 WHERE name = $1`, name, at)
	if err != nil {
		return wrap("touch admin token", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Admin token")
	}
	return nil
}

func (q *queries) DeleteAdminToken(ctx context.Context, name string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM admin_tokens WHERE name = $1`, name)
	if err != nil {
		return false, wrap("delete admin token", err)
	}
	return tag.RowsAffected() == 1, nil
}
