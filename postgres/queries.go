package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// queries implements keyward.Queries on the pool (each call on its own) or on
// one transaction (the q of InTx).
type queries struct {
	db   dbtx
	s    *Store
	inTx bool
}

var _ keyward.Queries = (*queries)(nil)

// atomic runs fn in the caller's transaction, or in a new one: for the few
// operations that take more than one statement.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if q.inTx {
		return fn(q)
	}
	return q.s.inTx(ctx, fn)
}

// accountMissing turns the foreign key violation of a row written for an
// account that does not exist into CodeNotFound.
func accountMissing(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return &keyward.Error{Code: keyward.CodeNotFound, Message: "Account not found.", Err: err}
	}
	return err
}

// ---- Accounts.

const accountColumns = `id, email, password_hash, created_at, two_factor_enabled_at`

func scanAccount(row pgx.Row, a *keyward.Account) error {
	return row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.CreatedAt, &a.TwoFactorEnabledAt)
}

func (q *queries) CreateAccount(ctx context.Context, a *keyward.Account) error {
	// ON CONFLICT keeps a caller's transaction usable when the email is
	// taken (a unique violation would abort it); a race for the same email
	// waits for the other transaction and then sees its row.
	tag, err := q.db.Exec(ctx, `
		INSERT INTO accounts (id, email, email_key, password_hash, created_at, two_factor_enabled_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (email_key) DO NOTHING`,
		a.ID, a.Email, keyward.EmailKey(a.Email), a.PasswordHash, a.CreatedAt, a.TwoFactorEnabledAt)
	if err != nil {
		return wrap("create account", err)
	}
	if tag.RowsAffected() == 0 {
		return keyward.Errorf(keyward.CodeEmailTaken, "An account with this email already exists.")
	}
	return nil
}

func (q *queries) AccountByID(ctx context.Context, id string) (*keyward.Account, error) {
	var a keyward.Account
	err := scanAccount(q.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id), &a)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Account")
	}
	if err != nil {
		return nil, wrap("account by id", err)
	}
	return &a, nil
}

func (q *queries) LockAccount(ctx context.Context, id string) (*keyward.Account, error) {
	var a keyward.Account
	err := scanAccount(q.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, id), &a)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Account")
	}
	if err != nil {
		return nil, wrap("lock account", err)
	}
	return &a, nil
}

func (q *queries) AccountByEmail(ctx context.Context, email string) (*keyward.Account, error) {
	var a keyward.Account
	err := scanAccount(q.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE email_key = $1`,
		keyward.EmailKey(email)), &a)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Account")
	}
	if err != nil {
		return nil, wrap("account by email", err)
	}
	return &a, nil
}

func (q *queries) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	tag, err := q.db.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, accountID, hash)
	if err != nil {
		return wrap("set password hash", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Account")
	}
	return nil
}

func (q *queries) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	rows, err := q.db.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Account, error) {
		var a keyward.Account
		err := scanAccount(row, &a)
		return a, err
	})
	return out, wrap("list accounts", err)
}

// ---- Sessions.

const sessionColumns = `id, account_id, token_hash, created_at, last_seen_at, expires_at,
	ip, user_agent, device_browser, device_os, device_type, aal`

func scanSession(row pgx.Row, s *keyward.Session) error {
	return row.Scan(&s.ID, &s.AccountID, &s.TokenHash, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt,
		&s.IP, &s.UserAgent, &s.Device.Browser, &s.Device.OS, &s.Device.Type, &s.AAL)
}

func collectSessions(rows pgx.Rows) ([]keyward.Session, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Session, error) {
		var s keyward.Session
		err := scanSession(row, &s)
		return s, err
	})
}

func (q *queries) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.ID, s.AccountID, s.TokenHash, s.CreatedAt, s.LastSeenAt, s.ExpiresAt,
		s.IP, s.UserAgent, s.Device.Browser, s.Device.OS, s.Device.Type, s.AAL)
	return wrap("create session", accountMissing(err))
}

func (q *queries) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	var s keyward.Session
	err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, tokenHash), &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Session")
	}
	if err != nil {
		return nil, wrap("session by token", err)
	}
	return &s, nil
}

func (q *queries) SessionByID(ctx context.Context, accountID, id string) (*keyward.Session, error) {
	var s keyward.Session
	err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND account_id = $2`,
		id, accountID), &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Session")
	}
	if err != nil {
		return nil, wrap("session by id", err)
	}
	return &s, nil
}

