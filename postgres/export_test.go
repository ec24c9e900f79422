package postgres

import (
	"context"
	"time"
)

// WatchWithKeepalive is WatchInvalidations with a keepalive of the test's
// choosing.
func (s *Store) WatchWithKeepalive(ctx context.Context, ready func(), notify func(string), keepalive time.Duration) error {
	return s.watch(ctx, ready, notify, keepalive)
}
