package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// dbtx is what queries run on: a pool or a transaction.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements keyward.Queries on db. store is set when db is a pool
// (outside InTx): operations of several statements then open a transaction
// of their own on the writer. tx is set when db is a transaction. stmts
// caches prepared statements (parsing is a third of a point lookup's time,
// and a quarter of an audit append's): every statement for the reader pool,
// the hot writes for the writer.
type queries struct {
	db    dbtx
	tx    *sql.Tx
	store *Store
	stmts *stmtCache
}

// stmt returns the prepared statement of query for q, or nil: run it
// unprepared.
func (q *queries) stmt(ctx context.Context, query string) *sql.Stmt {
	st := q.stmts.get(ctx, query)
	if st != nil && q.tx != nil {
		// Prepared on the writer's one connection, which the transaction
		// holds: Tx.StmtContext finds it there and prepares nothing.
		st = q.tx.StmtContext(ctx, st)
	}
	return st
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q *queries) row(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

// stmtCache holds the prepared statements of one pool, by query text. It
// stops growing at maxStmts (the event filters make a few hundred shapes at
// most); beyond, statements are parsed each time.
//
// The writer's cache is fixed: its statements are prepared at Open, and it
// never prepares another. Preparing on a *sql.DB takes a free connection,
// and inside a transaction the writer's only one is taken: that would wait
// for itself.
type stmtCache struct {
	db    *sql.DB
	fixed bool
	mu    sync.Mutex
	m     map[string]*sql.Stmt
}

const maxStmts = 1000

// prepareStmts returns a fixed cache of queries prepared on db.
func prepareStmts(ctx context.Context, db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{db: db, fixed: true, m: make(map[string]*sql.Stmt, len(queries))}
	for _, query := range queries {
		st, err := db.PrepareContext(ctx, query)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("prepare %q: %w", query, err)
		}
		c.m[query] = st
	}
	return c, nil
}

// get returns the prepared statement of query, or nil when c is nil, when
// the statement could not be prepared (the caller then runs query
// unprepared, and meets the error, if any, there) or when c is fixed and
// does not hold it.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if c.fixed {
		return c.m[query] // never written after prepareStmts
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	if !c.fixed {
		clear(c.m)
	}
}

var _ keyward.Queries = (*queries)(nil)

// atomic runs fn in a transaction: q's own, or a new one on the writer.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if q.store == nil {
		return fn(q)
	}
	return q.store.inTx(ctx, fn)
}

type scanner interface{ Scan(dest ...any) error }

// blob stores an empty byte slice as NULL; NULL reads back as nil.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// affected reports the number of rows res changed.
func affected(res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	return int(n), err
}

// Accounts.

const accountCols = `id, email, password_hash, created_us, two_factor_enabled_us`

func scanAccount(sc scanner) (*keyward.Account, error) {
	var (
		a       keyward.Account
		created int64
		enabled sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.Email, &a.PasswordHash, &created, &enabled); err != nil {
		return nil, err
	}
	a.CreatedAt = fromUS(created)
	if enabled.Valid {
		t := fromUS(enabled.Int64)
		a.TwoFactorEnabledAt = &t
	}
	return &a, nil
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return toUS(*t)
}

