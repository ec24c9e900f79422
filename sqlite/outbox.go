package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Outbox.

const mailCols = `id, kind, sealed, created_us, next_attempt_us, attempts, sent_us, failed_us, last_error, account_id`

func scanMail(sc scanner) (*keyward.Mail, error) {
	var (
		m             keyward.Mail
		created, next int64
		sent, failed  sql.NullInt64
	)
	if err := sc.Scan(&m.ID, &m.Kind, &m.Sealed, &created, &next, &m.Attempts, &sent, &failed, &m.LastError, &m.AccountID); err != nil {
		return nil, err
	}
	m.CreatedAt, m.NextAttemptAt = fromUS(created), fromUS(next)
	m.SentAt, m.FailedAt = timeOrNil(sent), timeOrNil(failed)
	return &m, nil
}

func (q *queries) EnqueueMail(ctx context.Context, m *keyward.Mail) error {
	_, err := q.exec(ctx, `INSERT INTO outbox (`+mailCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, string(m.Kind), m.Sealed, toUS(m.CreatedAt), toUS(m.NextAttemptAt), m.Attempts, nullTime(m.SentAt), nullTime(m.FailedAt), m.LastError, m.AccountID)
	return mapErr(ctx, "enqueue mail", err)
}

// ClaimMails is one statement on the single writer: SQLite runs it alone,
// so two claims never take the same mail.
func (q *queries) ClaimMails(ctx context.Context, now, until time.Time, limit int) ([]keyward.Mail, error) {
	rows, err := q.query(ctx, `UPDATE outbox SET next_attempt_us = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox WHERE sent_us IS NULL AND failed_us IS NULL AND next_attempt_us <= ?
			ORDER BY next_attempt_us, id LIMIT ?)
		RETURNING `+mailCols, toUS(until), toUS(now), limit)
	if err != nil {
		return nil, mapErr(ctx, "claim mails", err)
	}
	out, err := collect(ctx, "claim mails", rows, scanMail)
	// RETURNING comes in no promised order.
	slices.SortFunc(out, func(a, b keyward.Mail) int { return compareStrings(a.ID, b.ID) })
	return out, err
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (q *queries) MarkMailSent(ctx context.Context, id string, at time.Time) error {
	return q.updateOne(ctx, "Mail", `UPDATE outbox SET sent_us = ?, sealed = '' WHERE id = ?`, toUS(at), id)
}

func (q *queries) RetryMail(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateOne(ctx, "Mail", `UPDATE outbox SET next_attempt_us = ?, last_error = ? WHERE id = ?`, toUS(next), lastError, id)
}

func (q *queries) GiveUpMail(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.updateOne(ctx, "Mail", `UPDATE outbox SET failed_us = ?, last_error = ?, sealed = '' WHERE id = ?`, toUS(at), lastError, id)
}

func (q *queries) MailsWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.row(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM outbox WHERE sent_us IS NULL AND failed_us IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, mapErr(ctx, "count waiting mails", err)
}

// Email tokens.

func (q *queries) CreateEmailToken(ctx context.Context, t *keyward.EmailToken) error {
	_, err := q.exec(ctx, `INSERT INTO email_tokens (token_hash, purpose, account_id, email, created_us, expires_us) VALUES (?, ?, ?, ?, ?, ?)`,
		t.TokenHash, string(t.Purpose), t.AccountID, t.Email, toUS(t.CreatedAt), toUS(t.ExpiresAt))
	return mapErr(ctx, "create email token", err)
}

func (q *queries) EmailToken(ctx context.Context, hash []byte) (*keyward.EmailToken, error) {
	var (
		t                keyward.EmailToken
		created, expires int64
	)
	err := q.row(ctx, `SELECT token_hash, purpose, account_id, email, created_us, expires_us FROM email_tokens WHERE token_hash = ?`, hash).
		Scan(&t.TokenHash, &t.Purpose, &t.AccountID, &t.Email, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Token")
	}
	if err != nil {
		return nil, mapErr(ctx, "read email token", err)
	}
	t.CreatedAt, t.ExpiresAt = fromUS(created), fromUS(expires)
	return &t, nil
}

func (q *queries) ConsumeEmailToken(ctx context.Context, hash []byte) (bool, error) {
	n, err := q.execCount(ctx, "consume email token", `DELETE FROM email_tokens WHERE token_hash = ?`, hash)
	return n == 1, err
}

func (q *queries) DeleteEmailTokens(ctx context.Context, accountID string, purpose keyward.TokenPurpose) (int, error) {
	if purpose == "" {
		return q.execCount(ctx, "delete email tokens", `DELETE FROM email_tokens WHERE account_id = ?`, accountID)
	}
	return q.execCount(ctx, "delete email tokens", `DELETE FROM email_tokens WHERE account_id = ? AND purpose = ?`, accountID, string(purpose))
}
