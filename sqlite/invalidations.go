package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// Invalidations.

func (q *queries) AddInvalidation(ctx context.Context, accountID string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO invalidations (account_id, at_us) VALUES (?, ?)`, accountID, toUS(at))
	return mapErr(ctx, "add invalidation", err)
}

func (q *queries) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := q.query(ctx, `SELECT seq, account_id, at_us FROM invalidations WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, mapErr(ctx, "list invalidations", err)
	}
	return collect(ctx, "list invalidations", rows, func(sc scanner) (*keyward.Invalidation, error) {
		var (
			inv keyward.Invalidation
			us  int64
		)
		err := sc.Scan(&inv.Seq, &inv.AccountID, &us)
		inv.At = fromUS(us)
		return &inv, err
	})
}

func (q *queries) LastInvalidation(ctx context.Context) (int64, error) {
	var seq int64
	err := q.row(ctx, `SELECT coalesce(max(seq), 0) FROM invalidations`).Scan(&seq)
	return seq, mapErr(ctx, "last invalidation", err)
}
