package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- The OpenID Connect provider's records.

// list makes a text[] of s: never NULL.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// foreignMissing turns a foreign key violation into CodeNotFound naming
// what is missing.
func foreignMissing(err error, what string) error {
	if keyward.IsCode(accountMissing(err), keyward.CodeNotFound) {
		return &keyward.Error{Code: keyward.CodeNotFound, Message: what + " not found.", Err: err}
	}
	return err
}

const oidcClientColumns = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, created_at`

func scanOIDCClient(row pgx.Row, c *keyward.OIDCClient) error {
	return row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.FirstParty, &c.CreatedAt)
}

func (q *queries) CreateOIDCClient(ctx context.Context, c *keyward.OIDCClient) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO oidc_clients (`+oidcClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Name, c.SecretHash, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), c.FirstParty, c.CreatedAt)
	if err != nil {
		return wrap("create oidc client", err)
	}
	if tag.RowsAffected() == 0 {
		return keyward.Errorf(keyward.CodeConflict, "A client with that id exists already.")
	}
	return nil
}

func (q *queries) OIDCClient(ctx context.Context, id string) (*keyward.OIDCClient, error) {
	var c keyward.OIDCClient
	err := scanOIDCClient(q.db.QueryRow(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients WHERE id = $1`, id), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Client")
	}
	if err != nil {
		return nil, wrap("read oidc client", err)
	}
	return &c, nil
}

func (q *queries) ListOIDCClients(ctx context.Context) ([]keyward.OIDCClient, error) {
	rows, err := q.db.Query(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list oidc clients", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.OIDCClient, error) {
		var c keyward.OIDCClient
		return c, scanOIDCClient(row, &c)
	})
	return out, wrap("list oidc clients", err)
}

func (q *queries) DeleteOIDCClient(ctx context.Context, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM oidc_clients WHERE id = $1`, id)
	if err != nil {
		return false, wrap("delete oidc client", err)
	}
	return tag.RowsAffected() == 1, nil
}

const oidcRequestColumns = `id, client_id, params, created_at, expires_at, coalesce(account_id, ''), coalesce(session_id, ''),
	auth_time, amr, aal, code_hash, code_issued_at, code_used_at`

func scanOIDCRequest(row pgx.Row, r *keyward.OIDCAuthRequest) error {
	var (
		params   string
		authTime *time.Time
		amr      int16
	)
	if err := row.Scan(&r.ID, &r.ClientID, &params, &r.CreatedAt, &r.ExpiresAt, &r.AccountID, &r.SessionID,
		&authTime, &amr, &r.AAL, &r.CodeHash, &r.CodeIssuedAt, &r.CodeUsedAt); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return fmt.Errorf("stored request parameters: %w", err)
	}
	if authTime != nil {
		r.AuthTime = *authTime
	}
	r.AMR = keyward.AMR(amr)
	return nil
}

func (q *queries) CreateOIDCAuthRequest(ctx context.Context, r *keyward.OIDCAuthRequest) error {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return fmt.Errorf("postgres: encoding request parameters: %w", err)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO oidc_auth_requests (id, client_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.ClientID, string(params), r.CreatedAt, r.ExpiresAt)
	return wrap("create oidc auth request", foreignMissing(err, "Client"))
}

func (q *queries) OIDCAuthRequest(ctx context.Context, id string) (*keyward.OIDCAuthRequest, error) {
	var r keyward.OIDCAuthRequest
	err := scanOIDCRequest(q.db.QueryRow(ctx, `SELECT `+oidcRequestColumns+` FROM oidc_auth_requests WHERE id = $1`, id), &r)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Authorization request")
	}
	if err != nil {
		return nil, wrap("read oidc auth request", err)
	}
	return &r, nil
}

func (q *queries) AuthorizeOIDCRequest(ctx context.Context, r *keyward.OIDCAuthRequest) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE oidc_auth_requests
		SET account_id = $2, session_id = $3, auth_time = $4, amr = $5, aal = $6
		WHERE id = $1 AND code_hash IS NULL`,
		r.ID, r.AccountID, r.SessionID, r.AuthTime, int16(r.AMR), r.AAL)
	if err != nil {
		return false, wrap("authorize oidc request", accountMissing(err))
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) SetOIDCCode(ctx context.Context, id string, codeHash []byte, at time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = $2, code_issued_at = $3
		WHERE id = $1 AND account_id IS NOT NULL AND code_hash IS NULL`, id, codeHash, at)
	if err != nil {
		return false, wrap("set oidc code", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) UseOIDCCode(ctx context.Context, codeHash []byte, at time.Time) (*keyward.OIDCAuthRequest, bool, error) {
	var first bool
	var r keyward.OIDCAuthRequest
	err := q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `UPDATE oidc_auth_requests SET code_used_at = $2
			WHERE code_hash = $1 AND code_used_at IS NULL`, codeHash, at)
		if err != nil {
			return wrap("use oidc code", err)
		}
		first = tag.RowsAffected() == 1
		err = scanOIDCRequest(q.db.QueryRow(ctx, `SELECT `+oidcRequestColumns+` FROM oidc_auth_requests WHERE code_hash = $1`, codeHash), &r)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Code")
		}
		return wrap("use oidc code", err)
	})
	if err != nil {
		return nil, false, err
	}
	return &r, first, nil
}