func (q *queries) CreateAccount(ctx context.Context, a *keyward.Account) error {
	_, err := q.exec(ctx, `INSERT INTO accounts (id, email, email_key, password_hash, created_us, two_factor_enabled_us) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Email, keyward.EmailKey(a.Email), a.PasswordHash, toUS(a.CreatedAt), nullTime(a.TwoFactorEnabledAt))
	return mapErr(ctx, "create account", err)
}

func (q *queries) account(ctx context.Context, where string, arg any) (*keyward.Account, error) {
	a, err := scanAccount(q.row(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Account")
	}
	return a, mapErr(ctx, "read account", err)
}

func (q *queries) AccountByID(ctx context.Context, id string) (*keyward.Account, error) {
	return q.account(ctx, `id = ?`, id)
}

// LockAccount needs no row lock here: inside InTx the writer's BEGIN
// IMMEDIATE already holds the database's write lock.
func (q *queries) LockAccount(ctx context.Context, id string) (*keyward.Account, error) {
	return q.account(ctx, `id = ?`, id)
}

func (q *queries) AccountByEmail(ctx context.Context, email string) (*keyward.Account, error) {
	return q.account(ctx, `email_key = ?`, keyward.EmailKey(email))
}

// updateOne runs an UPDATE that must change one row: none is notFound(what).
func (q *queries) updateOne(ctx context.Context, what, query string, args ...any) error {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return mapErr(ctx, "update "+strings.ToLower(what), err)
	}
	n, err := affected(res)
	if err != nil {
		return mapErr(ctx, "update "+strings.ToLower(what), err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

func (q *queries) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET password_hash = ? WHERE id = ?`, hash, accountID)
}

func (q *queries) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	rows, err := q.query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY created_us, id`)
	if err != nil {
		return nil, mapErr(ctx, "list accounts", err)
	}
	return collect(ctx, "list accounts", rows, scanAccount)
}

// collect scans every row with scan and closes rows.
func collect[T any](ctx context.Context, op string, rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(ctx, op, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(ctx, op, err)
	}
	return out, nil
}

// Sessions.

const sessionCols = `id, account_id, token_hash, created_us, last_seen_us, expires_us, ip, user_agent, device_browser, device_os, device_type, aal`

func scanSession(sc scanner) (*keyward.Session, error) {
	var (
		s                      keyward.Session
		created, seen, expires int64
	)
	err := sc.Scan(&s.ID, &s.AccountID, &s.TokenHash, &created, &seen, &expires, &s.IP, &s.UserAgent,
		&s.Device.Browser, &s.Device.OS, &s.Device.Type, &s.AAL)
	if err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromUS(created), fromUS(seen), fromUS(expires)
	return &s, nil
}

func (q *queries) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := q.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.AccountID, s.TokenHash, toUS(s.CreatedAt), toUS(s.LastSeenAt), toUS(s.ExpiresAt), s.IP, s.UserAgent,
		s.Device.Browser, s.Device.OS, s.Device.Type, s.AAL)
	return mapErr(ctx, "create session", err)
}

func (q *queries) session(ctx context.Context, where string, args ...any) (*keyward.Session, error) {
	s, err := scanSession(q.row(ctx, `SELECT `+sessionCols+` FROM sessions WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Session")
	}
	return s, mapErr(ctx, "read session", err)
}

func (q *queries) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	return q.session(ctx, `token_hash = ?`, blob(tokenHash))
}

func (q *queries) SessionByID(ctx context.Context, accountID, id string) (*keyward.Session, error) {
	return q.session(ctx, `id = ? AND account_id = ?`, id, accountID)
}

func (q *queries) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	rows, err := q.query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE account_id = ? AND expires_us > ? ORDER BY last_seen_us DESC, id DESC`,
		accountID, toUS(now))
	if err != nil {
		return nil, mapErr(ctx, "list sessions", err)
	}
	return collect(ctx, "list sessions", rows, scanSession)
}

func (q *queries) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	return q.updateOne(ctx, "Session", `UPDATE sessions SET last_seen_us = ? WHERE id = ?`, toUS(lastSeen), id)
}

func (q *queries) SetSessionAAL(ctx context.Context, id string, aal int) error {
	return q.updateOne(ctx, "Session", `UPDATE sessions SET aal = ? WHERE id = ?`, aal, id)
}

func (q *queries) DeleteSession(ctx context.Context, accountID, id string) (bool, error) {
	res, err := q.exec(ctx, `DELETE FROM sessions WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil {
		return false, mapErr(ctx, "delete session", err)
	}
	n, err := affected(res)
	return n > 0, mapErr(ctx, "delete session", err)
}

