package main

import (
	"strings"
	"testing"
	"time"
)

var sampleRows = []row{
	{"session check (sqlite)", "requests/s (valid token)", "41,000/s", "50,000/s", "82.0 %", "≥ 80 %", pass},
	{"session check (sqlite)", "p99 latency", "2.50 ms", "1.10 ms", "2.27×", "< 2.00 ms", fail},
	{"sign-in flood (sqlite)", "flood answers", "12 in 5s: 401×2, 429×10", "", "", "", info},
}

func TestRenderText(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want string
	}{
		{"header only", nil, "" +
			"scenario | figure | value | baseline | ratio | target | verdict\n" +
			"-------- | ------ | ----- | -------- | ----- | ------ | -------\n"},
		{"aligned, µs and ≥ counted as one column each", []row{
			{"a", "p99", "850 µs", "1.00 ms", "0.85×", "≥ 1", pass},
			{"longer scenario", "x", "1", "", "", "", info},
		}, "" +
			"scenario        | figure | value  | baseline | ratio | target | verdict\n" +
			"--------------- | ------ | ------ | -------- | ----- | ------ | -------\n" +
			"a               | p99    | 850 µs | 1.00 ms  | 0.85× | ≥ 1    | PASS\n" +
			"longer scenario | x      | 1      |          |       |        | info\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := renderText(&b, tt.rows); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("renderText:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderMarkdown(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want string
	}{
		{"verdicts bold, info plain, empty cells dashed", sampleRows, "" +
			"| scenario | figure | value | baseline | ratio | target | verdict |\n" +
			"|---|---|---|---|---|---|---|\n" +
			"| session check (sqlite) | requests/s (valid token) | 41,000/s | 50,000/s | 82.0 % | ≥ 80 % | **PASS** |\n" +
			"| session check (sqlite) | p99 latency | 2.50 ms | 1.10 ms | 2.27× | < 2.00 ms | **FAIL** |\n" +
			"| sign-in flood (sqlite) | flood answers | 12 in 5s: 401×2, 429×10 | – | – | – | info |\n"},
		{"a pipe or newline cannot break the table", []row{{"a|b", "line\nbreak", "x\r\ny", "", "", "", info}}, "" +
			"| scenario | figure | value | baseline | ratio | target | verdict |\n" +
			"|---|---|---|---|---|---|---|\n" +
			"| a\\|b | line break | x y | – | – | – | info |\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := renderMarkdown(&b, tt.rows); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("renderMarkdown:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestAnyFailed(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want bool
	}{
		{"none", nil, false},
		{"pass and info", []row{{Verdict: pass}, {Verdict: info}}, false},
		{"one fail", []row{{Verdict: pass}, {Verdict: fail}}, true},
	}
	for _, tt := range tests {
		if got := anyFailed(tt.rows); got != tt.want {
			t.Errorf("%s: anyFailed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"rate", fmtRate(41234.6), "41,235/s"},
		{"rate small", fmtRate(999), "999/s"},
		{"int millions", fmtInt(10_000_000), "10,000,000"},
		{"int negative", fmtInt(-1234), "-1,234"},
		{"dur ns", fmtDur(500), "500 ns"},
		{"dur µs", fmtDur(850 * time.Microsecond), "850 µs"},
		{"dur ms", fmtDur(1234 * time.Microsecond), "1.23 ms"},
		{"dur 10 ms", fmtDur(12340 * time.Microsecond), "12.3 ms"},
		{"dur s", fmtDur(2510 * time.Millisecond), "2.51 s"},
		{"bytes", fmtBytes(512), "512 B"},
		{"bytes MiB", fmtBytes(400 << 20), "400 MiB"},
		{"bytes GiB", fmtBytes(6_500_000_000), "6.05 GiB"},
		{"bytes negative", fmtBytes(-2048), "-2.00 KiB"},
		{"ratio", fmtRatio(0.8345), "83.5 %"},
		{"times", fmtTimes(1.5), "1.50×"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSessionRows(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	run := func(rps float64, p99 time.Duration, requests, non2xx int64, cpu time.Duration) checkRun {
		return checkRun{wrk: wrkResult{RPS: rps, Requests: requests, Non2xx: non2xx, Latency: map[int]time.Duration{50: ms / 3, 99: p99}}, cpu: cpu}
	}
	// Per round: ceiling, session mirror, session check, without metrics,
	// unknown token, check mirror, auth check.
	round := func(ceil, valid, check float64, validP99 time.Duration) sessionRound {
		return sessionRound{
			ceiling:       run(ceil, ms, 1e6, 0, 10*us),
			sessionMirror: run(ceil*0.9, ms, 1e6, 0, 11*us),
			valid:         run(valid, validP99, 1e6, 0, 12*us),
			metricsOff:    run(valid, validP99, 1e6, 0, 12*us),
			invalid:       run(valid, validP99, 1e6, 1e6, 12*us),
			checkMirror:   run(ceil*0.9, ms, 1e6, 0, 11*us),
			authCheck:     run(check, 1400*us, 1e6, 0, 12*us),
		}
	}
	rounds := []sessionRound{
		round(100000, 90000, 82000, 1200*us), // ratios .90 and .82
		round(80000, 60000, 72000, 2*ms),     // .75 and .90
		round(100000, 84600, 82700, 1300*us), // .846 and .827
	}
	rows := sessionRows("e", rounds, nil)
	want := map[string]verdict{
		"session check (e)/requests/s (vs the ceiling)":                             pass, // median .846
		"session check (e)/requests/s (vs the same answer precomputed)":             info,
		"session check (e)/requests/s of the precomputed answer (vs the ceiling)":   info,
		"session check (e)/p99 latency (vs the ceiling)":                            pass, // median 1.3×
		"session check (e)/p50 latency (vs the ceiling)":                            info,
		"session check (e)/server CPU per request (vs the ceiling)":                 info,
		"session check (e)/server CPU per request (vs the same answer precomputed)": info,
		"session check (e)/server CPU per request with metrics (vs a node without)": pass,
		"session check (e)/requests/s with metrics (vs a node without)":             info,
		"unknown token (e)/requests/s (vs the valid token)":                         pass,
		"unknown token (e)/server CPU per request (vs the valid token)":             pass,
		"unknown token (e)/p99 latency (vs the valid token)":                        info,
		"unknown token (e)/store writes during its runs":                            pass,
		"auth check (e)/requests/s (vs the ceiling)":                                pass, // median .827
		"auth check (e)/requests/s (vs the same answer precomputed)":                info,
		"auth check (e)/requests/s of the precomputed answer (vs the ceiling)":      info,
		"auth check (e)/p99 latency (vs the ceiling)":                               pass,
		"auth check (e)/p50 latency (vs the ceiling)":                               info,
		"auth check (e)/server CPU per request (vs the ceiling)":                    info,
		"auth check (e)/server CPU per request (vs the same answer precomputed)":    info,
		"auth check (e)/server CPU per request (vs the session check)":              info,
	}
	got := map[string]row{}
	for _, r := range rows {
		got[r.Scenario+"/"+r.Figure] = r
	}
	for k, v := range want {
		if got[k].Verdict != v {
			t.Errorf("%s: verdict %q, want %q", k, got[k].Verdict, v)
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	if r := got["session check (e)/requests/s (vs the ceiling)"]; r.Ratio != "84.6 %" {
		t.Errorf("ratio = %q, want the median of the per-round ratios, 84.6 %%", r.Ratio)
	}
	if r := got["auth check (e)/requests/s (vs the ceiling)"]; r.Ratio != "82.7 %" {
		t.Errorf("auth check ratio = %q, want the median of the per-round ratios, 82.7 %%", r.Ratio)
	}

	// A write, a 2xx for an unknown token, an unknown token dearer than a
	// valid one, a p99 past 1.5× the ceiling's and metrics costing 5 %, fail.
	for i := range rounds {
		rounds[i].invalid.cpu = 14 * us
		rounds[i].valid.wrk.Latency[99] = 2 * ms
		rounds[i].metricsOff.cpu = rounds[i].valid.cpu * 100 / 105
	}
	rounds[1].invalid.wrk.Non2xx = 999999
	rows = sessionRows("e", rounds, []string{"throttles 0→1"})
	var failed []string
	for _, r := range rows {
		if r.Verdict == fail {
			failed = append(failed, r.Figure+": "+r.Value)
		}
	}
	wantFailed := []string{"p99 latency (vs the ceiling)", "server CPU per request with metrics", "server CPU per request (vs the valid token)",
		"store writes during its runs: throttles 0→1", "answers: round 2: 1 of 1000000 unknown-token answers were 2xx"}
	if len(failed) != len(wantFailed) {
		t.Fatalf("failed rows = %q, want %q", failed, wantFailed)
	}
	for i, w := range wantFailed {
		if !strings.HasPrefix(failed[i], w) {
			t.Errorf("failed row %d = %q, want it to start %q", i, failed[i], w)
		}
	}
}

func TestRevocationRows(t *testing.T) {
	ms := time.Millisecond
	var trials []revocationTrial
	for i := range 200 {
		trials = append(trials, revocationTrial{window: time.Duration(i%10) * ms / 2, notified: ms, fromStart: 3 * ms, stale: i % 3, polls: 20})
	}
	rows := revocationRows("r", trials)
	if rows[0].Verdict != pass || rows[1].Verdict != pass {
		t.Errorf("rows = %+v, want p99 and worst to pass", rows)
	}
	if !strings.Contains(rows[2].Value, "199 in all, at most 2 in one trial, of 4000 requests") {
		t.Errorf("stale answers = %q", rows[2].Value)
	}
	// Three slow trials of 200 put p99 past 10 ms; one worst past 50 ms.
	trials[0].window, trials[1].window, trials[2].window = 12*ms, 12*ms, 60*ms
	rows = revocationRows("r", trials)
	if rows[0].Verdict != fail || rows[1].Verdict != fail {
		t.Errorf("rows = %+v, want p99 and worst to fail", rows)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}}
	for _, tt := range tests {
		if got := l.q(tt.p); got != tt.want {
			t.Errorf("q(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if l[0] != 100*time.Millisecond {
		t.Error("q sorted the caller's slice")
	}
}

func TestAnyErrored(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want bool
	}{
		{"a failed target is not an error", []row{{Scenario: "s", Figure: "p99 latency", Verdict: fail}}, false},
		{"a scenario that could not run", []row{{Scenario: "s", Figure: "p99 latency", Verdict: pass}, {Scenario: "keyward (postgres)", Figure: "error", Verdict: fail}}, true},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		if got := anyErrored(tt.rows); got != tt.want {
			t.Errorf("%s: anyErrored = %v, want %v", tt.name, got, tt.want)
		}
	}
}
