package keyward

import (
	"context"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/metrics"
)

// ThrottleRule turns a failure count into a delay: Free failures cost
// nothing, then each one doubles the wait from Base up to Max. Failures are
// forgotten after Forget without a new one. This is throttling, not lockout:
// the wait never exceeds Max, so a flood against an account never keeps its
// owner out for long.
type ThrottleRule struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// throttleRules lists every rule, for work that must cover all of them.
func (c Config) throttleRules() []ThrottleRule {
	return []ThrottleRule{c.SignInThrottle, c.AccountThrottle, c.AddressThrottle, c.SignupThrottle, c.SecondFactorRule, c.DeviceThrottle, c.ReauthThrottle,
		c.ForgotEmailThrottle, c.ForgotAddressThrottle, c.TokenThrottle, c.AdminTokenThrottle, c.PasskeyOptionsThrottle, c.PasskeyThrottle}
}

// Delay is how long after the last failure the next attempt must wait.
func (r ThrottleRule) Delay(failures int) time.Duration {
	over := failures - r.Free
	if over <= 0 {
		return 0
	}
	if over > 30 { // 2^30 s is past any cap; avoid overflow
		return r.Max
	}
	d := time.Duration(float64(r.Base) * math.Pow(2, float64(over-1)))
	if d > r.Max || d <= 0 {
		return r.Max
	}
	return d
}

// wait reports how long the key must still wait at now.
func (r ThrottleRule) wait(t Throttle, now time.Time) time.Duration {
	if t.Failures == 0 || now.Sub(t.LastFailure) >= r.Forget {
		return 0
	}
	if w := t.LastFailure.Add(r.Delay(t.Failures)).Sub(now); w > 0 {
		return w
	}
	return 0
}

// Throttle keys: one namespace per rule, so that counts never mix.
func pairThrottleKey(email, addr string) string {
	return "signin:pair:" + EmailKey(email) + "|" + addr
}
func emailThrottleKey(email string) string     { return "signin:email:" + EmailKey(email) }
func addressThrottleKey(addr string) string    { return "signin:ip:" + addr }
func signupThrottleKey(addr string) string     { return "signup:ip:" + addr }
func secondFactorThrottleKey(id string) string { return "mfa:account:" + id }
func reauthThrottleKey(id string) string       { return "reauth:account:" + id }
func forgotEmailThrottleKey(email string) string {
	return "forgot:email:" + EmailKey(email)
}
func forgotAddressThrottleKey(addr string) string { return "forgot:ip:" + addr }
func tokenThrottleKey(addr string) string         { return "token:ip:" + addr }
func passkeyOptionsThrottleKey(addr string) string {
	return "passkey:options:ip:" + addr
}
func passkeyThrottleKey(addr string) string { return "passkey:ip:" + addr }

// clientAddress is the address a client is counted by: an IPv6 client
// usually holds a whole /64, so it is counted as one. An IPv4 client seen
// through a translator's well-known prefix (64:ff9b::/96, RFC 6052) is
// counted by its IPv4 address: on IPv6-only hosting behind NAT64 or SIIT
// every IPv4 client would otherwise share one /64.
func clientAddress(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if translatedIPv4.Contains(addr) {
		b := addr.As16()
		return netip.AddrFrom4([4]byte(b[12:])).String()
	}
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// translatedIPv4 is the NAT64 well-known prefix, which embeds an IPv4
// address in its last 32 bits.
var translatedIPv4 = netip.MustParsePrefix("64:ff9b::/96")

// throttled is the 429 a caller gets while a key waits.
func throttled(wait time.Duration) *Error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &Error{
		Code:       CodeTooManyAttempts,
		Message:    "Too many attempts. Wait a moment and try again.",
		RetryAfter: time.Duration(secs) * time.Second,
	}
}

// checkThrottle returns a 429 error when any of the keys must still wait.
func (s *Service) checkThrottle(ctx context.Context, now time.Time, checks ...throttleCheck) error {
	var longest time.Duration
	var key string
	for _, c := range checks {
		t, err := s.store.Throttle(ctx, c.key)
		if err != nil {
			return err
		}
		if w := c.rule.wait(t, now); w > longest {
			longest, key = w, c.key
		}
	}
	if longest > 0 {
		s.metrics.Throttled.Inc(throttleRuleOf(key))
		return throttled(longest)
	}
	return nil
}

// throttleRuleOf is the metrics label of a throttle key's rule.
func throttleRuleOf(key string) int {
	for _, r := range [...]struct {
		prefix string
		rule   int
	}{
		{"signin:pair:", metrics.ThrottleSignInPair},
		{"signin:email:", metrics.ThrottleSignInEmail},
		{"signin:ip:", metrics.ThrottleSignInAddress},
		{"signin:device:", metrics.ThrottleDevice},
		{"signup:ip:", metrics.ThrottleSignupAddress},
		{"mfa:account:", metrics.ThrottleSecondFactor},
		{"reauth:account:", metrics.ThrottleReauth},
		{"passkey:", metrics.ThrottlePasskey},
	} {
		if strings.HasPrefix(key, r.prefix) {
			return r.rule
		}
	}
	return metrics.ThrottleOther
}

