package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Two-factor authentication.

func (q *queries) PutPendingTOTP(ctx context.Context, p *keyward.PendingTOTP) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO pending_totp (account_id, session_id, sealed_secret, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id) DO UPDATE
		SET session_id = EXCLUDED.session_id, sealed_secret = EXCLUDED.sealed_secret,
			created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
		p.AccountID, p.SessionID, p.SealedSecret, p.CreatedAt, p.ExpiresAt)
	return wrap("put pending totp", accountMissing(err))
}

const pendingSelect = `SELECT account_id, session_id, sealed_secret, created_at, expires_at FROM pending_totp`

func scanPending(row pgx.Row, p *keyward.PendingTOTP) error {
	return row.Scan(&p.AccountID, &p.SessionID, &p.SealedSecret, &p.CreatedAt, &p.ExpiresAt)
}

func (q *queries) PendingTOTP(ctx context.Context, accountID string) (*keyward.PendingTOTP, error) {
	var p keyward.PendingTOTP
	err := scanPending(q.db.QueryRow(ctx, pendingSelect+` WHERE account_id = $1`, accountID), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Pending two-factor setup")
	}
	if err != nil {
		return nil, wrap("pending totp", err)
	}
	return &p, nil
}

func (q *queries) DeletePendingTOTP(ctx context.Context, accountID string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM pending_totp WHERE account_id = $1`, accountID)
	return wrap("delete pending totp", err)
}

func (q *queries) EnableTOTP(ctx context.Context, c *keyward.TOTPCredential) error {
	// One statement: the account's flag, the credential and (when given)
	// the backup salt change together, and only for an account that exists.
	var n int
	err := q.db.QueryRow(ctx, `
		WITH a AS (
			UPDATE accounts SET two_factor_enabled_at = coalesce(two_factor_enabled_at, $3) WHERE id = $1 RETURNING id
		), c AS (
			INSERT INTO totp_credentials (account_id, sealed_secret, enabled_at, last_step, second_factor_failures)
			SELECT id, $2, $3, $4, $6 FROM a
			ON CONFLICT (account_id) DO UPDATE
			SET sealed_secret = EXCLUDED.sealed_secret, enabled_at = EXCLUDED.enabled_at, last_step = EXCLUDED.last_step,
				second_factor_failures = EXCLUDED.second_factor_failures
			RETURNING 1
		), s AS (
			INSERT INTO backup_code_sets (account_id, salt)
			SELECT id, $5 FROM a WHERE $5::bytea IS NOT NULL
			ON CONFLICT (account_id) DO UPDATE SET salt = EXCLUDED.salt
		)
		SELECT count(*) FROM c`,
		c.AccountID, c.SealedSecret, c.EnabledAt, c.LastStep, c.BackupSalt, c.Failures).Scan(&n)
	if err != nil {
		return wrap("enable totp", err)
	}
	if n == 0 {
		return notFound("Account")
	}
	return nil
}

const totpColumns = `c.account_id, c.sealed_secret, c.enabled_at, c.last_step, s.salt, c.second_factor_failures`

const totpFrom = ` FROM totp_credentials c LEFT JOIN backup_code_sets s ON s.account_id = c.account_id`

func scanTOTP(row pgx.Row, c *keyward.TOTPCredential) error {
	return row.Scan(&c.AccountID, &c.SealedSecret, &c.EnabledAt, &c.LastStep, &c.BackupSalt, &c.Failures)
}

func (q *queries) TOTPCredential(ctx context.Context, accountID string) (*keyward.TOTPCredential, error) {
	var c keyward.TOTPCredential
	err := scanTOTP(q.db.QueryRow(ctx, `SELECT `+totpColumns+totpFrom+` WHERE c.account_id = $1`, accountID), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Two-factor credential")
	}
	if err != nil {
		return nil, wrap("totp credential", err)
	}
	return &c, nil
}

func (q *queries) AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	// The row lock makes concurrent callers with the same step wait; the
	// loser then re-checks last_step < step against the winner's write.
	tag, err := q.db.Exec(ctx, `
		UPDATE totp_credentials SET last_step = $2 WHERE account_id = $1 AND last_step < $2`, accountID, step)
	if err != nil {
		return false, wrap("advance totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) AddSecondFactorFailure(ctx context.Context, accountID string) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `UPDATE totp_credentials SET second_factor_failures = second_factor_failures + 1
		WHERE account_id = $1 RETURNING second_factor_failures`, accountID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("Two-factor credential")
	}
	return n, wrap("add second factor failure", err)
}

func (q *queries) ClearSecondFactorFailures(ctx context.Context, accountID string) error {
	tag, err := q.db.Exec(ctx, `UPDATE totp_credentials SET second_factor_failures = 0 WHERE account_id = $1`, accountID)
	if err != nil {
		return wrap("clear second factor failures", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Two-factor credential")
	}
	return nil
}

func (q *queries) DisableTOTP(ctx context.Context, accountID string) error {
	// Data-modifying CTEs all run, referenced or not: one atomic statement.
	_, err := q.db.Exec(ctx, `
		WITH c AS (DELETE FROM totp_credentials WHERE account_id = $1),
		     b AS (DELETE FROM backup_codes WHERE account_id = $1),
		     s AS (DELETE FROM backup_code_sets WHERE account_id = $1),
		     p AS (DELETE FROM pending_totp WHERE account_id = $1)
		UPDATE accounts SET two_factor_enabled_at = NULL WHERE id = $1`, accountID)
	return wrap("disable totp", err)
}

func (q *queries) RemoveTOTP(ctx context.Context, accountID string) error {
	_, err := q.db.Exec(ctx, `
		WITH c AS (DELETE FROM totp_credentials WHERE account_id = $1)
		DELETE FROM pending_totp WHERE account_id = $1`, accountID)
	return wrap("remove totp", err)
}

func (q *queries) TurnOnTwoFactor(ctx context.Context, accountID string, at time.Time) (bool, error) {
	// The row's lock orders concurrent callers: the later one sees the
	// value the first wrote and leaves it.
	var turned, exists bool
	err := q.db.QueryRow(ctx, `
		WITH u AS (
			UPDATE accounts SET two_factor_enabled_at = $2 WHERE id = $1 AND two_factor_enabled_at IS NULL RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID, at).Scan(&turned, &exists)
	if err != nil {
		return false, wrap("turn on two-factor", err)
	}
	if !exists {
		return false, notFound("Account")
	}
	return turned, nil
}

