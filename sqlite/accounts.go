package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// Accounts.

const accountCols = `id, email, password_hash, created_us, two_factor_enabled_us, email_verified_us, locked_down_us, new_device_mail_off, disabled_us, language`

func scanAccount(sc scanner) (*keyward.Account, error) {
	var (
		a                         keyward.Account
		created                   int64
		enabled, verified, locked sql.NullInt64
		disabled                  sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.Email, &a.PasswordHash, &created, &enabled, &verified, &locked, &a.NewDeviceMailOff, &disabled, &a.Language); err != nil {
		return nil, err
	}
	a.CreatedAt = fromUS(created)
	a.TwoFactorEnabledAt = timeOrNil(enabled)
	a.EmailVerifiedAt = timeOrNil(verified)
	a.LockedDownAt = timeOrNil(locked)
	a.DisabledAt = timeOrNil(disabled)
	return &a, nil
}

func timeOrNil(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromUS(us.Int64)
	return &t
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return toUS(*t)
}

func (q *queries) CreateAccount(ctx context.Context, a *keyward.Account) error {
	_, err := q.exec(ctx, insertAccountSQL, accountArgs(a)...)
	return mapErr(ctx, "create account", err)
}

// insertAccountSQL writes every column of an account (sign-up and import).
const insertAccountSQL = `INSERT INTO accounts (id, email, email_key, password_hash, created_us, two_factor_enabled_us, email_verified_us, locked_down_us, new_device_mail_off, disabled_us, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func accountArgs(a *keyward.Account) []any {
	return []any{a.ID, a.Email, keyward.EmailKey(a.Email), a.PasswordHash, toUS(a.CreatedAt), nullTime(a.TwoFactorEnabledAt),
		nullTime(a.EmailVerifiedAt), nullTime(a.LockedDownAt), a.NewDeviceMailOff, nullTime(a.DisabledAt), a.Language}
}

func (q *queries) MarkEmailVerified(ctx context.Context, accountID, email string, at time.Time) (bool, error) {
	n, err := q.execCount(ctx, "mark email verified", `UPDATE accounts SET email_verified_us = ? WHERE id = ? AND email_key = ? AND email_verified_us IS NULL`,
		toUS(at), accountID, keyward.EmailKey(email))
	return n == 1, err
}

func (q *queries) SetEmail(ctx context.Context, accountID, email string, verifiedAt *time.Time) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET email = ?, email_key = ?, email_verified_us = ? WHERE id = ?`,
		email, keyward.EmailKey(email), nullTime(verifiedAt), accountID)
}

func (q *queries) SetLockedDown(ctx context.Context, accountID string, at *time.Time) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET locked_down_us = ? WHERE id = ?`, nullTime(at), accountID)
}

func (q *queries) SetDisabled(ctx context.Context, accountID string, at *time.Time) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET disabled_us = ? WHERE id = ?`, nullTime(at), accountID)
}

// FindAccounts walks the primary key down from BeforeID; instr matches
// the text as it is (an empty one matches every email).
func (q *queries) FindAccounts(ctx context.Context, f keyward.AccountFilter) ([]keyward.Account, error) {
	rows, err := q.query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE (?1 = '' OR id < ?1) AND instr(email_key, ?2) > 0 ORDER BY id DESC LIMIT ?3`, f.BeforeID, f.EmailContains, f.Limit)
	if err != nil {
		return nil, mapErr(ctx, "find accounts", err)
	}
	return collect(ctx, "find accounts", rows, scanAccount)
}

// DeleteAccount deletes the account (its sessions, factors, challenges and
// email tokens go with it: ON DELETE CASCADE), its mails and its audit
// chain, in one transaction. Inside InTx the writer's lock keeps every
// append to the chain out until it commits.
func (q *queries) DeleteAccount(ctx context.Context, accountID string) error {
	return q.atomic(ctx, func(q *queries) error {
		n, err := q.execCount(ctx, "delete account", `DELETE FROM accounts WHERE id = ?`, accountID)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("Account")
		}
		for _, stmt := range []struct{ op, sql string }{
			{"delete account mails", `DELETE FROM outbox WHERE account_id = ?`},
			// Its events go with it, so do their webhooks still waiting.
			{"delete account webhooks", `DELETE FROM webhook_outbox WHERE chain_id = ?`},
			{"delete account events", `DELETE FROM audit_events WHERE chain_id = ?`},
			{"delete account chain", `DELETE FROM audit_heads WHERE chain_id = ?`},
		} {
			if _, err := q.execCount(ctx, stmt.op, stmt.sql, accountID); err != nil {
				return err
			}
		}
		return nil
	})
}

func (q *queries) SetAccountLanguage(ctx context.Context, accountID, language string) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET language = ? WHERE id = ?`, language, accountID)
}

func (q *queries) SetNewDeviceMail(ctx context.Context, accountID string, on bool) error {
	return q.updateOne(ctx, "Account", `UPDATE accounts SET new_device_mail_off = ? WHERE id = ?`, !on, accountID)
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

func (q *queries) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	rows, err := q.query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY created_us, id`)
	if err != nil {
		return nil, mapErr(ctx, "list accounts", err)
	}
	return collect(ctx, "list accounts", rows, scanAccount)
}
