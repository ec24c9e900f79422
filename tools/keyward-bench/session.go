package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Targets of the session check and the auth check: near the ceiling (a
// bare handler's answer) in throughput and latency, an unknown token no
// dearer than a valid one, and metrics nearly free.
const (
	checkRPSTarget       = 0.80 // of the ceiling's requests/s
	checkP99Target       = 1.5  // times the ceiling's p99
	invalidTokenRPSFloor = 0.90 // of the valid token's requests/s: "costs no more", within 10 %
	invalidTokenCPUCeil  = 1.10 // of the valid token's server CPU per request, likewise
	metricsCPUCeil       = 1.02 // server CPU per request with metrics on, of the same with them off
	wrkThreads           = 1
	wrkConnections       = 32
)

// checkRun is one wrk run and the server CPU it cost per request: CPU
// time is less sensitive than requests/s to other load on a shared machine.
type checkRun struct {
	wrk wrkResult
	cpu time.Duration
}

// sessionRound is one side-by-side round, each run for the same duration:
// the ceiling, keyward's session check, its mirror (the same headers and
// body, precomputed), the session check on the node without metrics, an
// unknown token, and the auth check and its mirror.
type sessionRound struct {
	ceiling, sessionMirror, valid, metricsOff, invalid, checkMirror, authCheck checkRun
}

// measured runs wrk and reports the CPU time p used per request meanwhile.
func measured(ctx context.Context, p *proc, s wrkSpec) (checkRun, error) {
	before := p.cpuTime()
	r, err := runWrk(ctx, s)
	after := p.cpuTime()
	if err != nil || before < 0 || after < 0 || r.Requests == 0 {
		return checkRun{wrk: r}, err
	}
	return checkRun{wrk: r, cpu: (after - before) / time.Duration(r.Requests)}, nil
}

// capture asks keyward for path with the token and writes the answer, as a
// mirror repeats it, to file. It must be want.
func capture(ctx context.Context, c *apiClient, path, token string, want int, file string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	if resp.StatusCode != want {
		return answer{}, fmt.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
	}
	a := capturedAnswer(resp.Header, body)
	raw, err := json.Marshal(a)
	if err != nil {
		return answer{}, err
	}
	return a, os.WriteFile(file, raw, 0o600)
}

// sessionCheck runs the session-check scenario against t.
func (b *bench) sessionCheck(ctx context.Context, t *target) ([]row, error) {
	scen := "session check (" + t.engine + ")"
	bad := randomToken()
	c := newAPIClient(t.base, 2)
	defer c.close()

	// What the baselines answer is what keyward answers here.
	sessionFile := filepath.Join(t.dir, "session-answer.json")
	if _, err := capture(ctx, c, "/api/v1/sessions/current", t.token, http.StatusOK, sessionFile); err != nil {
		return nil, err
	}
	checkFile := filepath.Join(t.dir, "check-answer.json")
	if _, err := capture(ctx, c, "/api/v1/auth/check", t.token, http.StatusOK, checkFile); err != nil {
		return nil, err
	}
	r, err := c.do(ctx, http.MethodGet, "/api/v1/sessions/current", nil, "Authorization", "Bearer "+bad)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthenticated" {
		return nil, fmt.Errorf("GET /api/v1/sessions/current with an unknown token: %d %s, want 401 unauthenticated", r.Status, r.Body)
	}
	oc := newAPIClient(t.other.base, 2)
	defer oc.close()
	if r, err := oc.do(ctx, http.MethodGet, "/api/v1/sessions/current", nil, "Authorization", "Bearer "+t.otherToken); err != nil {
		return nil, err
	} else if r.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/sessions/current on the node without metrics: %d %s", r.Status, r.Body)
	}

	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	args := []string{"--baseline-server",
		"--serve", addrs[0] + "=ceiling:" + sessionFile,
		"--serve", addrs[1] + "=mirror:" + sessionFile,
		"--serve", addrs[2] + "=mirror:" + checkFile}
	bl, err := startProc("baseline", b.self, args, b.cpus.server, childEnv(b.gomaxprocs), filepath.Join(t.dir, "baseline.log"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := bl.stop(5 * time.Second); err != nil {
			b.logf("%v", err)
		}
	}()
	ceilingURL := "http://" + addrs[0] + "/api/v1/sessions/current"
	sessionMirrorURL := "http://" + addrs[1] + "/api/v1/sessions/current"
	checkMirrorURL := "http://" + addrs[2] + "/api/v1/auth/check"
	for _, u := range []string{ceilingURL, sessionMirrorURL, checkMirrorURL} {
		if err := waitReady(ctx, bl, u, 10*time.Second); err != nil {
			return nil, err
		}
	}

	probe, err := writeProbeFor(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("opening the write probe: %w", err)
	}
	defer probe.close()

	kwURL := t.base + "/api/v1/sessions/current"
	offURL := t.other.base + "/api/v1/sessions/current"
	checkURL := t.base + "/api/v1/auth/check"
	spec := func(url, token string, d time.Duration) wrkSpec {
		s := wrkSpec{URL: url, Threads: wrkThreads, Connections: wrkConnections, Duration: d, CPUs: b.cpus.load}
		if token != "" {
			s.Headers = []string{"Authorization: Bearer " + token}
		}
		return s
	}
	// Warm up: connections, the session caches, the known-missing entry.
	warm := time.Second
	if !b.opts.quick {
		warm = 2 * time.Second
	}
	b.logf("%s: warming up (7 runs of %v)", t.engine, warm)
	for _, s := range []wrkSpec{spec(ceilingURL, t.token, warm), spec(sessionMirrorURL, t.token, warm), spec(kwURL, t.token, warm),
		spec(offURL, t.otherToken, warm), spec(kwURL, bad, warm), spec(checkMirrorURL, t.token, warm), spec(checkURL, t.token, warm)} {
		if _, err := runWrk(ctx, s); err != nil {
			return nil, err
		}
	}

	var rounds []sessionRound
	var writes []string
	d := b.opts.duration
	for i := range b.opts.rounds {
		b.logf("%s: round %d/%d: wrk -t%d -c%d -d%v: ceiling, session mirror, session check, session check without metrics, unknown token, auth-check mirror, auth check",
			t.engine, i+1, b.opts.rounds, wrkThreads, wrkConnections, d)
		var rd sessionRound
		steps := []struct {
			p    *proc
			spec wrkSpec
			to   *checkRun
		}{
			{bl, spec(ceilingURL, t.token, d), &rd.ceiling},
			{bl, spec(sessionMirrorURL, t.token, d), &rd.sessionMirror},
			{t.kw, spec(kwURL, t.token, d), &rd.valid},
			{t.other.kw, spec(offURL, t.otherToken, d), &rd.metricsOff},
			{t.kw, spec(kwURL, bad, d), &rd.invalid},
			{bl, spec(checkMirrorURL, t.token, d), &rd.checkMirror},
			{t.kw, spec(checkURL, t.token, d), &rd.authCheck},
		}
		for _, st := range steps {
			unknown := st.to == &rd.invalid
			var before map[string]int64
			if unknown {
				if before, err = probe.snapshot(ctx); err != nil {
					return nil, err
				}
			}
			if *st.to, err = measured(ctx, st.p, st.spec); err != nil {
				return nil, err
			}
			if unknown {
				after, err := probe.snapshot(ctx)
				if err != nil {
					return nil, err
				}
				if diff := probeDiff(before, after); diff != "" {
					writes = append(writes, diff)
				}
			}
		}
		rounds = append(rounds, rd)
	}
	rows := sessionRows(t.engine, rounds, writes)
	for i, rd := range rounds {
		f := func(r checkRun) string {
			return fmt.Sprintf("%s p99 %s (%s CPU/request)", fmtRate(r.wrk.RPS), fmtDur(r.wrk.P(99)), fmtDur(r.cpu))
		}
		b.note("%s round %d: ceiling %s; session mirror %s; session check %s; without metrics %s; unknown token %s; auth-check mirror %s; auth check %s",
			scen, i+1, f(rd.ceiling), f(rd.sessionMirror), f(rd.valid), f(rd.metricsOff), f(rd.invalid), f(rd.checkMirror), f(rd.authCheck))
	}
	return rows, nil
}

