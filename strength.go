package keyward

import (
	"runtime"
	"sync"
	"time"

	"github.com/keyward/keyward/metrics"
)

// The strength meter's endpoint answers anyone, before any account exists,
// and zxcvbn costs up to some 50 ms of CPU for a chosen 32-character input.
// So its advice is bounded on each node three ways, all before any work:
// calls per minute per caller (an account when signed in, else a client
// address), calls in flight per client address, and calls in flight on the
// node (half the CPUs), so that sign-ins keep the rest whoever floods it.
// The meter is advice only: a refused call leaves it as it was, and the
// policy at sign-up and change still decides.
const (
	strengthWindow          = time.Minute
	strengthInFlightPerAddr = 2
	// strengthMaxCallers bounds the per-minute counts kept: past it, callers
	// not yet counted this minute are told the server is busy.
	strengthMaxCallers = 100_000
)

// strengthGate (Service.advice) holds the three bounds. Counts are per
// node, in memory, like the hashing slots: advice needs no store round trip.
type strengthGate struct {
	perMinute int
	addrs     *addressGate  // in flight per client address
	slots     chan struct{} // in flight on the node

	mu     sync.Mutex
	window time.Time      // start of the current minute
	calls  map[string]int // callers of this minute only: bounded by them
}

func newStrengthGate(perMinute int) *strengthGate {
	return &strengthGate{
		perMinute: perMinute,
		addrs:     newAddressGate(strengthInFlightPerAddr),
		slots:     make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		calls:     make(map[string]int),
	}
}

// enter counts a call by caller (from addr) at now and takes its places in
// flight; it returns leave, to be called when the advice is given, or the
// error to answer with.
func (g *strengthGate) enter(caller, addr string, now time.Time) (leave func(), err error) {
	if err := g.count(caller, now); err != nil {
		return nil, err
	}
	if !g.addrs.enter(addr) {
		return nil, throttled(time.Second)
	}
	select {
	case g.slots <- struct{}{}:
	default:
		g.addrs.leave(addr)
		return nil, strengthBusy()
	}
	return func() { <-g.slots; g.addrs.leave(addr) }, nil
}

// count is a fixed window: every count is forgotten when the minute turns.
func (g *strengthGate) count(caller string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if start := now.Truncate(strengthWindow); !start.Equal(g.window) {
		// A new map, not clear(): after a flood the old one's memory goes too.
		g.window, g.calls = start, make(map[string]int)
	}
	n, seen := g.calls[caller]
	switch {
	case n >= g.perMinute:
		return throttled(g.window.Add(strengthWindow).Sub(now))
	case !seen && len(g.calls) >= strengthMaxCallers:
		return strengthBusy()
	}
	g.calls[caller] = n + 1
	return nil
}

func strengthBusy() *Error {
	return &Error{Code: CodeUnavailable, Message: "The server is busy. Try again in a moment.", RetryAfter: time.Second}
}

// PasswordStrength is the 0..4 score the strength meter shows, for the
// signed-in account caller (nil for anyone else) from client c. Without an
// email, caller's is used as a word an attacker would try first. A password
// the policy refuses unread (too many bytes, not UTF-8) is that error; too
// many calls are 429 (per caller) or 503 (the node's share is in use).
func (s *Service) PasswordStrength(pw, email string, caller *Account, c Client) (int, error) {
	addr := clientAddress(c.IP)
	key := "addr:" + addr
	if caller != nil {
		// A signed-in caller counts as the account, not the address, so
		// that people behind one address do not share a budget with an
		// anonymous flood from it; the address's in-flight bound still
		// applies. (Per account, not per session: signing in again would
		// make a fresh budget.)
		key = "acct:" + caller.ID
		if email == "" {
			email = caller.Email
		}
	}
	leave, err := s.advice.enter(key, addr, s.clock())
	if err != nil {
		if IsCode(err, CodeTooManyAttempts) {
			s.metrics.Throttled.Inc(metrics.ThrottlePasswordAdvice)
		}
		return 0, err
	}
	defer leave()
	score, err := s.policy.Strength(pw, cleanText(email, maxEmailLength))
	if err != nil {
		return 0, policyError(err)
	}
	return score, nil
}
