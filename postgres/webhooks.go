package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// ---- Webhook outbox.

const webhookColumns = `id, chain_id, seq, body, created_at, next_attempt_at, attempts, sent_at, failed_at, last_error`

const enqueueWebhookSQL = `INSERT INTO webhook_outbox (` + webhookColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// firstOfChain holds for a waiting delivery w that no earlier delivery of
// its chain waits: the head of its chain's queue.
const firstOfChain = `w.sent_at IS NULL AND w.failed_at IS NULL AND NOT EXISTS (
	SELECT 1 FROM webhook_outbox e
	WHERE e.chain_id = w.chain_id AND e.seq < w.seq AND e.sent_at IS NULL AND e.failed_at IS NULL)`

func scanWebhook(row pgx.Row, d *keyward.WebhookDelivery) error {
	return row.Scan(&d.ID, &d.ChainID, &d.Seq, &d.Body, &d.CreatedAt, &d.NextAttemptAt, &d.Attempts, &d.SentAt, &d.FailedAt, &d.LastError)
}

// EnqueueWebhook in a transaction goes with the transaction's next
// statement or its COMMIT, like the event it follows: a webhook costs no
// round trip of its own. Its only way to fail is on the server, which then
// aborts the transaction.
func (q *queries) EnqueueWebhook(ctx context.Context, d *keyward.WebhookDelivery) error {
	args := []any{d.ID, d.ChainID, d.Seq, d.Body, d.CreatedAt, d.NextAttemptAt, d.Attempts, d.SentAt, d.FailedAt, d.LastError}
	if t, ok := q.db.(*tx); ok {
		t.deferExec(enqueueWebhookSQL, args, func(_ pgconn.CommandTag, err error) error { return wrap("enqueue webhook", err) })
		return nil
	}
	_, err := q.db.Exec(ctx, enqueueWebhookSQL, args...)
	return wrap("enqueue webhook", err)
}

// ClaimWebhooks takes the due heads of their chains with FOR UPDATE SKIP
// LOCKED: a claim on another node that holds some rows is skipped, not
// waited for, and the rows it holds are no longer due once it commits.
// While it holds a chain's head, that chain's next delivery is no head
// (the held one still waits), so no two claims take two of one chain.
func (q *queries) ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]keyward.WebhookDelivery, error) {
	rows, err := q.db.Query(ctx, `
		UPDATE webhook_outbox o SET next_attempt_at = $1, attempts = o.attempts + 1
		FROM (SELECT w.id FROM webhook_outbox w
			WHERE w.next_attempt_at <= $2 AND `+firstOfChain+`
			ORDER BY w.next_attempt_at, w.id LIMIT $3
			FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.id, o.chain_id, o.seq, o.body, o.created_at, o.next_attempt_at, o.attempts, o.sent_at, o.failed_at, o.last_error`,
		until, now, limit)
	if err != nil {
		return nil, wrap("claim webhooks", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.WebhookDelivery, error) {
		var d keyward.WebhookDelivery
		err := scanWebhook(row, &d)
		return d, err
	})
	slices.SortFunc(out, func(a, b keyward.WebhookDelivery) int { return strings.Compare(a.ID, b.ID) })
	return out, wrap("claim webhooks", err)
}

func (q *queries) NextWebhookDue(ctx context.Context) (time.Time, error) {
	var next *time.Time
	err := q.db.QueryRow(ctx, `SELECT min(w.next_attempt_at) FROM webhook_outbox w WHERE `+firstOfChain).Scan(&next)
	if err != nil || next == nil {
		return time.Time{}, wrap("next webhook due", err)
	}
	return *next, nil
}

func (q *queries) updateWebhook(ctx context.Context, op, sql string, args ...any) error {
	tag, err := q.db.Exec(ctx, sql, args...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Webhook")
	}
	return nil
}

func (q *queries) MarkWebhookSent(ctx context.Context, id string, at time.Time) error {
	return q.updateWebhook(ctx, "mark webhook sent", `UPDATE webhook_outbox SET sent_at = $2, body = '' WHERE id = $1`, id, at)
}

func (q *queries) RetryWebhook(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateWebhook(ctx, "retry webhook", `UPDATE webhook_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1`, id, next, lastError)
}

func (q *queries) GiveUpWebhook(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.updateWebhook(ctx, "give up webhook", `UPDATE webhook_outbox SET failed_at = $2, last_error = $3, body = '' WHERE id = $1`, id, at, lastError)
}

func (q *queries) WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM webhook_outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, wrap("count waiting webhooks", err)
}
