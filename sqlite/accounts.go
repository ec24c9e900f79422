package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

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

func (q *queries) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	rows, err := q.query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY created_us, id`)
	if err != nil {
		return nil, mapErr(ctx, "list accounts", err)
	}
	return collect(ctx, "list accounts", rows, scanAccount)
}
