package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Targets of the session check: near a bare handler's throughput and
// latency, and an unknown token no dearer than a valid one.
const (
	sessionRPSTarget     = 0.80 // of the baseline's requests/s
	sessionP99Target     = 2 * time.Millisecond
	invalidTokenRPSFloor = 0.90 // of the valid token's requests/s: "costs no more", within this machine's noise
	invalidTokenCPUCeil  = 1.10 // of the valid token's server CPU per request, likewise
	wrkThreads           = 2
	wrkConnections       = 32
)

// sessionRound is one side-by-side round: the baseline, keyward with a
// valid token, keyward with an unknown one, and the proxies' auth check
// (GET /api/v1/auth/check, the same token), each for the same duration.
type sessionRound struct {
	baseline, valid, invalid, authCheck wrkResult
	// CPU time the server used per request during each run: less
	// sensitive than requests/s to other load on a shared machine.
	baselineCPU, validCPU, invalidCPU, authCheckCPU time.Duration
}

// measured runs wrk and reports the CPU time p used per request meanwhile.
func measured(ctx context.Context, p *proc, s wrkSpec) (wrkResult, time.Duration, error) {
	before := p.cpuTime()
	r, err := runWrk(ctx, s)
	after := p.cpuTime()
	if err != nil || before < 0 || after < 0 || r.Requests == 0 {
		return r, 0, err
	}
	return r, (after - before) / time.Duration(r.Requests), nil
}

// sessionCheck runs the session-check scenario against t.
func (b *bench) sessionCheck(ctx context.Context, t *target) ([]row, error) {
	scen := "session check (" + t.engine + ")"
	bad := randomToken()
	c := newAPIClient(t.base, 2)
	defer c.close()

	// What the baseline answers is what keyward answers here.
	r, err := c.do(ctx, http.MethodGet, "/api/v1/sessions/current", nil, "Authorization", "Bearer "+t.token)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/sessions/current with a valid token: %d %s", r.Status, r.Body)
	}
	bodyFile := filepath.Join(t.dir, "current-session.json")
	if err := os.WriteFile(bodyFile, r.Body, 0o600); err != nil {
		return nil, err
	}
	r, err = c.do(ctx, http.MethodGet, "/api/v1/sessions/current", nil, "Authorization", "Bearer "+bad)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthenticated" {
		return nil, fmt.Errorf("GET /api/v1/sessions/current with an unknown token: %d %s, want 401 unauthenticated", r.Status, r.Body)
	}

	baseAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--baseline-server", "--addr", baseAddr, "--body", bodyFile}
	bl, err := startProc("baseline", b.self, args, b.cpus.server, childEnv(b.gomaxprocs), filepath.Join(t.dir, "baseline.log"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := bl.stop(5 * time.Second); err != nil {
			b.logf("%v", err)
		}
	}()
	baseURL := "http://" + baseAddr + "/api/v1/sessions/current"
	if err := waitReady(ctx, bl, baseURL, 10*time.Second); err != nil {
		return nil, err
	}

	probe, err := writeProbeFor(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("opening the write probe: %w", err)
	}
	defer probe.close()

	kwURL := t.base + "/api/v1/sessions/current"
	checkURL := t.base + "/api/v1/auth/check"
	if r, err := c.do(ctx, http.MethodGet, "/api/v1/auth/check", nil, "Authorization", "Bearer "+t.token); err != nil {
		return nil, err
	} else if r.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/auth/check with a valid token: %d %s", r.Status, r.Body)
	}
	spec := func(url, token string, d time.Duration) wrkSpec {
		s := wrkSpec{URL: url, Threads: wrkThreads, Connections: wrkConnections, Duration: d, CPUs: b.cpus.load}
		if token != "" {
			s.Headers = []string{"Authorization: Bearer " + token}
		}
		return s
	}
	// Warm up: connections, the session cache, the known-missing entry.
	warm := time.Second
	if !b.opts.quick {
		warm = 2 * time.Second
	}
	b.logf("%s: warming up (baseline, valid token, unknown token, auth check: %v each)", t.engine, warm)
	for _, s := range []wrkSpec{spec(baseURL, t.token, warm), spec(kwURL, t.token, warm), spec(kwURL, bad, warm), spec(checkURL, t.token, warm)} {
		if _, err := runWrk(ctx, s); err != nil {
			return nil, err
		}
	}

	var rounds []sessionRound
	var writes []string
	d := b.opts.duration
	for i := range b.opts.rounds {
		b.logf("%s: session check round %d/%d: wrk -t%d -c%d -d%v, baseline then valid token then unknown token then auth check",
			t.engine, i+1, b.opts.rounds, wrkThreads, wrkConnections, d)
		var rd sessionRound
		if rd.baseline, rd.baselineCPU, err = measured(ctx, bl, spec(baseURL, t.token, d)); err != nil {
			return nil, err
		}
		if rd.valid, rd.validCPU, err = measured(ctx, t.kw, spec(kwURL, t.token, d)); err != nil {
			return nil, err
		}
		before, err := probe.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		if rd.invalid, rd.invalidCPU, err = measured(ctx, t.kw, spec(kwURL, bad, d)); err != nil {
			return nil, err
		}
		after, err := probe.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		if diff := probeDiff(before, after); diff != "" {
			writes = append(writes, diff)
		}
		if rd.authCheck, rd.authCheckCPU, err = measured(ctx, t.kw, spec(checkURL, t.token, d)); err != nil {
			return nil, err
		}
		rounds = append(rounds, rd)
	}
	rows := sessionRows(scen, "unknown token ("+t.engine+")", "auth check ("+t.engine+")", rounds, writes)
	for i, rd := range rounds {
		b.note("%s round %d: baseline %s p99 %s (%s CPU/request); valid %s p99 %s (%s); unknown token %s p99 %s (%s); auth check %s p99 %s (%s)", scen, i+1,
			fmtRate(rd.baseline.RPS), fmtDur(rd.baseline.P(99)), fmtDur(rd.baselineCPU), fmtRate(rd.valid.RPS), fmtDur(rd.valid.P(99)), fmtDur(rd.validCPU),
			fmtRate(rd.invalid.RPS), fmtDur(rd.invalid.P(99)), fmtDur(rd.invalidCPU), fmtRate(rd.authCheck.RPS), fmtDur(rd.authCheck.P(99)), fmtDur(rd.authCheckCPU))
	}
	return rows, nil
}