func (q *queries) DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error) {
	rows, err := q.query(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ? RETURNING id`, accountID, keepID)
	if err != nil {
		return nil, mapErr(ctx, "delete sessions", err)
	}
	ids, err := collect(ctx, "delete sessions", rows, func(sc scanner) (*string, error) {
		var id string
		return &id, sc.Scan(&id)
	})
	return ids, err
}

func (q *queries) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	return q.execCount(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_us <= ? OR last_seen_us < ?`, toUS(now), toUS(idleBefore))
}

func (q *queries) execCount(ctx context.Context, op, query string, args ...any) (int, error) {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(ctx, op, err)
	}
	n, err := affected(res)
	return n, mapErr(ctx, op, err)
}

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

func (q *queries) ListPendingSecrets(ctx context.Context) ([]keyward.PendingTOTP, error) {
	rows, err := q.query(ctx, pendingSelect+` ORDER BY account_id`)
	if err != nil {
		return nil, mapErr(ctx, "list pending totp", err)
	}
	return collect(ctx, "list pending totp", rows, scanPending)
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
		return q.updateOne(ctx, "Account", `UPDATE accounts SET two_factor_enabled_us = ? WHERE id = ?`, toUS(c.EnabledAt), c.AccountID)
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

func (q *queries) ListTOTPCredentials(ctx context.Context) ([]keyward.TOTPCredential, error) {
	rows, err := q.query(ctx, credentialSelect+` ORDER BY c.account_id`)
	if err != nil {
		return nil, mapErr(ctx, "list totp credentials", err)
	}
	return collect(ctx, "list totp credentials", rows, scanCredential)
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

func (q *queries) SwapTOTPSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	n, err := q.execCount(ctx, "swap totp secret", `UPDATE totp_credentials SET sealed_secret = ? WHERE account_id = ? AND sealed_secret = ?`, sealed, accountID, old)
	return n == 1, err
}

func (q *queries) SwapPendingSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	n, err := q.execCount(ctx, "swap pending secret", `UPDATE pending_totp SET sealed_secret = ? WHERE account_id = ? AND sealed_secret = ?`, sealed, accountID, old)
	return n == 1, err
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

func (q *queries) DeleteExpiredPendingTOTP(ctx context.Context, now time.Time) (int, error) {
	return q.execCount(ctx, "delete expired pending totp", `DELETE FROM pending_totp WHERE expires_us <= ?`, toUS(now))
}

func (q *queries) DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int, error) {
	return q.execCount(ctx, "delete expired mfa challenges", `DELETE FROM mfa_challenges WHERE expires_us <= ?`, toUS(now))
}

// Throttling.

func (q *queries) AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (keyward.Throttle, error) {
	th := keyward.Throttle{Key: key}
	var last int64
	err := q.row(ctx, `INSERT INTO throttles (key, failures, last_failure_us) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN last_failure_us < ? THEN 1 ELSE failures + 1 END,
			last_failure_us = excluded.last_failure_us
		RETURNING failures, last_failure_us`, key, toUS(now), toUS(forgetBefore)).Scan(&th.Failures, &last)
	if err != nil {
		return keyward.Throttle{}, mapErr(ctx, "add failure", err)
	}
	th.LastFailure = fromUS(last)
	return th, nil
}

func (q *queries) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	th := keyward.Throttle{Key: key}
	var last int64
	err := q.row(ctx, `SELECT failures, last_failure_us FROM throttles WHERE key = ?`, key).Scan(&th.Failures, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return th, nil
	}
	if err != nil {
		return keyward.Throttle{}, mapErr(ctx, "read throttle", err)
	}
	th.LastFailure = fromUS(last)
	return th, nil
}

func (q *queries) ClearThrottle(ctx context.Context, key string) error {
	_, err := q.exec(ctx, `DELETE FROM throttles WHERE key = ?`, key)
	return mapErr(ctx, "clear throttle", err)
}

