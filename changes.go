package keyward

import (
	"context"
	"errors"
)

// errUnchanged, returned by a changeAccount change, commits what it did
// (nothing, usually: the session was already gone) without telling other
// nodes: their caches have nothing to drop.
var errUnchanged = errors.New("nothing changed")

// changeAccount runs change in one transaction and writes, last in it (on
// PostgreSQL the row holds a lock until commit), the invalidation row from
// which every other node drops the account's cached sessions. Then it drops
// this node's, even when the transaction failed: an error may come after a
// commit, and an eviction is cheap. Every change that ends sessions or
// changes what a cached session or account says (a factor, an assurance
// level) goes through here.
func (s *Service) changeAccount(ctx context.Context, accountID string, change func(q Queries) error) error {
	err := s.store.InTx(ctx, func(q Queries) error {
		switch err := change(q); {
		case errors.Is(err, errUnchanged):
			return nil
		case err != nil:
			return err
		}
		return q.AddInvalidation(ctx, accountID, s.clock())
	})
	s.cache.evictAccount(accountID)
	return err
}