// sessionRows turns the rounds into the table's rows. Ratios are taken per
// round (each round's runs are side by side) and their median reported,
// with the medians of the figures.
func sessionRows(scen, invScen, checkScen string, rounds []sessionRound, writes []string) []row {
	pick := func(f func(sessionRound) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		return median(v)
	}
	baseRPS := pick(func(r sessionRound) float64 { return r.baseline.RPS })
	validRPS := pick(func(r sessionRound) float64 { return r.valid.RPS })
	invRPS := pick(func(r sessionRound) float64 { return r.invalid.RPS })
	ratio := pick(func(r sessionRound) float64 { return r.valid.RPS / r.baseline.RPS })
	invRatio := pick(func(r sessionRound) float64 { return r.invalid.RPS / r.valid.RPS })
	dur := func(f func(sessionRound) time.Duration) time.Duration {
		return time.Duration(pick(func(r sessionRound) float64 { return float64(f(r)) }))
	}
	baseP99 := dur(func(r sessionRound) time.Duration { return r.baseline.P(99) })
	validP99 := dur(func(r sessionRound) time.Duration { return r.valid.P(99) })
	invP99 := dur(func(r sessionRound) time.Duration { return r.invalid.P(99) })
	baseP50 := dur(func(r sessionRound) time.Duration { return r.baseline.P(50) })
	baseCPU := dur(func(r sessionRound) time.Duration { return r.baselineCPU })
	validCPU := dur(func(r sessionRound) time.Duration { return r.validCPU })
	invCPU := dur(func(r sessionRound) time.Duration { return r.invalidCPU })
	validP50 := dur(func(r sessionRound) time.Duration { return r.valid.P(50) })
	checkRPS := pick(func(r sessionRound) float64 { return r.authCheck.RPS })
	checkRatio := pick(func(r sessionRound) float64 { return r.authCheck.RPS / r.baseline.RPS })
	checkVsSession := pick(func(r sessionRound) float64 { return r.authCheck.RPS / r.valid.RPS })
	checkP99 := dur(func(r sessionRound) time.Duration { return r.authCheck.P(99) })
	checkCPU := dur(func(r sessionRound) time.Duration { return r.authCheckCPU })

	rows := []row{
		{scen, "requests/s (valid token)", fmtRate(validRPS), fmtRate(baseRPS), fmtRatio(ratio),
			fmt.Sprintf("≥ %.0f %%", sessionRPSTarget*100), check(ratio >= sessionRPSTarget)},
		{scen, "p99 latency", fmtDur(validP99), fmtDur(baseP99), fmtTimes(float64(validP99) / float64(baseP99)),
			"< " + fmtDur(sessionP99Target), check(validP99 < sessionP99Target)},
		{scen, "p50 latency", fmtDur(validP50), fmtDur(baseP50), fmtTimes(float64(validP50) / float64(baseP50)), "", info},
		{scen, "server CPU per request", fmtDur(validCPU), fmtDur(baseCPU), fmtTimes(float64(validCPU) / float64(baseCPU)), "", info},
		{invScen, "requests/s (vs the valid token)", fmtRate(invRPS), fmtRate(validRPS), fmtRatio(invRatio),
			fmt.Sprintf("≥ %.0f %%", invalidTokenRPSFloor*100), check(invRatio >= invalidTokenRPSFloor)},
		{invScen, "server CPU per request (vs the valid token)", fmtDur(invCPU), fmtDur(validCPU), fmtRatio(float64(invCPU) / float64(validCPU)),
			fmt.Sprintf("≤ %.0f %%", invalidTokenCPUCeil*100), check(validCPU > 0 && float64(invCPU) <= invalidTokenCPUCeil*float64(validCPU))},
		{invScen, "p99 latency", fmtDur(invP99), fmtDur(validP99), fmtTimes(float64(invP99) / float64(validP99)), "", info},
		{checkScen, "requests/s", fmtRate(checkRPS), fmtRate(baseRPS), fmtRatio(checkRatio),
			fmt.Sprintf("≥ %.0f %%", sessionRPSTarget*100), check(checkRatio >= sessionRPSTarget)},
		{checkScen, "requests/s (vs the session check)", fmtRate(checkRPS), fmtRate(validRPS), fmtRatio(checkVsSession), "", info},
		{checkScen, "p99 latency", fmtDur(checkP99), fmtDur(baseP99), fmtTimes(float64(checkP99) / float64(baseP99)),
			"< " + fmtDur(sessionP99Target), check(checkP99 < sessionP99Target)},
		{checkScen, "server CPU per request (vs the session check)", fmtDur(checkCPU), fmtDur(validCPU), fmtRatio(float64(checkCPU) / float64(validCPU)), "", info},
	}
	if len(writes) == 0 {
		rows = append(rows, row{invScen, "store writes during its runs", "none", "", "", "none", pass})
	} else {
		rows = append(rows, row{invScen, "store writes during its runs", strings.Join(writes, "; "), "", "", "none", fail})
	}
	// wrk's own view of the answers: every valid check must be a 200, every
	// unknown token a 401 (wrk counts both as requests).
	var bad []string
	for i, r := range rounds {
		if r.baseline.Non2xx > 0 || r.valid.Non2xx > 0 || r.authCheck.Non2xx > 0 {
			bad = append(bad, fmt.Sprintf("round %d: %d non-2xx with a valid token, %d from the auth check, %d from the baseline", i+1, r.valid.Non2xx, r.authCheck.Non2xx, r.baseline.Non2xx))
		}
		if r.invalid.Non2xx != r.invalid.Requests {
			bad = append(bad, fmt.Sprintf("round %d: %d of %d unknown-token answers were 2xx", i+1, r.invalid.Requests-r.invalid.Non2xx, r.invalid.Requests))
		}
		if n := r.baseline.SocketError + r.valid.SocketError + r.invalid.SocketError + r.authCheck.SocketError; n > 0 {
			bad = append(bad, fmt.Sprintf("round %d: %d socket errors", i+1, n))
		}
	}
	if len(bad) > 0 {
		rows = append(rows, row{scen, "answers", strings.Join(bad, "; "), "", "", "200 / 401 only", fail})
	}
	return rows
}

// fmtTimes formats a ratio as a multiple: "1.35×".
func fmtTimes(v float64) string { return fmt.Sprintf("%.2f×", v) }

// median returns the median of v (the mean of the middle two for an even
// count); v is not changed.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