func (q *queries) DeleteThrottlesBefore(ctx context.Context, before time.Time) (int, error) {
	return q.execCount(ctx, "delete stale throttles", `DELETE FROM throttles WHERE last_failure_us < ?`, toUS(before))
}

// Audit log.

// The statements of an audit append, prepared on the writer at Open (see
// writerStmts). Moving the head is also the check that e follows it, so an
// append reads the head once (LockAuditHead), not twice.
const (
	headSQL        = `SELECT ` + headCols + ` FROM audit_heads WHERE chain_id = ?`
	moveHeadSQL    = `UPDATE audit_heads SET seq = ?1, hash = ?2, seal = ?4 WHERE chain_id = ?3 AND seq = ?1 - 1`
	newHeadSQL     = `INSERT INTO audit_heads (chain_id, seq, hash, seal) VALUES (?, 1, ?, ?) ON CONFLICT (chain_id) DO NOTHING`
	insertEventSQL = `INSERT INTO audit_events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	headCols       = `chain_id, seq, hash, seal, base_seq, base_hash, base_mac, base_time_us`
)

// writerStmts are the writes prepared on the writer connection at Open: the
// audit append, which every recorded action makes.
var writerStmts = []string{headSQL, moveHeadSQL, newHeadSQL, insertEventSQL}

func (q *queries) LockAuditHead(ctx context.Context, chainID string) (audit.Head, error) {
	// Inside InTx the writer's BEGIN IMMEDIATE already holds the database's
	// write lock, which covers every head: reading is enough.
	h, err := scanHead(q.row(ctx, headSQL, chainID))
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{ChainID: chainID}, nil
	}
	if err != nil {
		return audit.Head{}, mapErr(ctx, "read audit head", err)
	}
	return h, nil
}

// scanHead reads the columns of headCols.
func scanHead(sc scanner) (audit.Head, error) {
	var (
		h  audit.Head
		us int64
	)
	err := sc.Scan(&h.ChainID, &h.Seq, &h.Hash, &h.Seal, &h.BaseSeq, &h.BaseHash, &h.BaseMAC, &us)
	if us != 0 {
		h.BaseTime = fromUS(us)
	}
	return h, err
}

const eventCols = `id, chain_id, seq, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details, prev_hash, hash, mac`

func (q *queries) AppendEvent(ctx context.Context, e *keyward.Event) error {
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("sqlite: append event: %w", err)
		}
		details = string(b)
	}
	return q.atomic(ctx, func(q *queries) error {
		// The head moves first: it moves only from e.Seq-1, so when nothing
		// moved, e does not follow it and nothing was written.
		n, err := q.execCount(ctx, "append event", moveHeadSQL, e.Seq, blob(e.Hash), e.ChainID, e.HeadSeal)
		if err != nil {
			return err
		}
		if n == 0 && e.Seq == 1 {
			// A new chain: its head is made here.
			n, err = q.execCount(ctx, "append event", newHeadSQL, e.ChainID, blob(e.Hash), e.HeadSeal)
			if err != nil {
				return err
			}
		}
		if n == 0 {
			return q.chainMoved(ctx, e)
		}
		_, err = q.exec(ctx, insertEventSQL,
			e.ID, e.ChainID, e.Seq, toUS(e.Time), string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), details, blob(e.PrevHash), blob(e.Hash), e.MAC)
		return mapErr(ctx, "append event", err)
	})
}

// chainMoved is the error of an append that does not follow the head; it
// reads the head only to say where it is.
func (q *queries) chainMoved(ctx context.Context, e *keyward.Event) error {
	var head int64
	if err := q.row(ctx, `SELECT seq FROM audit_heads WHERE chain_id = ?`, e.ChainID).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr(ctx, "append event", err)
	}
	return &keyward.Error{Code: keyward.CodeConflict, Message: "The audit log changed meanwhile. Please try again.",
		Err: fmt.Errorf("sqlite: append event %d to chain %q whose head is %d", e.Seq, e.ChainID, head)}
}

func scanEvent(sc scanner) (*keyward.Event, error) {
	var (
		e       keyward.Event
		us      int64
		details string
	)
	err := sc.Scan(&e.ID, &e.ChainID, &e.Seq, &us, &e.Type, &e.Outcome, &e.Reason, &e.IP, &e.UserAgent,
		&e.SessionID, &e.Actor, &details, &e.PrevHash, &e.Hash, &e.MAC)
	if err != nil {
		return nil, err
	}
	e.Time = fromUS(us)
	e.Details = map[string]string{}
	if details != "{}" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, fmt.Errorf("event %s details: %w", e.ID, err)
		}
		if e.Details == nil {
			e.Details = map[string]string{}
		}
	}
	return &e, nil
}

// eventQuery returns the SELECT of the events f selects, newest first.
//
// With several types of one chain it is a UNION ALL of one SELECT per type:
// each reads an index in (time, id) order and SQLite merges them, so a page
// costs its own rows and no sort of every matching event, and EachEvent
// still streams. Across every chain (the operator's list) types filter one
// walk of audit_events_time.
func eventQuery(f keyward.EventFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.ChainID != "" {
		where = append(where, `chain_id = ?`)
		args = append(args, f.ChainID)
	}
	if !f.Since.IsZero() {
		where = append(where, `time_us >= ?`)
		args = append(args, toUS(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, `time_us < ?`)
		args = append(args, toUS(f.Until))
	}
	if f.Before != nil {
		// The first term bounds the index range; the second breaks the tie.
		us := toUS(f.Before.Time)
		where = append(where, `time_us <= ? AND (time_us < ? OR id < ?)`)
		args = append(args, us, us, f.Before.ID)
	}
	types := slices.Compact(slices.Sorted(slices.Values(f.Types)))
	selectWhere := func(extra string) string {
		w := where
		if extra != "" {
			w = append(slices.Clip(w), extra)
		}
		q := `SELECT ` + eventCols + ` FROM audit_events`
		if len(w) > 0 {
			q += ` WHERE ` + strings.Join(w, ` AND `)
		}
		return q
	}
	var (
		query   string
		allArgs []any
	)
	switch {
	case len(types) == 0:
		query, allArgs = selectWhere(""), args
	case f.ChainID == "":
		// Every chain: no index leads with type, so one walk of
		// audit_events_time, newest first, skips the other types. The unary
		// + keeps the planner off a skip-scan of audit_events_chain_type_time,
		// which with ANALYZE's statistics it may prefer, and which must sort
		// every matching event before the first row.
		in := strings.Repeat(`, ?`, len(types))[2:]
		allArgs = args
		for _, t := range types {
			allArgs = append(allArgs, string(t))
		}
		query = selectWhere(`+type IN (` + in + `)`)
	default:
		arms := make([]string, len(types))
		for i, t := range types {
			arms[i] = selectWhere(`type = ?`)
			allArgs = append(append(allArgs, args...), string(t))
		}
		query = strings.Join(arms, ` UNION ALL `)
	}
	query += ` ORDER BY time_us DESC, id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		allArgs = append(allArgs, f.Limit)
	}
	return query, allArgs
}

