package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// Two-factor authentication.

const pendingSelect = `SELECT account_id, session_id, sealed_secret, created_us, expires_us FROM pending_totp`

func scanPending(sc scanner) (*keyward.PendingTOTP, error) {
	var (
		p                keyward.PendingTOTP
		created, expires int64
	)
	if err := sc.Scan(&p.AccountID, &p.SessionID, &p.SealedSecret, &created, &expires); err != nil {
		return nil, err
	}
	p.CreatedAt, p.ExpiresAt = fromUS(created), fromUS(expires)
	return &p, nil
}

func (q *queries) PutPendingTOTP(ctx context.Context, p *keyward.PendingTOTP) error {
	_, err := q.exec(ctx, `INSERT INTO pending_totp (account_id, session_id, sealed_secret, created_us, expires_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET session_id = excluded.session_id, sealed_secret = excluded.sealed_secret,
			created_us = excluded.created_us, expires_us = excluded.expires_us`,
		p.AccountID, p.SessionID, p.SealedSecret, toUS(p.CreatedAt), toUS(p.ExpiresAt))
	return mapErr(ctx, "put pending totp", err)
}

func (q *queries) PendingTOTP(ctx context.Context, accountID string) (*keyward.PendingTOTP, error) {
	p, err := scanPending(q.row(ctx, pendingSelect+` WHERE account_id = ?`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Pending two-factor setup")
	}
	return p, mapErr(ctx, "read pending totp", err)
}

func (q *queries) DeletePendingTOTP(ctx context.Context, accountID string) error {
	_, err := q.exec(ctx, `DELETE FROM pending_totp WHERE account_id = ?`, accountID)
	return mapErr(ctx, "delete pending totp", err)
}

const credentialSelect = `SELECT c.account_id, c.sealed_secret, c.enabled_us, c.last_step, s.salt, c.second_factor_failures
	FROM totp_credentials c LEFT JOIN backup_code_sets s ON s.account_id = c.account_id`

func scanCredential(sc scanner) (*keyward.TOTPCredential, error) {
	var (
		c       keyward.TOTPCredential
		enabled int64
	)
	if err := sc.Scan(&c.AccountID, &c.SealedSecret, &enabled, &c.LastStep, &c.BackupSalt, &c.Failures); err != nil {
		return nil, err
	}
	c.EnabledAt = fromUS(enabled)
	return &c, nil
}

func (q *queries) EnableTOTP(ctx context.Context, c *keyward.TOTPCredential) error {
	return q.atomic(ctx, func(q *queries) error {
		_, err := q.exec(ctx, `INSERT INTO totp_credentials (account_id, sealed_secret, enabled_us, last_step, second_factor_failures) VALUES (?, ?, ?, ?, ?)`,
			c.AccountID, c.SealedSecret, toUS(c.EnabledAt), c.LastStep, c.Failures)
		if err != nil {
			return mapErr(ctx, "enable totp", err)
		}
		if len(c.BackupSalt) > 0 {
			if err := q.putBackupSalt(ctx, c.AccountID, c.BackupSalt); err != nil {
				return err
			}
		}
		return q.updateOne(ctx, "Account", `UPDATE accounts SET two_factor_enabled_us = coalesce(two_factor_enabled_us, ?) WHERE id = ?`, toUS(c.EnabledAt), c.AccountID)
	})
}

func (q *queries) putBackupSalt(ctx context.Context, accountID string, salt []byte) error {
	_, err := q.exec(ctx, `INSERT INTO backup_code_sets (account_id, salt) VALUES (?, ?)
		ON CONFLICT (account_id) DO UPDATE SET salt = excluded.salt`, accountID, blob(salt))
	return mapErr(ctx, "put backup salt", err)
}

func (q *queries) TOTPCredential(ctx context.Context, accountID string) (*keyward.TOTPCredential, error) {
	c, err := scanCredential(q.row(ctx, credentialSelect+` WHERE c.account_id = ?`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Two-factor credential")
	}
	return c, mapErr(ctx, "read totp credential", err)
}

func (q *queries) AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	n, err := q.execCount(ctx, "advance totp step", `UPDATE totp_credentials SET last_step = ? WHERE account_id = ? AND last_step < ?`, step, accountID, step)
	return n == 1, err
}

func (q *queries) AddSecondFactorFailure(ctx context.Context, accountID string) (int, error) {
	var n int
	err := q.row(ctx, `UPDATE totp_credentials SET second_factor_failures = second_factor_failures + 1
		WHERE account_id = ? RETURNING second_factor_failures`, accountID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("Two-factor credential")
	}
	return n, mapErr(ctx, "add second factor failure", err)
}

func (q *queries) ClearSecondFactorFailures(ctx context.Context, accountID string) error {
	return q.updateOne(ctx, "Two-factor credential", `UPDATE totp_credentials SET second_factor_failures = 0 WHERE account_id = ?`, accountID)
}

func (q *queries) DisableTOTP(ctx context.Context, accountID string) error {
	return q.atomic(ctx, func(q *queries) error {
		for _, stmt := range []string{
			`DELETE FROM totp_credentials WHERE account_id = ?`,
			`DELETE FROM backup_codes WHERE account_id = ?`,
			`DELETE FROM backup_code_sets WHERE account_id = ?`,
			`DELETE FROM pending_totp WHERE account_id = ?`,
			`UPDATE accounts SET two_factor_enabled_us = NULL WHERE id = ?`,
		} {
			if _, err := q.exec(ctx, stmt, accountID); err != nil {
				return mapErr(ctx, "disable totp", err)
			}
		}
		return nil
	})
}

func (q *queries) RemoveTOTP(ctx context.Context, accountID string) error {
	return q.atomic(ctx, func(q *queries) error {
		for _, stmt := range []string{
			`DELETE FROM totp_credentials WHERE account_id = ?`,
			`DELETE FROM pending_totp WHERE account_id = ?`,
		} {
			if _, err := q.exec(ctx, stmt, accountID); err != nil {
				return mapErr(ctx, "remove totp", err)
			}
		}
		return nil
	})
}

func (q *queries) TurnOnTwoFactor(ctx context.Context, accountID string, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "turn on two-factor", `UPDATE accounts SET two_factor_enabled_us = ? WHERE id = ? AND two_factor_enabled_us IS NULL`, toUS(at), accountID)
	if err != nil || n == 1 {
		return n == 1, err
	}
	var one int
	err = q.row(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("Account")
	}
	return false, mapErr(ctx, "turn on two-factor", err)
}

