package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Webhook outbox.

const webhookCols = `id, chain_id, seq, body, created_us, next_attempt_us, attempts, sent_us, failed_us, last_error`

// enqueueWebhookSQL is prepared on the writer at Open (writerStmts): with
// webhooks on, every recorded event runs it.
const enqueueWebhookSQL = `INSERT INTO webhook_outbox (` + webhookCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// firstOfChain holds for a waiting delivery w that no earlier delivery of
// its chain waits: the head of its chain's queue.
const firstOfChain = `w.sent_us IS NULL AND w.failed_us IS NULL AND NOT EXISTS (
	SELECT 1 FROM webhook_outbox e
	WHERE e.chain_id = w.chain_id AND e.seq < w.seq AND e.sent_us IS NULL AND e.failed_us IS NULL)`

func scanWebhook(sc scanner) (*keyward.WebhookDelivery, error) {
	var (
		d             keyward.WebhookDelivery
		created, next int64
		sent, failed  sql.NullInt64
	)
	if err := sc.Scan(&d.ID, &d.ChainID, &d.Seq, &d.Body, &created, &next, &d.Attempts, &sent, &failed, &d.LastError); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NextAttemptAt = fromUS(created), fromUS(next)
	d.SentAt, d.FailedAt = timeOrNil(sent), timeOrNil(failed)
	return &d, nil
}

func (q *queries) EnqueueWebhook(ctx context.Context, d *keyward.WebhookDelivery) error {
	_, err := q.exec(ctx, enqueueWebhookSQL, d.ID, d.ChainID, d.Seq, d.Body, toUS(d.CreatedAt), toUS(d.NextAttemptAt),
		d.Attempts, nullTime(d.SentAt), nullTime(d.FailedAt), d.LastError)
	return mapErr(ctx, "enqueue webhook", err)
}

// ClaimWebhooks is one statement on the single writer: SQLite runs it
// alone, so two claims never take the same delivery, nor two of a chain.
func (q *queries) ClaimWebhooks(ctx context.Context, now, until time.Time, limit int) ([]keyward.WebhookDelivery, error) {
	rows, err := q.query(ctx, `UPDATE webhook_outbox SET next_attempt_us = ?, attempts = attempts + 1
		WHERE id IN (SELECT w.id FROM webhook_outbox w WHERE w.next_attempt_us <= ? AND `+firstOfChain+`
			ORDER BY w.next_attempt_us, w.id LIMIT ?)
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
	err := q.row(ctx, `SELECT min(w.next_attempt_us) FROM webhook_outbox w WHERE `+firstOfChain).Scan(&next)
	if err != nil {
		return time.Time{}, mapErr(ctx, "next webhook due", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromUS(next.Int64), nil
}

func (q *queries) MarkWebhookSent(ctx context.Context, id string, at time.Time) error {
	return q.updateOne(ctx, "Webhook", `UPDATE webhook_outbox SET sent_us = ?, body = '' WHERE id = ?`, toUS(at), id)
}

func (q *queries) RetryWebhook(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.updateOne(ctx, "Webhook", `UPDATE webhook_outbox SET next_attempt_us = ?, last_error = ? WHERE id = ?`, toUS(next), lastError, id)
}

func (q *queries) GiveUpWebhook(ctx context.Context, id string, at time.Time, lastError string) error {
	return q.updateOne(ctx, "Webhook", `UPDATE webhook_outbox SET failed_us = ?, last_error = ?, body = '' WHERE id = ?`, toUS(at), lastError, id)
}

func (q *queries) WebhooksWaiting(ctx context.Context) (waiting, retrying int, err error) {
	err = q.row(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM webhook_outbox WHERE sent_us IS NULL AND failed_us IS NULL`).Scan(&waiting, &retrying)
	return waiting, retrying, mapErr(ctx, "count waiting webhooks", err)
}