func (q *queries) ListEvents(ctx context.Context, f keyward.EventFilter) ([]keyward.Event, error) {
	query, args := eventQuery(f)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(ctx, "list events", err)
	}
	return collect(ctx, "list events", rows, scanEvent)
}

// each streams the rows of query to fn, one at a time.
func (q *queries) each(ctx context.Context, op, query string, args []any, fn func(*keyward.Event) error) error {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return mapErr(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return mapErr(ctx, op, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return mapErr(ctx, op, rows.Err())
}

func (q *queries) EachEvent(ctx context.Context, f keyward.EventFilter, fn func(*keyward.Event) error) error {
	query, args := eventQuery(f)
	return q.each(ctx, "stream events", query, args, fn)
}

func (q *queries) EachChainEvent(ctx context.Context, chainID string, fn func(*keyward.Event) error) error {
	return q.each(ctx, "stream chain", `SELECT `+eventCols+` FROM audit_events WHERE chain_id = ? ORDER BY seq`, []any{chainID}, fn)
}

func (q *queries) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	rows, err := q.query(ctx, `SELECT `+headCols+` FROM audit_heads ORDER BY chain_id`)
	if err != nil {
		return nil, mapErr(ctx, "list audit heads", err)
	}
	return collect(ctx, "list audit heads", rows, func(sc scanner) (*audit.Head, error) {
		h, err := scanHead(sc)
		return &h, err
	})
}

func (q *queries) SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error) {
	n, err := q.execCount(ctx, "seal audit head", `UPDATE audit_heads SET seal = ? WHERE chain_id = ? AND seq = ? AND seal = ''`, seal, chainID, seq)
	return n == 1, err
}