func (q *queries) BackupCodeSalt(ctx context.Context, accountID string) ([]byte, error) {
	var salt []byte
	err := q.row(ctx, `SELECT salt FROM backup_code_sets WHERE account_id = ?`, accountID).Scan(&salt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Backup codes")
	}
	return salt, mapErr(ctx, "read backup code salt", err)
}

func (q *queries) ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error {
	return q.atomic(ctx, func(q *queries) error {
		if _, err := q.exec(ctx, `DELETE FROM backup_codes WHERE account_id = ?`, accountID); err != nil {
			return mapErr(ctx, "replace backup codes", err)
		}
		if err := q.putBackupSalt(ctx, accountID, salt); err != nil {
			return err
		}
		for i, h := range hashes {
			if _, err := q.exec(ctx, `INSERT INTO backup_codes (account_id, n, hash) VALUES (?, ?, ?)`, accountID, i, h); err != nil {
				return mapErr(ctx, "replace backup codes", err)
			}
		}
		return nil
	})
}

func (q *queries) UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "use backup code", `UPDATE backup_codes SET used_us = ?
		WHERE account_id = ? AND n = (SELECT n FROM backup_codes WHERE account_id = ? AND hash = ? AND used_us IS NULL LIMIT 1)`,
		toUS(at), accountID, accountID, blob(hash))
	return n == 1, err
}