// sessionRows turns the rounds into the table's rows. Ratios are taken per
// round (each round's runs are side by side) and their median reported,
// with the medians of the figures.
func sessionRows(engine string, rounds []sessionRound, writes []string) []row {
	scen := "session check (" + engine + ")"
	invScen := "unknown token (" + engine + ")"
	checkScen := "auth check (" + engine + ")"
	pick := func(f func(sessionRound) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		return median(v)
	}
	rps := func(g func(sessionRound) checkRun) float64 {
		return pick(func(r sessionRound) float64 { return g(r).wrk.RPS })
	}
	p := func(g func(sessionRound) checkRun, q int) time.Duration {
		return time.Duration(pick(func(r sessionRound) float64 { return float64(g(r).wrk.P(q)) }))
	}
	cpu := func(g func(sessionRound) checkRun) time.Duration {
		return time.Duration(pick(func(r sessionRound) float64 { return float64(g(r).cpu) }))
	}
	// ratio is the median over rounds of a's figure over b's.
	ratio := func(a, b func(sessionRound) checkRun, fig func(checkRun) float64) float64 {
		return pick(func(r sessionRound) float64 { return fig(a(r)) / fig(b(r)) })
	}
	fRPS := func(c checkRun) float64 { return c.wrk.RPS }
	fP99 := func(c checkRun) float64 { return float64(c.wrk.P(99)) }
	fCPU := func(c checkRun) float64 { return float64(c.cpu) }
	ceiling := func(r sessionRound) checkRun { return r.ceiling }
	sessionMirror := func(r sessionRound) checkRun { return r.sessionMirror }
	valid := func(r sessionRound) checkRun { return r.valid }
	off := func(r sessionRound) checkRun { return r.metricsOff }
	invalid := func(r sessionRound) checkRun { return r.invalid }
	checkMirror := func(r sessionRound) checkRun { return r.checkMirror }
	authCheck := func(r sessionRound) checkRun { return r.authCheck }

	var rows []row
	// checkRows are the figures of one check against the ceiling and its
	// mirror.
	checkRows := func(scen string, kw, mirror func(sessionRound) checkRun) {
		rr := ratio(kw, ceiling, fRPS)
		pr := ratio(kw, ceiling, fP99)
		rows = append(rows,
			row{scen, "requests/s (vs the ceiling)", fmtRate(rps(kw)), fmtRate(rps(ceiling)), fmtRatio(rr),
				fmt.Sprintf("≥ %.0f %%", checkRPSTarget*100), check(rr >= checkRPSTarget)},
			row{scen, "requests/s (vs the same answer precomputed)", fmtRate(rps(kw)), fmtRate(rps(mirror)), fmtRatio(ratio(kw, mirror, fRPS)), "", info},
			row{scen, "requests/s of the precomputed answer (vs the ceiling)", fmtRate(rps(mirror)), fmtRate(rps(ceiling)), fmtRatio(ratio(mirror, ceiling, fRPS)), "", info},
			row{scen, "p99 latency (vs the ceiling)", fmtDur(p(kw, 99)), fmtDur(p(ceiling, 99)), fmtTimes(pr),
				fmt.Sprintf("≤ %.1f×", checkP99Target), check(pr <= checkP99Target)},
			row{scen, "p50 latency (vs the ceiling)", fmtDur(p(kw, 50)), fmtDur(p(ceiling, 50)), fmtTimes(ratio(kw, ceiling, func(c checkRun) float64 { return float64(c.wrk.P(50)) })), "", info},
			row{scen, "server CPU per request (vs the ceiling)", fmtDur(cpu(kw)), fmtDur(cpu(ceiling)), fmtTimes(ratio(kw, ceiling, fCPU)), "", info},
			row{scen, "server CPU per request (vs the same answer precomputed)", fmtDur(cpu(kw)), fmtDur(cpu(mirror)), fmtTimes(ratio(kw, mirror, fCPU)), "", info},
		)
	}
	checkRows(scen, valid, sessionMirror)
	mr := ratio(valid, off, fCPU)
	rows = append(rows,
		row{scen, "server CPU per request with metrics (vs a node without)", fmtDur(cpu(valid)), fmtDur(cpu(off)), fmtRatio(mr),
			fmt.Sprintf("≤ %.0f %%", metricsCPUCeil*100), check(mr <= metricsCPUCeil)},
		row{scen, "requests/s with metrics (vs a node without)", fmtRate(rps(valid)), fmtRate(rps(off)), fmtRatio(ratio(valid, off, fRPS)), "", info})
	ir := ratio(invalid, valid, fRPS)
	ic := ratio(invalid, valid, fCPU)
	rows = append(rows,
		row{invScen, "requests/s (vs the valid token)", fmtRate(rps(invalid)), fmtRate(rps(valid)), fmtRatio(ir),
			fmt.Sprintf("≥ %.0f %%", invalidTokenRPSFloor*100), check(ir >= invalidTokenRPSFloor)},
		row{invScen, "server CPU per request (vs the valid token)", fmtDur(cpu(invalid)), fmtDur(cpu(valid)), fmtRatio(ic),
			fmt.Sprintf("≤ %.0f %%", invalidTokenCPUCeil*100), check(ic > 0 && ic <= invalidTokenCPUCeil)},
		row{invScen, "p99 latency (vs the valid token)", fmtDur(p(invalid, 99)), fmtDur(p(valid, 99)), fmtTimes(ratio(invalid, valid, fP99)), "", info},
	)
	if len(writes) == 0 {
		rows = append(rows, row{invScen, "store writes during its runs", "none", "", "", "none", pass})
	} else {
		rows = append(rows, row{invScen, "store writes during its runs", strings.Join(writes, "; "), "", "", "none", fail})
	}
	checkRows(checkScen, authCheck, checkMirror)
	rows = append(rows, row{checkScen, "server CPU per request (vs the session check)", fmtDur(cpu(authCheck)), fmtDur(cpu(valid)), fmtRatio(ratio(authCheck, valid, fCPU)), "", info})

	// wrk's own view of the answers: every valid check must be a 200, every
	// unknown token a 401 (wrk counts both as requests).
	var bad []string
	for i, r := range rounds {
		for _, x := range []struct {
			what string
			run  checkRun
		}{{"the ceiling", r.ceiling}, {"the session mirror", r.sessionMirror}, {"the session check", r.valid},
			{"the node without metrics", r.metricsOff}, {"the auth-check mirror", r.checkMirror}, {"the auth check", r.authCheck}} {
			if x.run.wrk.Non2xx > 0 {
				bad = append(bad, fmt.Sprintf("round %d: %d non-2xx from %s", i+1, x.run.wrk.Non2xx, x.what))
			}
		}
		if r.invalid.wrk.Non2xx != r.invalid.wrk.Requests {
			bad = append(bad, fmt.Sprintf("round %d: %d of %d unknown-token answers were 2xx", i+1, r.invalid.wrk.Requests-r.invalid.wrk.Non2xx, r.invalid.wrk.Requests))
		}
		for _, run := range []checkRun{r.ceiling, r.sessionMirror, r.valid, r.metricsOff, r.invalid, r.checkMirror, r.authCheck} {
			if run.wrk.SocketError > 0 {
				bad = append(bad, fmt.Sprintf("round %d: %d socket errors", i+1, run.wrk.SocketError))
			}
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