func (q *queries) PutOIDCConsent(ctx context.Context, accountID, clientID string, scopes []string, at time.Time) error {
	_, err := q.db.Exec(ctx, `INSERT INTO oidc_consents (account_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		accountID, clientID, list(scopes), at)
	return wrap("put oidc consent", accountMissing(err))
}

func (q *queries) OIDCConsent(ctx context.Context, accountID, clientID string) ([]string, error) {
	var scopes []string
	err := q.db.QueryRow(ctx, `SELECT scopes FROM oidc_consents WHERE account_id = $1 AND client_id = $2`, accountID, clientID).Scan(&scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return scopes, wrap("read oidc consent", err)
}

const oidcGrantColumns = `id, account_id, session_id, client_id, scopes, auth_time, amr, aal, created_at`

func scanOIDCGrant(row pgx.Row, g *keyward.OIDCGrant) error {
	var amr int16
	if err := row.Scan(&g.ID, &g.AccountID, &g.SessionID, &g.ClientID, &g.Scopes, &g.AuthTime, &amr, &g.AAL, &g.CreatedAt); err != nil {
		return err
	}
	g.AMR = keyward.AMR(amr)
	return nil
}

func (q *queries) CreateOIDCGrant(ctx context.Context, g *keyward.OIDCGrant) error {
	_, err := q.db.Exec(ctx, `INSERT INTO oidc_grants (`+oidcGrantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		g.ID, g.AccountID, g.SessionID, g.ClientID, list(g.Scopes), g.AuthTime, int16(g.AMR), g.AAL, g.CreatedAt)
	return wrap("create oidc grant", foreignMissing(err, "Session"))
}

func (q *queries) OIDCGrant(ctx context.Context, id string) (*keyward.OIDCGrant, error) {
	var g keyward.OIDCGrant
	err := scanOIDCGrant(q.db.QueryRow(ctx, `SELECT `+oidcGrantColumns+` FROM oidc_grants WHERE id = $1`, id), &g)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Grant")
	}
	if err != nil {
		return nil, wrap("read oidc grant", err)
	}
	return &g, nil
}

func (q *queries) ListOIDCGrants(ctx context.Context, accountID string) ([]keyward.OIDCGrant, error) {
	rows, err := q.db.Query(ctx, `SELECT `+oidcGrantColumns+` FROM oidc_grants WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, wrap("list oidc grants", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.OIDCGrant, error) {
		var g keyward.OIDCGrant
		return g, scanOIDCGrant(row, &g)
	})
	return out, wrap("list oidc grants", err)
}

func (q *queries) DeleteOIDCGrant(ctx context.Context, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM oidc_grants WHERE id = $1`, id)
	if err != nil {
		return false, wrap("delete oidc grant", err)
	}
	return tag.RowsAffected() == 1, nil
}

const oidcTokenColumns = `hash, grant_id, refresh, created_at, expires_at, used_at`

func (q *queries) CreateOIDCToken(ctx context.Context, t *keyward.OIDCToken) error {
	_, err := q.db.Exec(ctx, `INSERT INTO oidc_tokens (`+oidcTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.GrantID, t.Refresh, t.CreatedAt, t.ExpiresAt, t.UsedAt)
	return wrap("create oidc token", foreignMissing(err, "Grant"))
}

func (q *queries) OIDCToken(ctx context.Context, hash []byte) (*keyward.OIDCToken, error) {
	var t keyward.OIDCToken
	err := q.db.QueryRow(ctx, `SELECT `+oidcTokenColumns+` FROM oidc_tokens WHERE hash = $1`, hash).
		Scan(&t.Hash, &t.GrantID, &t.Refresh, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Token")
	}
	if err != nil {
		return nil, wrap("read oidc token", err)
	}
	return &t, nil
}

func (q *queries) UseOIDCRefreshToken(ctx context.Context, hash []byte, at time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE oidc_tokens SET used_at = $2 WHERE hash = $1 AND refresh AND used_at IS NULL`, hash, at)
	if err != nil {
		return false, wrap("use oidc refresh token", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) DeleteOIDCToken(ctx context.Context, hash []byte) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM oidc_tokens WHERE hash = $1`, hash)
	if err != nil {
		return false, wrap("delete oidc token", err)
	}
	return tag.RowsAffected() == 1, nil
}

const oidcKeyColumns = `id, algorithm, sealed, public_key, created_at, retired_at`

func (q *queries) CreateOIDCSigningKey(ctx context.Context, k *keyward.OIDCSigningKey) error {
	_, err := q.db.Exec(ctx, `INSERT INTO oidc_signing_keys (`+oidcKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.Sealed, k.Public, k.CreatedAt, k.RetiredAt)
	return wrap("create oidc signing key", err)
}

func (q *queries) OIDCSigningKeys(ctx context.Context) ([]keyward.OIDCSigningKey, error) {
	rows, err := q.db.Query(ctx, `SELECT `+oidcKeyColumns+` FROM oidc_signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("list oidc signing keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.OIDCSigningKey, error) {
		var k keyward.OIDCSigningKey
		return k, row.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public, &k.CreatedAt, &k.RetiredAt)
	})
	return out, wrap("list oidc signing keys", err)
}

func (q *queries) RetireOIDCSigningKeys(ctx context.Context, keepID string, at time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `UPDATE oidc_signing_keys SET retired_at = $2 WHERE id <> $1 AND retired_at IS NULL`, keepID, at)
	if err != nil {
		return 0, wrap("retire oidc signing keys", err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) DeleteOIDCSigningKeys(ctx context.Context, before time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM oidc_signing_keys WHERE retired_at < $1`, before)
	if err != nil {
		return 0, wrap("delete oidc signing keys", err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int, error) {
	a, err := q.db.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, wrap("delete expired oidc requests", err)
	}
	b, err := q.db.Exec(ctx, `DELETE FROM oidc_tokens WHERE expires_at <= $1`, now)
	if err != nil {
		return int(a.RowsAffected()), wrap("delete expired oidc tokens", err)
	}
	return int(a.RowsAffected() + b.RowsAffected()), nil
}
