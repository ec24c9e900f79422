package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Webhook outbox.
//
// Only the first waiting delivery of a chain has a next_attempt_us; the
// others are NULL (waiting) until it is sent or given up, which makes the
// next one due. So the claim is the mail outbox's plain due query, however
// many of an account's events wait behind one the receiver refuses. SQLite
// writes one transaction at a time: an enqueue and the sending of its
// chain's first delivery cannot interleave.

const webhookCols = `id, chain_id, seq, body, created_us, next_attempt_us, attempts, sent_us, failed_us, last_error`

// enqueueWebhookSQL is prepared on the writer at Open (writerStmts): with
// webhooks on, every recorded event runs it. A delivery behind another of
// its chain that still waits is stored waiting.
const enqueueWebhookSQL = `INSERT INTO webhook_outbox (` + webhookCols + `)
	SELECT ?1, ?2, ?3, ?4, ?5,
		CASE WHEN EXISTS (SELECT 1 FROM webhook_outbox WHERE chain_id = ?2 AND sent_us IS NULL AND failed_us IS NULL) THEN NULL ELSE ?6 END,
		?7, ?8, ?9, ?10`

// promoteNextSQL makes the first waiting delivery of the chain of ?2 (just
// sent or given up) due at ?1.
const promoteNextSQL = `UPDATE webhook_outbox SET next_attempt_us = ?1
	WHERE id = (SELECT n.id FROM webhook_outbox n
		WHERE n.chain_id = (SELECT chain_id FROM webhook_outbox WHERE id = ?2) AND n.sent_us IS NULL AND n.failed_us IS NULL
		ORDER BY n.seq LIMIT 1)
	AND next_attempt_us IS NULL`

func scanWebhook(sc scanner) (*keyward.WebhookDelivery, error) {
	var (
		d                  keyward.WebhookDelivery
		created            int64
		next, sent, failed sql.NullInt64
	)
	if err := sc.Scan(&d.ID, &d.ChainID, &d.Seq, &d.Body, &created, &next, &d.Attempts, &sent, &failed, &d.LastError); err != nil {
		return nil, err
	}
	d.CreatedAt = fromUS(created)
	if next.Valid {
		d.NextAttemptAt = fromUS(next.Int64)
	}
	d.SentAt, d.FailedAt = timeOrNil(sent), timeOrNil(failed)
	return &d, nil
}

func (q *queries) EnqueueWebhook(ctx context.Context, d *keyward.WebhookDelivery) error {
	_, err := q.exec(ctx, enqueueWebhookSQL, d.ID, d.ChainID, d.Seq, d.Body, toUS(d.CreatedAt), toUS(d.NextAttemptAt),
		d.Attempts, nullTime(d.SentAt), nullTime(d.FailedAt), d.LastError)
	return mapErr(ctx, "enqueue webhook", err)
}

// ClaimWebhooks is one statement on the single writer: SQLite runs it
// alone, so two claims never take the same delivery.
func (q *queries) ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]keyward.WebhookDelivery, error) {
	rows, err := q.query(ctx, `UPDATE webhook_outbox SET next_attempt_us = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM webhook_outbox
			WHERE sent_us IS NULL AND failed_us IS NULL AND next_attempt_us IS NOT NULL AND next_attempt_us <= ?
			ORDER BY next_attempt_us, id LIMIT ?)
		RETURNING `+webhookCols, toUS(until), toUS(now), limit)
	if err != nil {
		return nil, mapErr(ctx, "claim webhooks", err)
	}
	out, err := collect(ctx, "claim webhooks", rows, scanWebhook)
	// RETURNING comes in no promised order.
	slices.SortFunc(out, func(a, b keyward.WebhookDelivery) int { return compareStrings(a.ID, b.ID) })
	return out, err
}

func (q *queries) NextWebhookDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := q.row(ctx, `SELECT min(next_attempt_us) FROM webhook_outbox
		WHERE sent_us IS NULL AND failed_us IS NULL AND next_attempt_us IS NOT NULL`).Scan(&next)
	if err != nil {
		return time.Time{}, mapErr(ctx, "next webhook due", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromUS(next.Int64), nil
}

// finishWebhook marks a delivery done (sent or given up) by update and
// makes the next of its chain due, together.
func (q *queries) finishWebhook(ctx context.Context, id string, at time.Time, update string, args ...any) error {
	return q.atomic(ctx, func(q *queries) error {
		if err := q.updateOne(ctx, "Webhook", update, args...); err != nil {
			return err
		}
		_, err := q.exec(ctx, promoteNextSQL, toUS(at), id)
		return mapErr(ctx, "promote webhook", err)
	})
}

func (q *queries) MarkWebhookSent(ctx context.Context, id string, at time.Time) error {
	return q.finishWebhook(ctx, id, at, `UPDATE webhook_outbox SET sent_us = ?, body = '' WHERE id = ?`, toUS(at), id)
}

func (q *queries) GiveUpWebhook(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.finishWebhook(ctx, id, at, `UPDATE webhook_outbox SET failed_us = ?, last_error = ?, body = '' WHERE id = ?`, toUS(at), lastError, id)
}

func (q *queries) RetryWebhook(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateOne(ctx, "Webhook", `UPDATE webhook_outbox SET next_attempt_us = ?, last_error = ? WHERE id = ?`, toUS(next), lastError, id)
}

func (q *queries) WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.row(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM webhook_outbox WHERE sent_us IS NULL AND failed_us IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, mapErr(ctx, "count waiting webhooks", err)
}
