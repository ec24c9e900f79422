package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Passkeys and their ceremonies.

func (q *queries) EnsureUserHandle(ctx context.Context, accountID string, candidate []byte) ([]byte, error) {
	var handle []byte
	err := q.atomic(ctx, func(q *queries) error {
		// Either uniqueness (the account's, the handle's) leaves the row
		// out. The read is a statement of its own: under read committed it
		// sees a row a concurrent caller committed while this one waited.
		if _, err := q.db.Exec(ctx, `INSERT INTO passkey_users (account_id, handle) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			accountID, candidate); err != nil {
			return wrap("ensure user handle", accountMissing(err))
		}
		err := q.db.QueryRow(ctx, `SELECT handle FROM passkey_users WHERE account_id = $1`, accountID).Scan(&handle)
		if errors.Is(err, pgx.ErrNoRows) {
			return keyward.Errorf(keyward.CodeConflict, "That user handle belongs to another account.")
		}
		return wrap("ensure user handle", err)
	})
	return handle, err
}

func (q *queries) AccountIDByUserHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := q.db.QueryRow(ctx, `SELECT account_id FROM passkey_users WHERE handle = $1`, handle).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("User handle")
	}
	return id, wrap("account by user handle", err)
}

// passkeyColumnList names the columns of passkeyValues, in order.
var passkeyColumnList = []string{"id", "account_id", "credential_id", "public_key", "sign_count", "backup_eligible", "backup_state",
	"user_verified", "aaguid", "transports", "name", "created_at", "last_used_at"}

var passkeyColumns = strings.Join(passkeyColumnList, ", ")

func scanPasskey(row pgx.Row, p *keyward.Passkey) error {
	var (
		count      int64
		transports string
	)
	if err := row.Scan(&p.ID, &p.AccountID, &p.CredentialID, &p.PublicKey, &count, &p.BackupEligible, &p.BackupState,
		&p.UserVerified, &p.AAGUID, &transports, &p.Name, &p.CreatedAt, &p.LastUsedAt); err != nil {
		return err
	}
	p.SignCount = keyward.StoredSignCount(count)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	return nil
}

func passkeyValues(p *keyward.Passkey) []any {
	var aaguid []byte
	if len(p.AAGUID) > 0 {
		aaguid = p.AAGUID
	}
	return []any{p.ID, p.AccountID, p.CredentialID, p.PublicKey, int64(p.SignCount), p.BackupEligible, p.BackupState,
		p.UserVerified, aaguid, strings.Join(p.Transports, ","), p.Name, p.CreatedAt, p.LastUsedAt}
}

func (q *queries) CreatePasskey(ctx context.Context, p *keyward.Passkey) error {
	// ON CONFLICT keeps a caller's transaction usable when the credential
	// is registered already (a unique violation would abort it).
	tag, err := q.db.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (credential_id) DO NOTHING`, passkeyValues(p)...)
	if err != nil {
		return wrap("create passkey", accountMissing(err))
	}
	if tag.RowsAffected() == 0 {
		return keyward.Errorf(keyward.CodeConflict, "That passkey is registered already.")
	}
	return nil
}

func (q *queries) ListPasskeys(ctx context.Context, accountID string) ([]keyward.Passkey, error) {
	rows, err := q.db.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, wrap("list passkeys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Passkey, error) {
		var p keyward.Passkey
		return p, scanPasskey(row, &p)
	})
	return out, wrap("list passkeys", err)
}

func (q *queries) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*keyward.Passkey, error) {
	var p keyward.Passkey
	err := scanPasskey(q.db.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Passkey")
	}
	if err != nil {
		return nil, wrap("passkey by credential id", err)
	}
	return &p, nil
}

func (q *queries) RenamePasskey(ctx context.Context, accountID, id, name string) error {
	tag, err := q.db.Exec(ctx, `UPDATE passkeys SET name = $3 WHERE account_id = $1 AND id = $2`, accountID, id, name)
	if err != nil {
		return wrap("rename passkey", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Passkey")
	}
	return nil
}

func (q *queries) UsePasskey(ctx context.Context, id string, from, to uint32, backupState bool, at time.Time) (bool, error) {
	// The row lock makes concurrent callers wait; the loser then re-checks
	// sign_count = from against the winner's write.
	tag, err := q.db.Exec(ctx, `UPDATE passkeys SET sign_count = $3, backup_state = $4, last_used_at = $5
		WHERE id = $1 AND sign_count = $2`, id, int64(from), int64(to), backupState, at)
	if err != nil {
		return false, wrap("use passkey", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) DeletePasskey(ctx context.Context, accountID, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM passkeys WHERE account_id = $1 AND id = $2`, accountID, id)
	if err != nil {
		return false, wrap("delete passkey", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) DeletePasskeys(ctx context.Context, accountID string) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM passkeys WHERE account_id = $1`, accountID)
	if err != nil {
		return 0, wrap("delete passkeys", err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) CreatePasskeyChallenge(ctx context.Context, c *keyward.PasskeyChallenge) error {
	var account, mfa any
	if c.AccountID != "" {
		account = c.AccountID
	}
	if len(c.MFAHash) > 0 {
		mfa = c.MFAHash
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO passkey_challenges (id_hash, purpose, account_id, session_id, mfa_hash, state, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.IDHash, string(c.Purpose), account, c.SessionID, mfa, c.State, c.CreatedAt, c.ExpiresAt)
	return wrap("create passkey challenge", accountMissing(err))
}

func (q *queries) PasskeyChallenge(ctx context.Context, idHash []byte) (*keyward.PasskeyChallenge, error) {
	var (
		c       keyward.PasskeyChallenge
		purpose string
		account *string
	)
	err := q.db.QueryRow(ctx, `
		SELECT id_hash, purpose, account_id, session_id, mfa_hash, state, created_at, expires_at
		FROM passkey_challenges WHERE id_hash = $1`, idHash).
		Scan(&c.IDHash, &purpose, &account, &c.SessionID, &c.MFAHash, &c.State, &c.CreatedAt, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Passkey challenge")
	}
	if err != nil {
		return nil, wrap("passkey challenge", err)
	}
	c.Purpose = keyward.CeremonyPurpose(purpose)
	if account != nil {
		c.AccountID = *account
	}
	return &c, nil
}

func (q *queries) ConsumePasskeyChallenge(ctx context.Context, idHash []byte) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM passkey_challenges WHERE id_hash = $1`, idHash)
	if err != nil {
		return false, wrap("consume passkey challenge", err)
	}
	return tag.RowsAffected() > 0, nil
}
