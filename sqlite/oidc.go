package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// The OpenID Connect provider's records.

// jsonList stores a list of strings as a JSON array ("[]" for none).
func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // strings always encode
	return string(b)
}

func parseList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	return out, nil
}

const oidcClientCols = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, created_us`

func scanOIDCClient(sc scanner) (*keyward.OIDCClient, error) {
	var (
		c               keyward.OIDCClient
		redirects, post string
		created         int64
		err             error
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &redirects, &post, &c.FirstParty, &created); err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = parseList(redirects); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = parseList(post); err != nil {
		return nil, err
	}
	c.CreatedAt = fromUS(created)
	return &c, nil
}

func (q *queries) CreateOIDCClient(ctx context.Context, c *keyward.OIDCClient) error {
	n, err := q.execCount(ctx, "create oidc client", `INSERT INTO oidc_clients (`+oidcClientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Name, blob(c.SecretHash), jsonList(c.RedirectURIs), jsonList(c.PostLogoutRedirectURIs), c.FirstParty, toUS(c.CreatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return keyward.Errorf(keyward.CodeConflict, "A client with that id exists already.")
	}
	return nil
}

func (q *queries) OIDCClient(ctx context.Context, id string) (*keyward.OIDCClient, error) {
	c, err := scanOIDCClient(q.row(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Client")
	}
	return c, mapErr(ctx, "read oidc client", err)
}

func (q *queries) ListOIDCClients(ctx context.Context) ([]keyward.OIDCClient, error) {
	rows, err := q.query(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_us, id`)
	if err != nil {
		return nil, mapErr(ctx, "list oidc clients", err)
	}
	return collect(ctx, "list oidc clients", rows, scanOIDCClient)
}

func (q *queries) DeleteOIDCClient(ctx context.Context, id string) (bool, error) {
	n, err := q.execCount(ctx, "delete oidc client", `DELETE FROM oidc_clients WHERE id = ?`, id)
	return n == 1, err
}

const oidcRequestCols = `id, client_id, params, created_us, expires_us, account_id, session_id, auth_time_us, amr, aal,
	code_hash, code_issued_us, code_used_us`

func scanOIDCRequest(sc scanner) (*keyward.OIDCAuthRequest, error) {
	var (
		r                keyward.OIDCAuthRequest
		params           string
		created, expires int64
		account, session sql.NullString
		authTime, issued sql.NullInt64
		used             sql.NullInt64
		amr              int64
	)
	if err := sc.Scan(&r.ID, &r.ClientID, &params, &created, &expires, &account, &session, &authTime, &amr, &r.AAL,
		&r.CodeHash, &issued, &used); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return nil, fmt.Errorf("stored request parameters: %w", err)
	}
	r.CreatedAt, r.ExpiresAt = fromUS(created), fromUS(expires)
	r.AccountID, r.SessionID, r.AMR = account.String, session.String, keyward.AMR(amr)
	if authTime.Valid {
		r.AuthTime = fromUS(authTime.Int64)
	}
	r.CodeIssuedAt, r.CodeUsedAt = timeOrNil(issued), timeOrNil(used)
	return &r, nil
}

func (q *queries) CreateOIDCAuthRequest(ctx context.Context, r *keyward.OIDCAuthRequest) error {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return fmt.Errorf("sqlite: encoding request parameters: %w", err)
	}
	_, err = q.exec(ctx, `INSERT INTO oidc_auth_requests (id, client_id, params, created_us, expires_us) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, string(params), toUS(r.CreatedAt), toUS(r.ExpiresAt))
	return clientMissing(mapErr(ctx, "create oidc auth request", err))
}

// clientMissing names what a foreign key violation means for a row that
// points at a client (mapErr's message names the account).
func clientMissing(err error) error {
	if keyward.IsCode(err, keyward.CodeNotFound) {
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Client not found.", Err: err}
	}
	return err
}

func (q *queries) OIDCAuthRequest(ctx context.Context, id string) (*keyward.OIDCAuthRequest, error) {
	r, err := scanOIDCRequest(q.row(ctx, `SELECT `+oidcRequestCols+` FROM oidc_auth_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Authorization request")
	}
	return r, mapErr(ctx, "read oidc auth request", err)
}