func (q *queries) BackupCodesRemaining(ctx context.Context, accountID string) (int, error) {
	var n int
	err := q.row(ctx, `SELECT count(*) FROM backup_codes WHERE account_id = ? AND used_us IS NULL`, accountID).Scan(&n)
	return n, mapErr(ctx, "count backup codes", err)
}

// MFA challenges.

func (q *queries) CreateMFAChallenge(ctx context.Context, c *keyward.MFAChallenge) error {
	_, err := q.exec(ctx, `INSERT INTO mfa_challenges (token_hash, account_id, created_us, expires_us, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)`,
		c.TokenHash, c.AccountID, toUS(c.CreatedAt), toUS(c.ExpiresAt), c.IP, c.UserAgent)
	return mapErr(ctx, "create mfa challenge", err)
}

func (q *queries) MFAChallenge(ctx context.Context, tokenHash []byte) (*keyward.MFAChallenge, error) {
	var (
		c                keyward.MFAChallenge
		created, expires int64
	)
	err := q.row(ctx, `SELECT token_hash, account_id, created_us, expires_us, ip, user_agent FROM mfa_challenges WHERE token_hash = ?`, blob(tokenHash)).
		Scan(&c.TokenHash, &c.AccountID, &created, &expires, &c.IP, &c.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Sign-in challenge")
	}
	if err != nil {
		return nil, mapErr(ctx, "read mfa challenge", err)
	}
	c.CreatedAt, c.ExpiresAt = fromUS(created), fromUS(expires)
	return &c, nil
}

func (q *queries) ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error) {
	n, err := q.execCount(ctx, "consume mfa challenge", `DELETE FROM mfa_challenges WHERE token_hash = ?`, blob(tokenHash))
	return n == 1, err
}

func (q *queries) DeleteMFAChallenges(ctx context.Context, accountID string) (int, error) {
	return q.execCount(ctx, "delete mfa challenges", `DELETE FROM mfa_challenges WHERE account_id = ?`, accountID)
}

// ResealSecrets implements keyward.TOTPFactors. Every seed is read before
// fn is first called, so that fn (slow: it opens and seals) holds no
// connection, and a write fn causes (a change meanwhile) waits for nothing.
func (q *queries) ResealSecrets(ctx context.Context, fn func(keyward.SealedSecret) (string, error)) (keyward.Resealed, error) {
	var done keyward.Resealed
	all, err := q.sealedSecrets(ctx)
	if err != nil {
		return done, err
	}
	for _, v := range all {
		sealed, err := fn(v)
		if err != nil {
			return done, err
		}
		if sealed == "" {
			continue
		}
		swap := `UPDATE totp_credentials SET sealed_secret = ? WHERE account_id = ? AND sealed_secret = ?`
		if v.Pending {
			swap = `UPDATE pending_totp SET sealed_secret = ? WHERE account_id = ? AND sealed_secret = ?`
		}
		n, err := q.execCount(ctx, "reseal secret", swap, sealed, v.AccountID, v.Sealed)
		if err != nil {
			return done, err
		}
		if n == 1 {
			done.Swapped++
		} else {
			done.Changed++
		}
	}
	return done, nil
}

// sealedSecrets reads every seed: the credentials', then the pending
// setups', each by account id.
func (q *queries) sealedSecrets(ctx context.Context) ([]keyward.SealedSecret, error) {
	rows, err := q.query(ctx, `SELECT account_id, sealed_secret, 0 FROM totp_credentials
		UNION ALL SELECT account_id, sealed_secret, 1 FROM pending_totp ORDER BY 3, 1`)
	if err != nil {
		return nil, mapErr(ctx, "list sealed secrets", err)
	}
	return collect(ctx, "list sealed secrets", rows, func(sc scanner) (*keyward.SealedSecret, error) {
		var v keyward.SealedSecret
		return &v, sc.Scan(&v.AccountID, &v.Sealed, &v.Pending)
	})
}