// lastPrunedSQL finds the last event PruneEvents deletes: the one before
// the first event, in Seq order, that is not older than before.
const lastPrunedSQL = `SELECT seq, hash, mac, time_us FROM audit_events
	WHERE chain_id = ?1 AND seq < coalesce((SELECT seq FROM audit_events WHERE chain_id = ?1 AND +time_us >= ?2 ORDER BY seq LIMIT 1), 9223372036854775807)
	ORDER BY seq DESC LIMIT 1`

func (q *queries) PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error) {
	var n int
	err := q.atomic(ctx, func(q *queries) error {
		// The run to delete ends just before the first event (in Seq order)
		// that is not older than before: a later event with an earlier time
		// (clocks of two nodes disagreeing) stays, so no gap opens. The unary
		// + keeps SQLite on the (chain_id, seq) index: it walks the chain
		// from its start and stops at that first event.
		var (
			lastSeq  int64
			lastHash []byte
			lastMAC  string
			lastUS   int64
		)
		err := q.row(ctx, lastPrunedSQL, chainID, toUS(before)).Scan(&lastSeq, &lastHash, &lastMAC, &lastUS)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(ctx, "prune events", err)
		}
		if n, err = q.execCount(ctx, "prune events", `DELETE FROM audit_events WHERE chain_id = ? AND seq <= ?`, chainID, lastSeq); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE audit_heads SET base_seq = ?, base_hash = ?, base_mac = ?, base_time_us = ? WHERE chain_id = ?`,
			lastSeq, blob(lastHash), lastMAC, lastUS, chainID)
		return mapErr(ctx, "prune events", err)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Invalidations.

func (q *queries) AddInvalidation(ctx context.Context, accountID string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO invalidations (account_id, at_us) VALUES (?, ?)`, accountID, toUS(at))
	return mapErr(ctx, "add invalidation", err)
}

func (q *queries) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := q.query(ctx, `SELECT seq, account_id, at_us FROM invalidations WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, mapErr(ctx, "list invalidations", err)
	}
	return collect(ctx, "list invalidations", rows, func(sc scanner) (*keyward.Invalidation, error) {
		var (
			inv keyward.Invalidation
			us  int64
		)
		err := sc.Scan(&inv.Seq, &inv.AccountID, &us)
		inv.At = fromUS(us)
		return &inv, err
	})
}

func (q *queries) LastInvalidation(ctx context.Context) (int64, error) {
	var seq int64
	err := q.row(ctx, `SELECT coalesce(max(seq), 0) FROM invalidations`).Scan(&seq)
	return seq, mapErr(ctx, "last invalidation", err)
}

func (q *queries) DeleteInvalidationsBefore(ctx context.Context, before time.Time) (int, error) {
	return q.execCount(ctx, "delete invalidations", `DELETE FROM invalidations WHERE at_us < ?`, toUS(before))
}
