package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Throttling.

func (q *queries) AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (keyward.Throttle, error) {
	t := keyward.Throttle{Key: key}
	err := q.db.QueryRow(ctx, `
		INSERT INTO throttles AS t (key, failures, last_failure) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE
		SET failures = CASE WHEN t.last_failure < $3 THEN 1 ELSE t.failures + 1 END,
		    last_failure = $2
		RETURNING failures, last_failure`, key, now, forgetBefore).Scan(&t.Failures, &t.LastFailure)
	return t, wrap("add failure", err)
}

func (q *queries) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	t := keyward.Throttle{Key: key}
	err := q.db.QueryRow(ctx, `SELECT failures, last_failure FROM throttles WHERE key = $1`, key).
		Scan(&t.Failures, &t.LastFailure)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyward.Throttle{Key: key}, nil
	}
	return t, wrap("throttle", err)
}

func (q *queries) ClearThrottle(ctx context.Context, key string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM throttles WHERE key = $1`, key)
	return wrap("clear throttle", err)
}

// ClearThrottlePrefix uses starts_with: LIKE would read % and _ in an
// email as wildcards.
func (q *queries) ClearThrottlePrefix(ctx context.Context, prefix string) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM throttles WHERE starts_with(key, $1)`, prefix)
	if err != nil {
		return 0, wrap("clear throttles", err)
	}
	return int(tag.RowsAffected()), nil
}
