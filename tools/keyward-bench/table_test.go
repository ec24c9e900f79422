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
	wr := func(rps float64, p50, p99 time.Duration, requests, non2xx int64) wrkResult {
		return wrkResult{RPS: rps, Requests: requests, Non2xx: non2xx, Latency: map[int]time.Duration{50: p50, 99: p99}}
	}
	ms := time.Millisecond
	rounds := []sessionRound{
		{baseline: wr(50000, ms/4, ms, 500000, 0), valid: wr(45000, ms/3, 1500*time.Microsecond, 450000, 0), invalid: wr(46000, ms/3, 1400*time.Microsecond, 460000, 460000)},
		{baseline: wr(40000, ms/4, ms, 400000, 0), valid: wr(30000, ms/3, 3*ms, 300000, 0), invalid: wr(31000, ms/3, 1900*time.Microsecond, 310000, 310000)},
		{baseline: wr(52000, ms/4, ms, 520000, 0), valid: wr(44000, ms/3, 1600*time.Microsecond, 440000, 0), invalid: wr(45000, ms/3, 1500*time.Microsecond, 450000, 450000)},
	}
	us := time.Microsecond
	checks := []wrkResult{wr(41000, ms/3, 1700*time.Microsecond, 410000, 0), wr(36000, ms/3, 1800*time.Microsecond, 360000, 0), wr(43000, ms/3, 1600*time.Microsecond, 430000, 0)}
	for i := range rounds {
		rounds[i].baselineCPU, rounds[i].validCPU, rounds[i].invalidCPU, rounds[i].authCheckCPU = 17*us, 30*us, 29*us, 31*us
		rounds[i].authCheck = checks[i]
	}
	rows := sessionRows("s", "inv", "chk", rounds, nil)
	want := map[string]verdict{
		"s/requests/s (valid token)":                        pass, // per-round ratios .90, .75, .846: median .846
		"s/p99 latency":                                     pass, // median 1.6 ms
		"s/p50 latency":                                     info,
		"s/server CPU per request":                          info,
		"inv/server CPU per request (vs the valid token)":   pass,
		"inv/requests/s (vs the valid token)":               pass,
		"inv/p99 latency":                                   info,
		"inv/store writes during its runs":                  pass,
		"chk/requests/s":                                    pass, // per-round .82, .90, .827: median .827
		"chk/requests/s (vs the session check)":             info,
		"chk/p99 latency":                                   pass, // median 1.7 ms
		"chk/server CPU per request (vs the session check)": info,
	}
	got := map[string]verdict{}
	for _, r := range rows {
		got[r.Scenario+"/"+r.Figure] = r.Verdict
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: verdict %q, want %q", k, got[k], v)
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	if rows[0].Ratio != "84.6 %" {
		t.Errorf("ratio = %q, want the median of the per-round ratios, 84.6 %%", rows[0].Ratio)
	}
	for _, r := range rows {
		if r.Scenario == "chk" && r.Figure == "requests/s" && r.Ratio != "82.7 %" {
			t.Errorf("auth check ratio = %q, want the median of the per-round ratios, 82.7 %%", r.Ratio)
		}
	}

	// A write, a 2xx for an unknown token and an unknown token dearer
	// than a valid one, fail.
	rounds[1].invalid.Non2xx = 309999
	for i := range rounds {
		rounds[i].invalidCPU = 34 * us
	}
	rows = sessionRows("s", "inv", "chk", rounds, []string{"throttles 0→1"})
	var failed []string
	for _, r := range rows {
		if r.Verdict == fail {
			failed = append(failed, r.Figure+": "+r.Value)
		}
	}
	if len(failed) != 3 || !strings.HasPrefix(failed[0], "server CPU per request") ||
		!strings.Contains(failed[1], "throttles 0→1") || !strings.Contains(failed[2], "1 of 310000 unknown-token answers were 2xx") {
		t.Errorf("failed rows = %q", failed)
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
