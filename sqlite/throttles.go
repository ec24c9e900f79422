package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// Throttling.

func (q *queries) AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (keyward.Throttle, error) {
	th := keyward.Throttle{Key: key}
	var last int64
	err := q.row(ctx, `INSERT INTO throttles (key, failures, last_failure_us) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN last_failure_us < ? THEN 1 ELSE failures + 1 END,
			last_failure_us = excluded.last_failure_us
		RETURNING failures, last_failure_us`, key, toUS(now), toUS(forgetBefore)).Scan(&th.Failures, &last)
	if err != nil {
		return keyward.Throttle{}, mapErr(ctx, "add failure", err)
	}
	th.LastFailure = fromUS(last)
	return th, nil
}

func (q *queries) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	th := keyward.Throttle{Key: key}
	var last int64
	err := q.row(ctx, `SELECT failures, last_failure_us FROM throttles WHERE key = ?`, key).Scan(&th.Failures, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return th, nil
	}
	if err != nil {
		return keyward.Throttle{}, mapErr(ctx, "read throttle", err)
	}
	th.LastFailure = fromUS(last)
	return th, nil
}

func (q *queries) ClearThrottle(ctx context.Context, key string) error {
	_, err := q.exec(ctx, `DELETE FROM throttles WHERE key = ?`, key)
	return mapErr(ctx, "clear throttle", err)
}

// ClearThrottlePrefix compares the key's first characters with the prefix
// as they are: LIKE would read % and _ in an email as wildcards.
func (q *queries) ClearThrottlePrefix(ctx context.Context, prefix string) (int, error) {
	return q.execCount(ctx, "clear throttles", `DELETE FROM throttles WHERE substr(key, 1, length(?1)) = ?1`, prefix)
}
