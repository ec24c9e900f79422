package keyward

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The session cache keeps the per-request check off the store. It is only
// trusted while this node follows the store's invalidation log: the watcher
// enables it, and disables it (every lookup goes to the store) whenever the
// log cannot be read, so a revoked session is never served from a stale copy.

const (
	defaultCacheSize = 100_000
	// pollInterval bounds how late another node's change reaches this cache
	// when no push notification arrives.
	pollInterval     = 500 * time.Millisecond
	pollTimeout      = 2 * time.Second
	invalidationKeep = time.Hour
)

type cacheEntry struct {
	account Account
	session Session
}

type sessionCache struct {
	mu        sync.RWMutex
	enabled   bool
	gen       uint64 // bumped by every eviction, so a load that raced one is not stored
	max       int
	entries   map[tokenHash]*cacheEntry
	byAccount map[string]map[tokenHash]struct{}
	missing   map[tokenHash]struct{}
}

func newSessionCache(max int) *sessionCache {
	c := &sessionCache{max: max}
	c.reset()
	return c
}

func (c *sessionCache) reset() {
	c.entries = make(map[tokenHash]*cacheEntry)
	c.byAccount = make(map[string]map[tokenHash]struct{})
	c.missing = make(map[tokenHash]struct{})
	c.gen++
}

func (c *sessionCache) get(key tokenHash) (*cacheEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.enabled {
		return nil, false
	}
	e, ok := c.entries[key]
	return e, ok
}

// generation returns the current generation and whether caching is on.
func (c *sessionCache) generation() (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen, c.enabled
}

func (c *sessionCache) knownMissing(key tokenHash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.missing[key]
	return ok
}

func (c *sessionCache) put(key tokenHash, e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || c.gen != gen {
		return
	}
	if len(c.entries) >= c.max {
		c.reset() // simple and bounded; a full cache refills from the store
		return
	}
	c.entries[key] = e
	ids := c.byAccount[e.account.ID]
	if ids == nil {
		ids = make(map[tokenHash]struct{})
		c.byAccount[e.account.ID] = ids
	}
	ids[key] = struct{}{}
}

func (c *sessionCache) putMissing(key tokenHash, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || c.gen != gen {
		return
	}
	if len(c.missing) >= c.max {
		clear(c.missing)
	}
	c.missing[key] = struct{}{}
}

// touch returns a copy of e with a new last-seen time, and caches it in
// e's place when e is still the cached entry of key. Entries are replaced,
// never changed in place: readers hold them without a lock.
func (c *sessionCache) touch(key tokenHash, e *cacheEntry, at time.Time) *cacheEntry {
	copied := *e
	copied.session.LastSeenAt = at
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] == e {
		c.entries[key] = &copied
	}
	return &copied
}

func (c *sessionCache) evictAccount(accountID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for key := range c.byAccount[accountID] {
		delete(c.entries, key)
	}
	delete(c.byAccount, accountID)
}

func (c *sessionCache) setEnabled(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.enabled != on {
		c.reset()
	}
	c.enabled = on
}

// RunCacheWatcher follows the store's invalidation log and keeps the session
// cache in step with it until ctx ends. While it runs and can read the log,
// the cache serves; otherwise every check goes to the store. With a store
// that pushes notifications (PostgreSQL), changes arrive at once; the poll
// bounds the delay either way.
func (s *Service) RunCacheWatcher(ctx context.Context) {
	defer s.cache.setEnabled(false)
	wake := make(chan struct{}, 1)
	pushed := make(chan bool, 1) // true while a push connection is listening
	if n, ok := s.store.(InvalidationNotifier); ok {
		go s.watchPushes(ctx, n, wake, pushed)
	} else {
		pushed <- true
	}
	var mark invalidationMark
	synced, listening := false, false
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		// A poll that cannot finish in time counts as failed: a store that
		// stopped answering must switch the cache off, not leave it on.
		pollCtx, cancel := context.WithTimeout(ctx, pollTimeout)
		var err error
		if !synced {
			// Start from the present: the cache is empty, so nothing older matters.
			mark = invalidationMark{seen: make(map[int64]struct{})}
			mark.seq, err = s.store.LastInvalidation(pollCtx)
			synced = err == nil
		} else {
			err = mark.apply(pollCtx, s.store, s.cache)
		}
		cancel()
		if err != nil {
			synced = false
			if ctx.Err() == nil {
				s.log.Warn("session cache off: cannot read invalidations", "err", err)
			}
		}
		s.cache.setEnabled(synced && listening)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-wake:
		case listening = <-pushed:
			if !listening {
				s.cache.setEnabled(false)
			}
		}
	}
}

// invalidationLookback is how far behind its mark the watcher reads again.
// Sequence numbers are taken when a row is written but become visible when
// its transaction commits, so on a store with concurrent writers a lower
// number can appear after a higher one was read.
const invalidationLookback = 256

// invalidationMark is how far the watcher has read the log.
type invalidationMark struct {
	seq  int64
	seen map[int64]struct{} // rows already applied within the lookback
}

// apply evicts what changed since the mark and advances it.
func (m *invalidationMark) apply(ctx context.Context, store Store, cache *sessionCache) error {
	from := m.seq - invalidationLookback
	for {
		rows, err := store.InvalidationsSince(ctx, from, 1000)
		if err != nil {
			return err
		}
		for _, r := range rows {
			from = r.Seq
			if _, done := m.seen[r.Seq]; done {
				continue
			}
			cache.evictAccount(r.AccountID)
			m.seen[r.Seq] = struct{}{}
			m.seq = max(m.seq, r.Seq)
		}
		if len(rows) < 1000 {
			break
		}
	}
	for seq := range m.seen {
		if seq <= m.seq-invalidationLookback {
			delete(m.seen, seq)
		}
	}
	return nil
}

// watchPushes keeps a push connection open, reconnecting after a pause, and
// reports through pushed whether it is listening.
func (s *Service) watchPushes(ctx context.Context, n InvalidationNotifier, wake chan<- struct{}, pushed chan<- bool) {
	signal := func(ch chan<- struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	report := func(on bool) {
		select {
		case pushed <- on:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil {
		err := n.WatchInvalidations(ctx,
			func() { report(true); signal(wake) },
			func(accountID string) {
				// Evicted at once: reading the log first would add a round
				// trip to the store, under load the longest part of the
				// time an ended session is still served. The log is read
				// all the same (it is the record; a notification may be
				// lost with its connection).
				if accountID != "" {
					s.cache.evictAccount(accountID)
				}
				signal(wake)
			})
		report(false)
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return
		}
		s.log.Warn("invalidation notifications lost; session cache off until they resume", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// CacheEnabled reports whether the session cache is serving.
func (s *Service) CacheEnabled() bool {
	_, on := s.cache.generation()
	return on
}
