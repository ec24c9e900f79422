package keyward

import (
	"context"
	"math"
	"time"
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
func emailThrottleKey(email string) string     { return "signin:email:" + EmailKey(email) }
func addressThrottleKey(ip string) string      { return "signin:ip:" + ip }
func secondFactorThrottleKey(id string) string { return "mfa:account:" + id }
func reauthThrottleKey(id string) string       { return "reauth:account:" + id }

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
	for _, c := range checks {
		t, err := s.store.Throttle(ctx, c.key)
		if err != nil {
			return err
		}
		if w := c.rule.wait(t, now); w > longest {
			longest = w
		}
	}
	if longest > 0 {
		return throttled(longest)
	}
	return nil
}

type throttleCheck struct {
	key  string
	rule ThrottleRule
}

// addFailure counts a failure and reports whether it starts a wait (so the
// audit log records the throttling once, not at every refused attempt).
func addFailure(ctx context.Context, q Queries, c throttleCheck, now time.Time) (startsWait bool, err error) {
	t, err := q.AddFailure(ctx, c.key, now, now.Add(-c.rule.Forget))
	if err != nil {
		return false, err
	}
	return c.rule.Delay(t.Failures) > 0, nil
}