func (q *queries) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	rows, err := q.db.Query(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE account_id = $1 AND expires_at > $2
		ORDER BY last_seen_at DESC, id DESC`, accountID, now)
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out, err := collectSessions(rows)
	return out, wrap("list sessions", err)
}

func (q *queries) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`, id, lastSeen)
	if err != nil {
		return wrap("touch session", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

func (q *queries) SetSessionAAL(ctx context.Context, id string, aal int) error {
	tag, err := q.db.Exec(ctx, `UPDATE sessions SET aal = $2 WHERE id = $1`, id, aal)
	if err != nil {
		return wrap("set session aal", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

func (q *queries) DeleteSession(ctx context.Context, accountID, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return false, wrap("delete session", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (q *queries) DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error) {
	rows, err := q.db.Query(ctx, `DELETE FROM sessions WHERE account_id = $1 AND id <> $2 RETURNING id`, accountID, keepID)
	if err != nil {
		return nil, wrap("delete other sessions", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap("delete other sessions", err)
}

func (q *queries) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2`, now, idleBefore)
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

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
			UPDATE accounts SET two_factor_enabled_at = $3 WHERE id = $1 RETURNING id
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

func (q *queries) SwapTOTPSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	// Under read committed a concurrent writer's row is re-checked against
	// sealed_secret = $2 after it commits: a seed replaced meanwhile is left alone.
	tag, err := q.db.Exec(ctx, `
		UPDATE totp_credentials SET sealed_secret = $3 WHERE account_id = $1 AND sealed_secret = $2`, accountID, old, sealed)
	if err != nil {
		return false, wrap("swap totp secret", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) SwapPendingSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	tag, err := q.db.Exec(ctx, `
		UPDATE pending_totp SET sealed_secret = $3 WHERE account_id = $1 AND sealed_secret = $2`, accountID, old, sealed)
	if err != nil {
		return false, wrap("swap pending secret", err)
	}
	return tag.RowsAffected() == 1, nil
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

func (q *queries) ListPendingSecrets(ctx context.Context) ([]keyward.PendingTOTP, error) {
	rows, err := q.db.Query(ctx, pendingSelect+` ORDER BY account_id`)
	if err != nil {
		return nil, wrap("list pending secrets", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.PendingTOTP, error) {
		var p keyward.PendingTOTP
		err := scanPending(row, &p)
		return p, err
	})
	return out, wrap("list pending secrets", err)
}

func (q *queries) ListTOTPCredentials(ctx context.Context) ([]keyward.TOTPCredential, error) {
	rows, err := q.db.Query(ctx, `SELECT `+totpColumns+totpFrom+` ORDER BY c.account_id`)
	if err != nil {
		return nil, wrap("list totp credentials", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.TOTPCredential, error) {
		var c keyward.TOTPCredential
		err := scanTOTP(row, &c)
		return c, err
	})
	return out, wrap("list totp credentials", err)
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

func (q *queries) DeleteExpiredPendingTOTP(ctx context.Context, now time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM pending_totp WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, wrap("delete expired pending totp", err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM mfa_challenges WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, wrap("delete expired mfa challenges", err)
	}
	return int(tag.RowsAffected()), nil
}

// ---- Throttling.

func (q *queries) AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (keyward.Throttle, error) {
	t := keyward.Throttle{Key: key}
	err := q.db.QueryRow(ctx, `
		INSERT INTO throttles AS t (key, failures, last_failure) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE
		SET failures = CASE WHEN t.last_failure < $3 THEN 1 ELSE t.failures + 1 END,
		    last_failure = $2
		RETURNING failures, last_failure`, key, now, forgetBefore).Scan(&t.Failures, &t.LastFailure)
	return t, wrap("add failure", err)
}

func (q *queries) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	t := keyward.Throttle{Key: key}
	err := q.db.QueryRow(ctx, `SELECT failures, last_failure FROM throttles WHERE key = $1`, key).
		Scan(&t.Failures, &t.LastFailure)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyward.Throttle{Key: key}, nil
	}
	return t, wrap("throttle", err)
}

func (q *queries) ClearThrottle(ctx context.Context, key string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM throttles WHERE key = $1`, key)
	return wrap("clear throttle", err)
}

func (q *queries) DeleteThrottlesBefore(ctx context.Context, before time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM throttles WHERE last_failure < $1`, before)
	if err != nil {
		return 0, wrap("delete stale throttles", err)
	}
	return int(tag.RowsAffected()), nil
}
