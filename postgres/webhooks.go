package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// ---- Webhook outbox.
//
// Only the first waiting delivery of a chain has a next_attempt_at; the
// others are NULL (waiting) until it is sent or given up, which makes the
// next one due. So the claim is the mail outbox's plain due query, however
// many of an account's events wait behind one the receiver refuses.
//
// An enqueue decides "waiting" by looking for a waiting delivery of its
// chain, and sending one makes the next due: the two must not interleave,
// or a delivery enqueued while its chain's first is being marked sent
// would wait for ever. The chain's audit head orders them: the service
// enqueues after LockAuditHead (SELECT … FOR UPDATE of the head row) in
// the event's transaction, and finishing a delivery takes the same row.

const webhookColumns = `id, chain_id, seq, body, created_at, next_attempt_at, attempts, sent_at, failed_at, last_error`

const enqueueWebhookSQL = `INSERT INTO webhook_outbox (` + webhookColumns + `)
	SELECT $1::text, $2::text, $3::bigint, $4::text, $5::timestamptz,
		CASE WHEN EXISTS (SELECT 1 FROM webhook_outbox WHERE chain_id = $2 AND sent_at IS NULL AND failed_at IS NULL) THEN NULL ELSE $6::timestamptz END,
		$7::integer, $8::timestamptz, $9::timestamptz, $10::text`

func scanWebhook(row pgx.Row, d *keyward.WebhookDelivery) error {
	var next *time.Time
	err := row.Scan(&d.ID, &d.ChainID, &d.Seq, &d.Body, &d.CreatedAt, &next, &d.Attempts, &d.SentAt, &d.FailedAt, &d.LastError)
	if next != nil {
		d.NextAttemptAt = *next
	}
	return err
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

// ClaimWebhooks takes the due rows (see claimDue); a delivery waiting for
// an earlier one of its chain has no next attempt yet.
func (q *queries) ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]keyward.WebhookDelivery, error) {
	return claimDue(ctx, q, "claim webhooks", "webhook_outbox", webhookColumns, "AND next_attempt_at IS NOT NULL", scanWebhook,
		func(d *keyward.WebhookDelivery) string { return d.ID }, now, until, limit)
}

func (q *queries) NextWebhookDue(ctx context.Context) (time.Time, error) {
	var next *time.Time
	err := q.db.QueryRow(ctx, `SELECT min(next_attempt_at) FROM webhook_outbox
		WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at IS NOT NULL`).Scan(&next)
	if err != nil || next == nil {
		return time.Time{}, wrap("next webhook due", err)
	}
	return *next, nil
}

// finishWebhook marks a delivery done (sent or given up) with update, and
// makes the next of its chain due at at, holding the chain's audit head.
func (q *queries) finishWebhook(ctx context.Context, op, id string, at time.Time, update string, args ...any) error {
	return q.atomic(ctx, func(q *queries) error {
		var chain string
		err := q.db.QueryRow(ctx, `SELECT chain_id FROM webhook_outbox WHERE id = $1`, id).Scan(&chain)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Webhook")
		}
		if err != nil {
			return wrap(op, err)
		}
		// No row when the chain's log was deleted: nothing appends to it.
		if _, err := q.db.Exec(ctx, `SELECT 1 FROM audit_heads WHERE chain_id = $1 FOR UPDATE`, chain); err != nil {
			return wrap(op, err)
		}
		if err := q.updateOne(ctx, op, "Webhook", update, args...); err != nil {
			return err
		}
		_, err = q.db.Exec(ctx, `UPDATE webhook_outbox SET next_attempt_at = $1
			WHERE id = (SELECT id FROM webhook_outbox WHERE chain_id = $2 AND sent_at IS NULL AND failed_at IS NULL ORDER BY seq LIMIT 1)
			AND next_attempt_at IS NULL`, at, chain)
		return wrap(op, err)
	})
}

func (q *queries) MarkWebhookSent(ctx context.Context, id string, at time.Time) error {
	return q.finishWebhook(ctx, "mark webhook sent", id, at, `UPDATE webhook_outbox SET sent_at = $2, body = '' WHERE id = $1`, id, at)
}

func (q *queries) GiveUpWebhook(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.finishWebhook(ctx, "give up webhook", id, at, `UPDATE webhook_outbox SET failed_at = $2, last_error = $3, body = '' WHERE id = $1`, id, at, lastError)
}

func (q *queries) RetryWebhook(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateOne(ctx, "retry webhook", "Webhook", `UPDATE webhook_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1`, id, next, lastError)
}

func (q *queries) WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM webhook_outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, wrap("count waiting webhooks", err)
}