func (q *queries) BackupCodeSalt(ctx context.Context, accountID string) ([]byte, error) {
	var salt []byte
	err := q.db.QueryRow(ctx, `SELECT salt FROM backup_code_sets WHERE account_id = $1`, accountID).Scan(&salt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Backup codes")
	}
	if err != nil {
		return nil, wrap("backup code salt", err)
	}
	return salt, nil
}

func (q *queries) ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error {
	// Two statements: a delete and an insert of the same keys in one
	// statement would see the same snapshot.
	return q.atomic(ctx, func(q *queries) error {
		if _, err := q.db.Exec(ctx, `DELETE FROM backup_codes WHERE account_id = $1`, accountID); err != nil {
			return wrap("replace backup codes", err)
		}
		_, err := q.db.Exec(ctx, `
			WITH s AS (
				INSERT INTO backup_code_sets (account_id, salt) VALUES ($1, $2)
				ON CONFLICT (account_id) DO UPDATE SET salt = EXCLUDED.salt
			)
			INSERT INTO backup_codes (account_id, hash)
			SELECT $1, h FROM unnest($3::bytea[]) AS h
			ON CONFLICT DO NOTHING`, accountID, salt, hashes)
		return wrap("replace backup codes", accountMissing(err))
	})
}

func (q *queries) UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `
		UPDATE backup_codes SET used_at = $3
		WHERE account_id = $1 AND hash = $2 AND used_at IS NULL`, accountID, hash, at)
	if err != nil {
		return false, wrap("use backup code", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (q *queries) BackupCodesRemaining(ctx context.Context, accountID string) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM backup_codes WHERE account_id = $1 AND used_at IS NULL`,
		accountID).Scan(&n)
	return n, wrap("backup codes remaining", err)
}

// ---- MFA challenges.

func (q *queries) CreateMFAChallenge(ctx context.Context, c *keyward.MFAChallenge) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO mfa_challenges (token_hash, account_id, created_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		c.TokenHash, c.AccountID, c.CreatedAt, c.ExpiresAt, c.IP, c.UserAgent)
	return wrap("create mfa challenge", accountMissing(err))
}

func (q *queries) MFAChallenge(ctx context.Context, tokenHash []byte) (*keyward.MFAChallenge, error) {
	var c keyward.MFAChallenge
	err := q.db.QueryRow(ctx, `
		SELECT token_hash, account_id, created_at, expires_at, ip, user_agent
		FROM mfa_challenges WHERE token_hash = $1`, tokenHash).
		Scan(&c.TokenHash, &c.AccountID, &c.CreatedAt, &c.ExpiresAt, &c.IP, &c.UserAgent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Sign-in challenge")
	}
	if err != nil {
		return nil, wrap("mfa challenge", err)
	}
	return &c, nil
}

func (q *queries) ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM mfa_challenges WHERE token_hash = $1`, tokenHash)
	if err != nil {
		return false, wrap("consume mfa challenge", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (q *queries) DeleteMFAChallenges(ctx context.Context, accountID string) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM mfa_challenges WHERE account_id = $1`, accountID)
	if err != nil {
		return 0, wrap("delete mfa challenges", err)
	}
	return int(tag.RowsAffected()), nil
}

// ResealSecrets implements keyward.TOTPFactors. Every seed is read before
// fn is first called, so that no connection is held while fn runs.
func (q *queries) ResealSecrets(ctx context.Context, fn func(keyward.SealedSecret) (string, error)) (keyward.Resealed, error) {
	var done keyward.Resealed
	rows, err := q.db.Query(ctx, `SELECT account_id, sealed_secret, false FROM totp_credentials
		UNION ALL SELECT account_id, sealed_secret, true FROM pending_totp ORDER BY 3, 1`)
	if err != nil {
		return done, wrap("list sealed secrets", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.SealedSecret, error) {
		var v keyward.SealedSecret
		err := row.Scan(&v.AccountID, &v.Sealed, &v.Pending)
		return v, err
	})
	if err != nil {
		return done, wrap("list sealed secrets", err)
	}
	for _, v := range all {
		sealed, err := fn(v)
		if err != nil {
			return done, err
		}
		if sealed == "" {
			continue
		}
		// Under read committed a concurrent writer's row is re-checked
		// against sealed_secret = $2 after it commits: a seed replaced
		// meanwhile is left alone.
		swap := `UPDATE totp_credentials SET sealed_secret = $3 WHERE account_id = $1 AND sealed_secret = $2`
		if v.Pending {
			swap = `UPDATE pending_totp SET sealed_secret = $3 WHERE account_id = $1 AND sealed_secret = $2`
		}
		tag, err := q.db.Exec(ctx, swap, v.AccountID, v.Sealed, sealed)
		if err != nil {
			return done, wrap("reseal secret", err)
		}
		if tag.RowsAffected() == 1 {
			done.Swapped++
		} else {
			done.Changed++
		}
	}
	return done, nil
}
