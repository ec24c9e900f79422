package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Passkeys and their ceremonies.

func (q *queries) EnsureUserHandle(ctx context.Context, accountID string, candidate []byte) ([]byte, error) {
	var handle []byte
	err := q.atomic(ctx, func(q *queries) error {
		// Either uniqueness (the account's, the handle's) leaves the row out.
		if _, err := q.exec(ctx, `INSERT INTO passkey_users (account_id, handle) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			accountID, blob(candidate)); err != nil {
			return mapErr(ctx, "ensure user handle", err)
		}
		err := q.row(ctx, `SELECT handle FROM passkey_users WHERE account_id = ?`, accountID).Scan(&handle)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.CodeConflict, "That user handle belongs to another account.")
		}
		return mapErr(ctx, "ensure user handle", err)
	})
	return handle, err
}

func (q *queries) AccountIDByUserHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := q.row(ctx, `SELECT account_id FROM passkey_users WHERE handle = ?`, blob(handle)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("User handle")
	}
	return id, mapErr(ctx, "account by user handle", err)
}

const passkeyCols = `id, account_id, credential_id, public_key, sign_count, backup_eligible, backup_state, user_verified,
	aaguid, transports, name, created_us, last_used_us`

func scanPasskey(sc scanner) (*keyward.Passkey, error) {
	var (
		p          keyward.Passkey
		transports string
		count      int64
		created    int64
		used       sql.NullInt64
	)
	if err := sc.Scan(&p.ID, &p.AccountID, &p.CredentialID, &p.PublicKey, &count, &p.BackupEligible, &p.BackupState,
		&p.UserVerified, &p.AAGUID, &transports, &p.Name, &created, &used); err != nil {
		return nil, err
	}
	p.SignCount = keyward.StoredSignCount(count)
	p.Transports = splitTransports(transports)
	p.CreatedAt, p.LastUsedAt = fromUS(created), timeOrNil(used)
	return &p, nil
}

// splitTransports reads the stored list: "" is none.
func splitTransports(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

const insertPasskeySQL = `INSERT INTO passkeys (` + passkeyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (credential_id) DO NOTHING`

func passkeyArgs(p *keyward.Passkey) []any {
	return []any{p.ID, p.AccountID, p.CredentialID, p.PublicKey, int64(p.SignCount), p.BackupEligible, p.BackupState,
		p.UserVerified, blob(p.AAGUID), strings.Join(p.Transports, ","), p.Name, toUS(p.CreatedAt), nullTime(p.LastUsedAt)}
}

func (q *queries) CreatePasskey(ctx context.Context, p *keyward.Passkey) error {
	n, err := q.execCount(ctx, "create passkey", insertPasskeySQL, passkeyArgs(p)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return keyward.Errorf(keyward.CodeConflict, "That passkey is registered already.")
	}
	return nil
}

func (q *queries) ListPasskeys(ctx context.Context, accountID string) ([]keyward.Passkey, error) {
	rows, err := q.query(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE account_id = ? ORDER BY created_us, id`, accountID)
	if err != nil {
		return nil, mapErr(ctx, "list passkeys", err)
	}
	return collect(ctx, "list passkeys", rows, scanPasskey)
}

func (q *queries) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*keyward.Passkey, error) {
	p, err := scanPasskey(q.row(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE credential_id = ?`, blob(credentialID)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Passkey")
	}
	return p, mapErr(ctx, "passkey by credential id", err)
}

func (q *queries) RenamePasskey(ctx context.Context, accountID, id, name string) error {
	return q.updateOne(ctx, "Passkey", `UPDATE passkeys SET name = ? WHERE account_id = ? AND id = ?`, name, accountID, id)
}

func (q *queries) UsePasskey(ctx context.Context, id string, from, to uint32, backupState bool, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "use passkey", `UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_us = ?
		WHERE id = ? AND sign_count = ?`, int64(to), backupState, toUS(at), id, int64(from))
	return n == 1, err
}

func (q *queries) DeletePasskey(ctx context.Context, accountID, id string) (bool, error) {
	n, err := q.execCount(ctx, "delete passkey", `DELETE FROM passkeys WHERE account_id = ? AND id = ?`, accountID, id)
	return n == 1, err
}

func (q *queries) DeletePasskeys(ctx context.Context, accountID string) (int, error) {
	return q.execCount(ctx, "delete passkeys", `DELETE FROM passkeys WHERE account_id = ?`, accountID)
}

func (q *queries) CreatePasskeyChallenge(ctx context.Context, c *keyward.PasskeyChallenge) error {
	_, err := q.exec(ctx, `INSERT INTO passkey_challenges (id_hash, purpose, account_id, session_id, mfa_hash, state, created_us, expires_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.IDHash, string(c.Purpose), nullString(c.AccountID), c.SessionID, blob(c.MFAHash), c.State, toUS(c.CreatedAt), toUS(c.ExpiresAt))
	return mapErr(ctx, "create passkey challenge", err)
}

func (q *queries) PasskeyChallenge(ctx context.Context, idHash []byte) (*keyward.PasskeyChallenge, error) {
	var (
		c                keyward.PasskeyChallenge
		purpose          string
		account          sql.NullString
		created, expires int64
	)
	err := q.row(ctx, `SELECT id_hash, purpose, account_id, session_id, mfa_hash, state, created_us, expires_us
		FROM passkey_challenges WHERE id_hash = ?`, blob(idHash)).
		Scan(&c.IDHash, &purpose, &account, &c.SessionID, &c.MFAHash, &c.State, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Passkey challenge")
	}
	if err != nil {
		return nil, mapErr(ctx, "read passkey challenge", err)
	}
	c.Purpose, c.AccountID = keyward.CeremonyPurpose(purpose), account.String
	c.CreatedAt, c.ExpiresAt = fromUS(created), fromUS(expires)
	return &c, nil
}

func (q *queries) ConsumePasskeyChallenge(ctx context.Context, idHash []byte) (bool, error) {
	n, err := q.execCount(ctx, "consume passkey challenge", `DELETE FROM passkey_challenges WHERE id_hash = ?`, blob(idHash))
	return n == 1, err
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
