package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Outbox.

const mailColumns = `id, kind, sealed, created_at, next_attempt_at, attempts, sent_at, failed_at, last_error, account_id`

func scanMail(row pgx.Row, m *keyward.Mail) error {
	return row.Scan(&m.ID, &m.Kind, &m.Sealed, &m.CreatedAt, &m.NextAttemptAt, &m.Attempts, &m.SentAt, &m.FailedAt, &m.LastError, &m.AccountID)
}

func (q *queries) EnqueueMail(ctx context.Context, m *keyward.Mail) error {
	_, err := q.db.Exec(ctx, `INSERT INTO outbox (`+mailColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		m.ID, string(m.Kind), m.Sealed, m.CreatedAt, m.NextAttemptAt, m.Attempts, m.SentAt, m.FailedAt, m.LastError, m.AccountID)
	return wrap("enqueue mail", err)
}

// ClaimMails takes the due rows (see claimDue).
func (q *queries) ClaimMails(ctx context.Context, now, until time.Time, limit int) ([]keyward.Mail, error) {
	return claimDue(ctx, q, "claim mails", "outbox", mailColumns, "", scanMail,
		func(m *keyward.Mail) string { return m.ID }, now, until, limit)
}

// claimDue takes up to limit rows of an outbox table that are due at now
// (and match also, when given) with FOR UPDATE SKIP LOCKED, and makes them
// due again at until, counting the attempt: a claim on another node that
// holds some rows is skipped, not waited for, and the rows it holds are no
// longer due once it commits. The rows come back in id order.
func claimDue[T any](ctx context.Context, q *queries, op, table, columns, also string,
	scan func(pgx.Row, *T) error, id func(*T) string, now, until time.Time, limit int) ([]T, error) {
	rows, err := q.db.Query(ctx, `
		UPDATE `+table+` o SET next_attempt_at = $1, attempts = o.attempts + 1
		FROM (SELECT id FROM `+table+`
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 `+also+`
			ORDER BY next_attempt_at, id LIMIT $3
			FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.`+strings.ReplaceAll(columns, ", ", ", o."),
		until, now, limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var v T
		err := scan(row, &v)
		return v, err
	})
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(id(&a), id(&b)) })
	return out, wrap(op, err)
}

// updateOne runs an update that must change a row: what (a Mail, a
// Webhook) is not found when it changes none.
func (q *queries) updateOne(ctx context.Context, op, what, sql string, args ...any) error {
	tag, err := q.db.Exec(ctx, sql, args...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(what)
	}
	return nil
}

func (q *queries) MarkMailSent(ctx context.Context, id string, at time.Time) error {
	return q.updateOne(ctx, "mark mail sent", "Mail", `UPDATE outbox SET sent_at = $2, sealed = '' WHERE id = $1`, id, at)
}

func (q *queries) RetryMail(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateOne(ctx, "retry mail", "Mail", `UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1`, id, next, lastError)
}

func (q *queries) GiveUpMail(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.updateOne(ctx, "give up mail", "Mail", `UPDATE outbox SET failed_at = $2, last_error = $3, sealed = '' WHERE id = $1`, id, at, lastError)
}

func (q *queries) MailsWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, wrap("count waiting mails", err)
}

// ---- Email tokens.

func (q *queries) CreateEmailToken(ctx context.Context, t *keyward.EmailToken) error {
	_, err := q.db.Exec(ctx, `INSERT INTO email_tokens (token_hash, purpose, account_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.TokenHash, string(t.Purpose), t.AccountID, t.Email, t.CreatedAt, t.ExpiresAt)
	return wrap("create email token", accountMissing(err))
}

func (q *queries) EmailToken(ctx context.Context, hash []byte) (*keyward.EmailToken, error) {
	var t keyward.EmailToken
	err := q.db.QueryRow(ctx, `SELECT token_hash, purpose, account_id, email, created_at, expires_at FROM email_tokens WHERE token_hash = $1`, hash).
		Scan(&t.TokenHash, &t.Purpose, &t.AccountID, &t.Email, &t.CreatedAt, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Token")
	}
	if err != nil {
		return nil, wrap("email token", err)
	}
	return &t, nil
}

func (q *queries) ConsumeEmailToken(ctx context.Context, hash []byte) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM email_tokens WHERE token_hash = $1`, hash)
	if err != nil {
		return false, wrap("consume email token", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *queries) DeleteEmailTokens(ctx context.Context, accountID string, purpose keyward.TokenPurpose) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM email_tokens WHERE account_id = $1 AND ($2 = '' OR purpose = $2)`, accountID, string(purpose))
	if err != nil {
		return 0, wrap("delete email tokens", err)
	}
	return int(tag.RowsAffected()), nil
}