func (q *queries) AuthorizeOIDCRequest(ctx context.Context, r *keyward.OIDCAuthRequest) (bool, error) {
	n, err := q.execCount(ctx, "authorize oidc request", `UPDATE oidc_auth_requests
		SET account_id = ?, session_id = ?, auth_time_us = ?, amr = ?, aal = ?
		WHERE id = ? AND code_hash IS NULL`,
		r.AccountID, r.SessionID, toUS(r.AuthTime), int64(r.AMR), r.AAL, r.ID)
	return n == 1, err
}

func (q *queries) SetOIDCCode(ctx context.Context, id string, codeHash []byte, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "set oidc code", `UPDATE oidc_auth_requests SET code_hash = ?, code_issued_us = ?
		WHERE id = ? AND account_id IS NOT NULL AND code_hash IS NULL`, blob(codeHash), toUS(at), id)
	return n == 1, err
}

func (q *queries) UseOIDCCode(ctx context.Context, codeHash []byte, at time.Time) (*keyward.OIDCAuthRequest, bool, error) {
	n, err := q.execCount(ctx, "use oidc code", `UPDATE oidc_auth_requests SET code_used_us = ?
		WHERE code_hash = ? AND code_used_us IS NULL`, toUS(at), blob(codeHash))
	if err != nil {
		return nil, false, err
	}
	r, err := scanOIDCRequest(q.row(ctx, `SELECT `+oidcRequestCols+` FROM oidc_auth_requests WHERE code_hash = ?`, blob(codeHash)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, notFound("Code")
	}
	if err != nil {
		return nil, false, mapErr(ctx, "use oidc code", err)
	}
	return r, n == 1, nil
}

func (q *queries) PutOIDCConsent(ctx context.Context, accountID, clientID string, scopes []string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_consents (account_id, client_id, scopes, created_us) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_us = excluded.created_us`,
		accountID, clientID, jsonList(scopes), toUS(at))
	return mapErr(ctx, "put oidc consent", err)
}

func (q *queries) OIDCConsent(ctx context.Context, accountID, clientID string) ([]string, error) {
	var scopes string
	err := q.row(ctx, `SELECT scopes FROM oidc_consents WHERE account_id = ? AND client_id = ?`, accountID, clientID).Scan(&scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(ctx, "read oidc consent", err)
	}
	return parseList(scopes)
}

const oidcGrantCols = `id, account_id, session_id, client_id, scopes, auth_time_us, amr, aal, created_us`

func scanOIDCGrant(sc scanner) (*keyward.OIDCGrant, error) {
	var (
		g                 keyward.OIDCGrant
		scopes            string
		authTime, created int64
		amr               int64
		err               error
	)
	if err := sc.Scan(&g.ID, &g.AccountID, &g.SessionID, &g.ClientID, &scopes, &authTime, &amr, &g.AAL, &created); err != nil {
		return nil, err
	}
	if g.Scopes, err = parseList(scopes); err != nil {
		return nil, err
	}
	g.AuthTime, g.CreatedAt, g.AMR = fromUS(authTime), fromUS(created), keyward.AMR(amr)
	return &g, nil
}

func (q *queries) CreateOIDCGrant(ctx context.Context, g *keyward.OIDCGrant) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_grants (`+oidcGrantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.AccountID, g.SessionID, g.ClientID, jsonList(g.Scopes), toUS(g.AuthTime), int64(g.AMR), g.AAL, toUS(g.CreatedAt))
	if keyward.IsCode(mapErr(ctx, "", err), keyward.CodeNotFound) {
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Session not found.", Err: err}
	}
	return mapErr(ctx, "create oidc grant", err)
}

