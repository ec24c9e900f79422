package postgres

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// WatchWithKeepalive is WatchInvalidations with a keepalive of the test's
// choosing.
func (s *Store) WatchWithKeepalive(ctx context.Context, ready func(), notify func(string), keepalive time.Duration) error {
	return s.watch(ctx, ready, notify, keepalive)
}

// InTxThenExec runs fn and then sql in one transaction: what a statement
// after fn's may do in it.
func (s *Store) InTxThenExec(ctx context.Context, fn func(q keyward.Queries) error, sql string) error {
	return s.inTx(ctx, func(q *queries) error {
		if err := fn(q); err != nil {
			return err
		}
		_, err := q.db.Exec(ctx, sql)
		return err
	})
}
