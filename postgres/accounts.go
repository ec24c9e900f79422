package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Accounts.

const accountColumns = `id, email, password_hash, created_at, two_factor_enabled_at, email_verified_at, locked_down_at, new_device_mail_off, disabled_at, language`

func scanAccount(row pgx.Row, a *keyward.Account) error {
	return row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.CreatedAt, &a.TwoFactorEnabledAt, &a.EmailVerifiedAt, &a.LockedDownAt, &a.NewDeviceMailOff, &a.DisabledAt, &a.Language)
}

func (q *queries) CreateAccount(ctx context.Context, a *keyward.Account) error {
	// ON CONFLICT keeps a caller's transaction usable when the email is
	// taken (a unique violation would abort it); a race for the same email
	// waits for the other transaction and then sees its row.
	tag, err := q.db.Exec(ctx, `
		INSERT INTO accounts (`+accountInsertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (email_key) DO NOTHING`, accountValues(a)...)
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

// accountInsertColumns are every column of an account, as accountValues
// gives them (sign-up and import).
var accountInsertColumns = strings.Join(accountInsertColumnList, ", ")

var accountInsertColumnList = []string{"id", "email", "email_key", "password_hash", "created_at", "two_factor_enabled_at", "email_verified_at", "locked_down_at", "new_device_mail_off", "disabled_at", "language"}

func accountValues(a *keyward.Account) []any {
	return []any{a.ID, a.Email, keyward.EmailKey(a.Email), a.PasswordHash, a.CreatedAt, a.TwoFactorEnabledAt, a.EmailVerifiedAt, a.LockedDownAt, a.NewDeviceMailOff, a.DisabledAt, a.Language}
}

func (q *queries) updateAccount(ctx context.Context, op, sql string, args ...any) error {
	tag, err := q.db.Exec(ctx, sql, args...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Account")
	}
	return nil
}

func (q *queries) MarkEmailVerified(ctx context.Context, accountID, email string, at time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE accounts SET email_verified_at = $3 WHERE id = $1 AND email_key = $2 AND email_verified_at IS NULL`,
		accountID, keyward.EmailKey(email), at)
	if err != nil {
		return false, wrap("mark email verified", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) SetEmail(ctx context.Context, accountID, email string, verifiedAt *time.Time) error {
	err := q.updateAccount(ctx, "set email", `UPDATE accounts SET email = $2, email_key = $3, email_verified_at = $4 WHERE id = $1`,
		accountID, email, keyward.EmailKey(email), verifiedAt)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "accounts_email_key_unique" {
		return &keyward.Error{Code: keyward.CodeEmailTaken, Message: "An account with this email already exists.", Err: err}
	}
	return err
}

func (q *queries) SetLockedDown(ctx context.Context, accountID string, at *time.Time) error {
	return q.updateAccount(ctx, "set locked down", `UPDATE accounts SET locked_down_at = $2 WHERE id = $1`, accountID, at)
}

func (q *queries) SetDisabled(ctx context.Context, accountID string, at *time.Time) error {
	return q.updateAccount(ctx, "set disabled", `UPDATE accounts SET disabled_at = $2 WHERE id = $1`, accountID, at)
}

// FindAccounts walks the primary key down from BeforeID; strpos matches
// the text as it is (an empty one matches every email).
func (q *queries) FindAccounts(ctx context.Context, f keyward.AccountFilter) ([]keyward.Account, error) {
	rows, err := q.db.Query(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE ($1 = '' OR id < $1) AND strpos(email_key, $2) > 0 ORDER BY id DESC LIMIT $3`, f.BeforeID, f.EmailContains, f.Limit)
	if err != nil {
		return nil, wrap("find accounts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Account, error) {
		var a keyward.Account
		err := scanAccount(row, &a)
		return a, err
	})
	return out, wrap("find accounts", err)
}

// DeleteAccount deletes the account (its sessions, factors, challenges and
// email tokens go with it: ON DELETE CASCADE), its mails and its audit
// chain, in one transaction. The chain's head is locked before its events
// are deleted: an append in flight (which holds the head) commits first
// and its event is deleted too, and a later one finds no head (the
// service then refuses to start a chain for a missing account). The
// append-only trigger lets this transaction delete events as it lets
// pruning.
func (q *queries) DeleteAccount(ctx context.Context, accountID string) error {
	return wrap("delete account", q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, accountID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Account")
		}
		var locked int
		if err := q.db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM audit_heads WHERE chain_id = $1 FOR UPDATE) h`, accountID).Scan(&locked); err != nil {
			return err
		}
		for _, sql := range []string{
			`SELECT set_config('keyward.account_delete', 'on', true)`,
			`DELETE FROM audit_events WHERE chain_id = $1`,
			`DELETE FROM audit_heads WHERE chain_id = $1`,
			`DELETE FROM outbox WHERE account_id = $1`,
			// Its events go with it, so do their webhooks still waiting.
			`DELETE FROM webhook_outbox WHERE chain_id = $1`,
			`SELECT set_config('keyward.account_delete', 'off', true)`,
		} {
			args := []any{accountID}
			if strings.HasPrefix(sql, "SELECT") {
				args = nil
			}
			if _, err := q.db.Exec(ctx, sql, args...); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (q *queries) SetAccountLanguage(ctx context.Context, accountID, language string) error {
	return q.updateAccount(ctx, "set account language", `UPDATE accounts SET language = $2 WHERE id = $1`, accountID, language)
}

func (q *queries) SetNewDeviceMail(ctx context.Context, accountID string, on bool) error {
	return q.updateAccount(ctx, "set new device mail", `UPDATE accounts SET new_device_mail_off = $2 WHERE id = $1`, accountID, !on)
}
