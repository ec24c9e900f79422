package keyward_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// pushStore is a store that pushes news of invalidations, as PostgreSQL's
// LISTEN/NOTIFY does, when the test sends an account on pushes; while
// lagging, its log reads find nothing new.
type pushStore struct {
	keyward.Store
	pushes  chan string
	lagging atomic.Bool
}

func (p *pushStore) WatchInvalidations(ctx context.Context, ready func(), notify func(accountID string)) error {
	ready()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case account := <-p.pushes:
			notify(account)
		}
	}
}

func (p *pushStore) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	if p.lagging.Load() {
		return nil, nil
	}
	return p.Store.InvalidationsSince(ctx, after, limit)
}

// TestPushedAccountIsEvictedAtOnce: a node evicts the account a pushed
// notification names before it reads the invalidation log, so an ended
// session stops being served as soon as the news arrives, however slow
// the store is to answer the read that follows.
func TestPushedAccountIsEvictedAtOnce(t *testing.T) {
	a := keywardtest.New(t, keywardtest.Options{})
	store := &pushStore{Store: a.Store, pushes: make(chan string)}
	b := keywardtest.New(t, keywardtest.Options{Store: store, Clock: a.Clock, Keys: a.Keys})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Svc.RunCacheWatcher(wctx)
	for deadline := time.Now().Add(5 * time.Second); !b.Svc.CacheEnabled(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node B's session cache never switched on")
		}
	}
	account := signUp(t, a, "ada@example.com")
	res := signIn(t, a, "ada@example.com", laptop)
	if _, _, err := b.Svc.Authenticate(ctx, res.Token); err != nil { // now cached on B
		t.Fatal(err)
	}
	store.lagging.Store(true)
	if err := a.Svc.SignOut(ctx, res.Session, laptop); err != nil {
		t.Fatal(err)
	}
	// The log read finds nothing yet and no news has come: B still serves
	// its copy (what makes the push the only way it can learn).
	time.Sleep(50 * time.Millisecond)
	if got := answer(b, res.Token); got == "refused" {
		t.Fatal("node B refused the session before any news reached it: the test cannot tell eviction by push")
	}
	store.pushes <- account.ID
	for deadline := time.Now().Add(time.Second); answer(b, res.Token) != "refused"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node B still serves the session a second after the pushed news of its account")
		}
	}
}