type throttleCheck struct {
	key  string
	rule ThrottleRule
}

// waitSeconds is a wait as the audit log records it: whole seconds.
func waitSeconds(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// attempt is one try at a slow check (a password hash, a code) under
// throttling. reserveAttempt counts it as a failure before the check runs,
// so that requests in flight together cannot all pass a check that each of
// them reads before any of them is counted. Then exactly one of:
//   - passed, in the success's transaction: the reserved counts clear;
//   - failed, in the failure's transaction (see recordFailure): the counts
//     that apply only to failures are taken, and the wait comes back;
//   - neither, where successes count too (sign-up).
type attempt struct {
	now      time.Time
	reserved []throttleCheck // counted before the check
	onFail   []throttleCheck // counted only when the check fails
	wait     time.Duration   // the wait the reserved counts start if it fails
}

// reserveAttempt checks the keys and counts this attempt as a failure of
// each; the caller adds any onFail checks, which it checks itself.
//
// The count comes back atomically: an attempt that finds others counted
// between its read and its own count, at a point where the rule already
// asks for a wait, is refused like a throttled one.
func (s *Service) reserveAttempt(ctx context.Context, now time.Time, reserved ...throttleCheck) (*attempt, error) {
	at := &attempt{now: now, reserved: reserved}
	before := make([]Throttle, len(reserved))
	var longest time.Duration
	var key string
	for i, c := range reserved {
		var err error
		if before[i], err = s.store.Throttle(ctx, c.key); err != nil {
			return nil, err
		}
		if w := c.rule.wait(before[i], now); w > longest {
			longest, key = w, c.key
		}
	}
	if longest > 0 {
		s.metrics.Throttled.Inc(throttleRuleOf(key))
		return nil, throttled(longest)
	}
	var raced time.Duration
	for i, c := range reserved {
		t, err := s.store.AddFailure(ctx, c.key, now, now.Add(-c.rule.Forget))
		if err != nil {
			return nil, err
		}
		if t.Failures != before[i].Failures+1 && t.Failures > 1 && c.rule.Delay(t.Failures-1) > 0 {
			if d := c.rule.Delay(t.Failures); d > raced {
				raced, key = d, c.key
			}
		}
		at.wait = max(at.wait, c.rule.Delay(t.Failures))
	}
	if raced > 0 {
		s.metrics.Throttled.Inc(throttleRuleOf(key))
		return nil, throttled(raced)
	}
	return at, nil
}

// passed clears the reserved counts, through q: inside the transaction of
// the success, where there is one.
func (at *attempt) passed(ctx context.Context, q Throttles) error {
	for _, c := range at.reserved {
		if err := q.ClearThrottle(ctx, c.key); err != nil {
			return err
		}
	}
	return nil
}

// failed takes the counts that apply only to failures, through q, and
// returns the wait the failure starts, 0 for none (so the audit log records
// the throttling once, not at every refused attempt).
func (at *attempt) failed(ctx context.Context, q Throttles) (time.Duration, error) {
	wait := at.wait
	for _, c := range at.onFail {
		t, err := q.AddFailure(ctx, c.key, at.now, at.now.Add(-c.rule.Forget))
		if err != nil {
			return 0, err
		}
		wait = max(wait, c.rule.Delay(t.Failures))
	}
	return wait, nil
}

// addressGate bounds the password checks (sign-ins, sign-ups) one client
// address has in flight on this node. The store's throttles count failures,
// which are known only after the slow hash: a burst of hundreds of requests
// from one address passes them all at once and queues for the few hashing
// slots ahead of everyone else, so that the owner of an account, signing in
// from elsewhere, waits out the whole burst. Past the bound the answer is
// 429 at once, before any store read or hash. It is per node, like the
// hashing slots it protects.
type addressGate struct {
	mu  sync.Mutex
	max int
	n   map[string]int // only addresses with checks in flight: bounded by them
}

func newAddressGate(max int) *addressGate {
	return &addressGate{max: max, n: make(map[string]int)}
}

// enter reports whether addr may start a check; each true must be followed
// by leave.
func (g *addressGate) enter(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[addr] >= g.max {
		return false
	}
	g.n[addr]++
	return true
}

func (g *addressGate) leave(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[addr] <= 1 {
		delete(g.n, addr)
		return
	}
	g.n[addr]--
}

func (g *addressGate) inFlight(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[addr]
}
