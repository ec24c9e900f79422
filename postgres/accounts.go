package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

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
