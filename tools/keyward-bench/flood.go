package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Targets of the sign-in flood: bounded memory, and the owner signed in
// promptly from another address while one address floods.
const (
	floodRSSTarget    = 400 << 20
	floodSignInTarget = 3 * time.Second
	floodAddress      = "192.0.2.1"    // TEST-NET-1: the flood's one address
	legitAddress      = "198.51.100.2" // TEST-NET-2: the person signing in meanwhile
	rssInterval       = 100 * time.Millisecond
	legitInterval     = time.Second // between the starts of the correct sign-ins (the next waits for the previous)
)

// floodTally counts the flood's answers.
type floodTally struct {
	mu       sync.Mutex
	status   map[int]int
	busyBare int // 503 without Retry-After
	errs     int // transport errors (not counting those cut by the end of the flood)
	firstErr error
}

func (f *floodTally) add(r apiResponse, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.errs++
		if f.firstErr == nil {
			f.firstErr = err
		}
		return
	}
	f.status[r.Status]++
	if r.Status == http.StatusServiceUnavailable && r.RetryAfter == "" {
		f.busyBare++
	}
}

// bad5xx counts the 5xx answers other than 503 with Retry-After.
func (f *floodTally) bad5xx() int {
	n := f.busyBare
	for code, c := range f.status {
		if code >= 500 && code != http.StatusServiceUnavailable {
			n += c
		}
	}
	return n
}

func (f *floodTally) total() int {
	n := f.errs
	for _, c := range f.status {
		n += c
	}
	return n
}

// summary is "401×62, 429×12,000, 503×120".
func (f *floodTally) summary() string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(f.status)) {
		parts = append(parts, strconv.Itoa(c)+"×"+fmtInt(int64(f.status[c])))
	}
	if f.errs > 0 {
		parts = append(parts, "errors×"+fmtInt(int64(f.errs)))
	}
	return strings.Join(parts, ", ")
}

// legitSignIn is one correct sign-in made during the flood.
type legitSignIn struct {
	at      time.Duration // since the flood began
	latency time.Duration
	status  int
	err     error
}

// signInFlood runs the sign-in flood against t: many clients sending wrong
// passwords for made-up emails from floodAddress (credential stuffing from
// one machine), while t's owner signs in correctly from legitAddress once a
// second. keyward runs with its default argon2id parameters.
func (b *bench) signInFlood(ctx context.Context, t *target) ([]row, error) {
	scen := "sign-in flood (" + t.engine + ")"
	d := b.opts.floodDuration
	n := b.opts.floodClients
	b.logf("%s: sign-in flood: %d clients from %s for %v; a correct sign-in from %s every %v", t.engine, n, floodAddress, d, legitAddress, legitInterval)

	flood := newAPIClient(t.base, n)
	defer flood.close()
	legit := newAPIClient(t.base, 2)
	defer legit.close()

	fctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	tally := &floodTally{status: map[int]int{}}
	var wg sync.WaitGroup

	// Resident memory, every rssInterval.
	var maxRSS, peakHWM int64
	samples := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(rssInterval)
		defer tick.Stop()
		for {
			if now, hwm := t.kw.rss(); now > 0 {
				maxRSS = max(maxRSS, now)
				peakHWM = max(peakHWM, hwm)
				samples++
			}
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// The person signing in meanwhile.
	var legits []legitSignIn
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := legitInterval / 2
		for {
			select {
			case <-fctx.Done():
				return
			case <-time.After(time.Until(start.Add(next))):
			}
			at := time.Since(start)
			// Its own deadline, not the flood's: a sign-in started just
			// before the end is still measured to completion.
			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			t0 := time.Now()
			r, err := legit.do(lctx, http.MethodPost, "/api/v1/sessions", credentialsJSON{t.email, t.password}, "X-Forwarded-For", legitAddress)
			lat := time.Since(t0)
			lcancel()
			legits = append(legits, legitSignIn{at: at, latency: lat, status: r.Status, err: err})
			next += legitInterval
			if next >= d {
				return
			}
		}
	}()

	// The flood.
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; fctx.Err() == nil; i++ {
				email := fmt.Sprintf("stuffing-%d-%d@example.com", g, i)
				r, err := flood.do(fctx, http.MethodPost, "/api/v1/sessions", credentialsJSON{email, "wrong password " + strconv.Itoa(i)}, "X-Forwarded-For", floodAddress)
				if err != nil && (fctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
					return // cut by the end of the flood
				}
				tally.add(r, err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := t.kw.exitedDuring("the flood"); err != nil {
		return nil, err
	}

	rows := []row{
		{scen, "max resident memory (VmRSS every 100 ms)", fmtBytes(maxRSS), "", "", "< " + fmtBytes(floodRSSTarget), check(maxRSS > 0 && maxRSS < floodRSSTarget)},
		{scen, "5xx other than 503 with Retry-After", fmtInt(int64(tally.bad5xx())), "", "", "0", check(tally.bad5xx() == 0)},
	}
	var worst time.Duration
	var failed []string
	for _, l := range legits {
		worst = max(worst, l.latency)
		if l.err != nil || l.status != http.StatusCreated {
			what := strconv.Itoa(l.status)
			if l.err != nil {
				what = l.err.Error()
			}
			failed = append(failed, fmt.Sprintf("at %.1fs: %s", l.at.Seconds(), what))
		}
	}
	legitOK := len(legits) > 0 && len(failed) == 0 && worst < floodSignInTarget
	value := fmt.Sprintf("%s (slowest of %d)", fmtDur(worst), len(legits))
	if len(failed) > 0 {
		value += "; not signed in " + strings.Join(failed, ", ")
	}
	rows = append(rows,
		row{scen, "correct sign-in from another address", value, "", "", "< " + fmtDur(floodSignInTarget) + ", 201", check(legitOK)},
		row{scen, "flood answers", fmt.Sprintf("%s in %v: %s", fmtInt(int64(tally.total())), d, tally.summary()), "", "", "", info},
		row{scen, "peak resident memory (VmHWM, whole run)", fmtBytes(peakHWM), "", "", "", info},
	)
	if tally.firstErr != nil {
		b.note("%s: first transport error: %v", scen, tally.firstErr)
	}
	lat := make([]string, len(legits))
	for i, l := range legits {
		lat[i] = fmt.Sprintf("%.1f s → %s", l.at.Seconds(), fmtDur(l.latency))
	}
	b.note("%s: correct sign-ins (started at → took): %s; %d RSS samples", scen, strings.Join(lat, ", "), samples)
	return rows, nil
}