func (q *queries) OIDCGrant(ctx context.Context, id string) (*keyward.OIDCGrant, error) {
	g, err := scanOIDCGrant(q.row(ctx, `SELECT `+oidcGrantCols+` FROM oidc_grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Grant")
	}
	return g, mapErr(ctx, "read oidc grant", err)
}

func (q *queries) ListOIDCGrants(ctx context.Context, accountID string) ([]keyward.OIDCGrant, error) {
	rows, err := q.query(ctx, `SELECT `+oidcGrantCols+` FROM oidc_grants WHERE account_id = ? ORDER BY created_us, id`, accountID)
	if err != nil {
		return nil, mapErr(ctx, "list oidc grants", err)
	}
	return collect(ctx, "list oidc grants", rows, scanOIDCGrant)
}

func (q *queries) DeleteOIDCGrant(ctx context.Context, id string) (bool, error) {
	n, err := q.execCount(ctx, "delete oidc grant", `DELETE FROM oidc_grants WHERE id = ?`, id)
	return n == 1, err
}

const oidcTokenCols = `hash, grant_id, refresh, created_us, expires_us, used_us`

func scanOIDCToken(sc scanner) (*keyward.OIDCToken, error) {
	var (
		t                keyward.OIDCToken
		created, expires int64
		used             sql.NullInt64
	)
	if err := sc.Scan(&t.Hash, &t.GrantID, &t.Refresh, &created, &expires, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromUS(created), fromUS(expires), timeOrNil(used)
	return &t, nil
}

func (q *queries) CreateOIDCToken(ctx context.Context, t *keyward.OIDCToken) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_tokens (`+oidcTokenCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		blob(t.Hash), t.GrantID, t.Refresh, toUS(t.CreatedAt), toUS(t.ExpiresAt), nullTime(t.UsedAt))
	if keyward.IsCode(mapErr(ctx, "", err), keyward.CodeNotFound) {
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Grant not found.", Err: err}
	}
	return mapErr(ctx, "create oidc token", err)
}

func (q *queries) OIDCToken(ctx context.Context, hash []byte) (*keyward.OIDCToken, error) {
	t, err := scanOIDCToken(q.row(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens WHERE hash = ?`, blob(hash)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Token")
	}
	return t, mapErr(ctx, "read oidc token", err)
}

func (q *queries) UseOIDCRefreshToken(ctx context.Context, hash []byte, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "use oidc refresh token", `UPDATE oidc_tokens SET used_us = ?
		WHERE hash = ? AND refresh = 1 AND used_us IS NULL`, toUS(at), blob(hash))
	return n == 1, err
}

func (q *queries) DeleteOIDCToken(ctx context.Context, hash []byte) (bool, error) {
	n, err := q.execCount(ctx, "delete oidc token", `DELETE FROM oidc_tokens WHERE hash = ?`, blob(hash))
	return n == 1, err
}

const oidcKeyCols = `id, algorithm, sealed, public_key, created_us, retired_us`

func scanOIDCKey(sc scanner) (*keyward.OIDCSigningKey, error) {
	var (
		k       keyward.OIDCSigningKey
		created int64
		retired sql.NullInt64
	)
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public, &created, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = fromUS(created), timeOrNil(retired)
	return &k, nil
}

func (q *queries) CreateOIDCSigningKey(ctx context.Context, k *keyward.OIDCSigningKey) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_signing_keys (`+oidcKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Sealed, blob(k.Public), toUS(k.CreatedAt), nullTime(k.RetiredAt))
	return mapErr(ctx, "create oidc signing key", err)
}

func (q *queries) OIDCSigningKeys(ctx context.Context) ([]keyward.OIDCSigningKey, error) {
	rows, err := q.query(ctx, `SELECT `+oidcKeyCols+` FROM oidc_signing_keys ORDER BY created_us DESC, id DESC`)
	if err != nil {
		return nil, mapErr(ctx, "list oidc signing keys", err)
	}
	return collect(ctx, "list oidc signing keys", rows, scanOIDCKey)
}

func (q *queries) RetireOIDCSigningKeys(ctx context.Context, keepID string, at time.Time) (int, error) {
	return q.execCount(ctx, "retire oidc signing keys", `UPDATE oidc_signing_keys SET retired_us = ?
		WHERE id <> ? AND retired_us IS NULL`, toUS(at), keepID)
}

func (q *queries) DeleteOIDCSigningKeys(ctx context.Context, before time.Time) (int, error) {
	return q.execCount(ctx, "delete oidc signing keys", `DELETE FROM oidc_signing_keys WHERE retired_us < ?`, toUS(before))
}

func (q *queries) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int, error) {
	a, err := q.execCount(ctx, "delete expired oidc requests", `DELETE FROM oidc_auth_requests WHERE expires_us <= ?`, toUS(now))
	if err != nil {
		return a, err
	}
	b, err := q.execCount(ctx, "delete expired oidc tokens", `DELETE FROM oidc_tokens WHERE expires_us <= ?`, toUS(now))
	return a + b, err
}
