// Package metrics holds keyward's counters: plain atomics that the hot
// paths add to and that an exporter reads only when it is scraped. Every
// label value is fixed when the counters are made (an outcome, a rule, a
// route pattern), never taken from a request, so the series stay few
// whatever the traffic.
package metrics

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CounterVec is a counter with one label whose values are fixed.
type CounterVec struct {
	Name, Help, Label string
	values            []string
	counts            []atomic.Uint64
}

func newCounterVec(name, help, label string, values ...string) *CounterVec {
	return &CounterVec{Name: name, Help: help, Label: label, values: values, counts: make([]atomic.Uint64, len(values))}
}

// Inc adds one to the series of the i-th label value.
func (v *CounterVec) Inc(i int) { v.counts[i].Add(1) }

// Values are the label values, in the order of their indexes.
func (v *CounterVec) Values() []string { return v.values }

// Value is the count of the i-th label value.
func (v *CounterVec) Value(i int) uint64 { return v.counts[i].Load() }

// Sign-in outcomes: the password step and the second step.
const (
	SignInSuccess              = iota // a session opened
	SignInSecondFactorRequired        // the password was right; a code is asked
	SignInInvalidCredentials          // wrong email or password
	SignInInvalidCode                 // wrong or expired second-factor code or mfa_token
	SignInThrottled                   // refused without checking: too many attempts
	SignInError                       // anything else (store down, bad input)
	SignInInvalidPasskey              // a passkey response that did not pass
)

// Session-check results (GET /api/v1/sessions/current and the proxies'
// auth checks).
const (
	CheckValid        = iota // 200
	CheckRedirect            // 302 to sign-in (forward auth)
	CheckUnauthorized        // 401
	CheckOther               // anything else
)

// Throttle rules a refusal can come from.
const (
	ThrottleSignInPair     = iota // an email from one address
	ThrottleSignInEmail           // an email from everywhere
	ThrottleSignInAddress         // wrong passwords from one address
	ThrottleSignupAddress         // sign-ups from one address
	ThrottleSecondFactor          // second-factor codes for one account
	ThrottleReauth                // re-authentication of one session's account
	ThrottleDevice                // a known device's own bucket
	ThrottleConcurrent            // password checks in flight from one address
	ThrottlePasswordAdvice        // strength advice calls
	ThrottleOther                 // a key of no known rule
	ThrottlePasskey               // passkey sign-ins from one address (begun, and failed)
)

// Webhook delivery results, for the webhook sender.
const (
	WebhookDelivered = iota // the receiver answered 2xx
	WebhookFailed           // anything else; the delivery is retried
	WebhookAbandoned        // retried for as long as allowed, then given up
)

// DurationBuckets are the upper bounds of the request-duration histogram.
var durationBuckets = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second,
}

// DurationBuckets returns the histogram's upper bounds.
func DurationBuckets() []time.Duration { return durationBuckets[:] }

// Metrics is every counter of one keyward node. The zero value is not
// usable: use New.
type Metrics struct {
	SignIns       *CounterVec // keyward_signins_total{outcome}
	SessionChecks *CounterVec // keyward_session_checks_total{result}
	Throttled     *CounterVec // keyward_throttled_total{rule}
	Webhooks      *CounterVec // keyward_webhook_deliveries_total{result}
	// MailOutboxPending is the mails waiting to be sent, set by the mail
	// worker each time it looks at its outbox.
	MailOutboxPending atomic.Int64
	// WebhookOutboxPending is the webhook deliveries waiting to be sent,
	// set by the webhook worker as often as it reports on its outbox.
	WebhookOutboxPending atomic.Int64

	mu        sync.Mutex
	routes    []*Route
	unmatched *Route
}

// New returns counters at zero.
func New() *Metrics {
	m := &Metrics{
		SignIns: newCounterVec("keyward_signins_total", "Sign-in attempts (password step and second step) by outcome.", "outcome",
			"success", "second_factor_required", "invalid_credentials", "invalid_code", "throttled", "error", "invalid_passkey"),
		SessionChecks: newCounterVec("keyward_session_checks_total", "Session checks (the applications' and the proxies') by result.", "result",
			"valid", "redirect", "unauthorized", "other"),
		Throttled: newCounterVec("keyward_throttled_total", "Requests refused with 429 by throttle rule.", "rule",
			"signin_pair", "signin_email", "signin_address", "signup_address", "second_factor", "reauth", "device",
			"concurrent_checks", "password_advice", "other", "passkey"),
		Webhooks: newCounterVec("keyward_webhook_deliveries_total", "Webhook delivery attempts by result.", "result",
			"delivered", "failed", "abandoned"),
	}
	m.unmatched = &Route{Method: "ANY", Pattern: "unmatched"}
	return m
}

// Counters are the labelled counters, for an exporter.
func (m *Metrics) Counters() []*CounterVec {
	return []*CounterVec{m.SignIns, m.SessionChecks, m.Throttled, m.Webhooks}
}

// Route returns the durations of one route, made once when the route is
// registered and kept by its handler: nothing is looked up per request.
// pattern is an http.ServeMux pattern ("GET /api/v1/sessions/{id}").
func (m *Metrics) Route(pattern string) *Route {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "ANY", pattern
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.routes {
		if r.Method == method && r.Pattern == path {
			return r
		}
	}
	r := &Route{Method: method, Pattern: path}
	m.routes = append(m.routes, r)
	return r
}

// Unmatched is the route of requests answered before any route was chosen
// (a body too large, a cross-origin refusal, a base-path redirect).
func (m *Metrics) Unmatched() *Route { return m.unmatched }

// Routes are the registered routes and Unmatched, for an exporter.
func (m *Metrics) Routes() []*Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append(slices.Clone(m.routes), m.unmatched)
}

// Route is one route's request durations, by status class.
type Route struct {
	Method, Pattern string
	byClass         [5]Histogram // 1xx … 5xx
}

// Observe counts one answer with status after d. Status 0 is a handler
// that wrote nothing, which net/http answers with 200.
func (r *Route) Observe(status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	c := status/100 - 1
	if c < 0 || c >= len(r.byClass) {
		c = len(r.byClass) - 1
	}
	r.byClass[c].Observe(d)
}

// Class returns the histogram of the status class "1xx" … "5xx" (i from 0).
func (r *Route) Class(i int) (string, *Histogram) {
	return string(rune('1'+i)) + "xx", &r.byClass[i]
}

// Classes is the number of status classes.
const Classes = 5

// Histogram counts durations into DurationBuckets with atomics.
type Histogram struct {
	buckets [len(durationBuckets) + 1]atomic.Uint64 // the last one is +Inf
	sum     atomic.Int64                            // nanoseconds
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(durationBuckets) && d > durationBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the cumulative counts per upper bound (as
// DurationBuckets), the total count and the sum. Read while requests are
// counted, it may be off by the requests in flight, never inconsistent
// enough to make the buckets decrease.
func (h *Histogram) Snapshot() (cumulative []uint64, count uint64, sum time.Duration) {
	cumulative = make([]uint64, len(durationBuckets))
	var n uint64
	for i := range durationBuckets {
		n += h.buckets[i].Load()
		cumulative[i] = n
	}
	n += h.buckets[len(durationBuckets)].Load()
	return cumulative, n, time.Duration(h.sum.Load())
}
