// Package keywardtest builds a complete keyward Service for tests, on a real
// store: SQLite in a temporary folder by default, or a fresh PostgreSQL
// database when KEYWARD_TEST_ENGINE=postgres (so the same service and HTTP
// tests run on both engines).
package keywardtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/passkey/passkeytest"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/sqlite"
)

// EngineEnv chooses the store engine of NewStore: "sqlite" (default) or "postgres".
const EngineEnv = "KEYWARD_TEST_ENGINE"

// Clock is a settable clock for Service.Now: tests move time instead of sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewStore returns a fresh, migrated store closed when the test ends.
func NewStore(t testing.TB) keyward.Store {
	t.Helper()
	ctx := context.Background()
	var (
		store keyward.Store
		err   error
	)
	switch os.Getenv(EngineEnv) {
	case "", "sqlite":
		store, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	case "postgres":
		store = pgtest.New(t)
	default:
		t.Fatalf("%s must be sqlite or postgres", EngineEnv)
	}
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// FastHasher hashes with tiny argon2id parameters: real hashing, test speed.
func FastHasher() *password.Hasher {
	return password.NewHasher(FastParams(), 8, 5*time.Second)
}

// FastParams are the argon2id parameters of FastHasher.
func FastParams() password.Params {
	return password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Policy is the default password policy with the built-in breached list.
func Policy() password.Policy {
	return password.Policy{MinLength: 8, MaxLength: 1024, MinScore: 2, Breached: []password.BreachedChecker{password.CommonPasswords()}}
}

// Env is a wired service and what it was built from.
type Env struct {
	Store keyward.Store
	Svc   *keyward.Service
	Clock *Clock
	Keys  *keyring.Keyring
	Dir   string
	// Challenges is the randomness of the service's passkey challenges:
	// push a recorded ceremony's challenge (package passkeytest) before
	// beginning it, to finish it with the recorded response.
	Challenges *Challenges
}

// Challenges reads the challenges pushed to it, in turn, then random
// bytes again.
type Challenges struct {
	mu     sync.Mutex
	queued [][]byte
}

// Push queues challenges for the next ceremonies.
func (c *Challenges) Push(challenges ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = append(c.queued, challenges...)
}

// Read implements io.Reader: the next pushed challenge when one is
// queued (a read of another length is refused), else random bytes.
func (c *Challenges) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queued) == 0 {
		return rand.Read(p)
	}
	next := c.queued[0]
	if len(next) != len(p) {
		return 0, fmt.Errorf("keywardtest: a pushed challenge of %d bytes read as %d", len(next), len(p))
	}
	c.queued = c.queued[1:]
	return copy(p, next), nil
}

// Options change what New builds. Zero fields take test defaults.
type Options struct {
	Config keyward.Config
	Store  keyward.Store    // share one store between several services ("nodes")
	Clock  *Clock           // share one clock
	Keys   *keyring.Keyring // share keys
	Hasher *password.Hasher
	// Logger receives the service's log; nil discards it.
	Logger *slog.Logger
	// RealTime runs the service on the wall clock (Env.Clock stays nil): for
	// tests where a browser judges cookie expiry or an app makes TOTP codes.
	RealTime bool
}

// Start is the clock's default starting time.
var Start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// New returns a Service on a fresh store with a fake clock.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Store: o.Store, Clock: o.Clock, Keys: o.Keys, Dir: t.TempDir()}
	if e.Store == nil {
		e.Store = NewStore(t)
	}
	now := time.Now
	if !o.RealTime {
		if e.Clock == nil {
			e.Clock = NewClock(Start)
		}
		now = e.Clock.Now
	}
	if e.Keys == nil {
		k, err := keyring.LoadFile(filepath.Join(e.Dir, "secret.keys"), rand.Reader)
		if err != nil {
			t.Fatalf("keyring: %v", err)
		}
		e.Keys = k
	}
	hasher := o.Hasher
	if hasher == nil {
		hasher = FastHasher()
	}
	cfg := o.Config
	if cfg == (keyward.Config{}) {
		cfg = keyward.DefaultConfig()
		// The origin the recorded passkey ceremonies were made for
		// (package passkeytest), so that tests can finish them.
		cfg.PasskeyOrigin = passkeytest.Origin
	}
	e.Challenges = &Challenges{}
	svc, err := keyward.New(cfg, keyward.Deps{
		Store: e.Store, Hasher: hasher, Policy: Policy(), Keys: e.Keys,
		Now: now, Rand: rand.Reader, ChallengeRand: e.Challenges, Logger: o.Logger,
	})
	if err != nil {
		t.Fatalf("keyward.New: %v", err)
	}
	e.Svc = svc
	return e
}
