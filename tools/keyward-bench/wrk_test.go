package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Reports as wrk 4.1 prints them with --latency.
const (
	wrkOK = `Running 10s test @ http://127.0.0.1:41234/api/v1/sessions/current
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   409.02us  306.52us   9.90ms   91.41%
    Req/Sec    39.77k     2.62k   44.87k    72.50%
  Latency Distribution
     50%  335.00us
     75%  456.00us
     90%  628.00us
     99%    1.56ms
  791548 requests in 10.00s, 300.44MB read
Requests/sec:  79148.35
Transfer/sec:     30.04MB
`
	wrk401 = `Running 3s test @ http://127.0.0.1:41234/api/v1/sessions/current
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.82ms    3.21ms  42.93ms   93.64%
    Req/Sec   836.48    436.91     1.98k    71.43%
  Latency Distribution
     50%    3.29ms
     75%    4.31ms
     90%    5.58ms
     99%   17.61ms
  1754 requests in 1.10s, 0.87MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 1754
Requests/sec:   1591.43
Transfer/sec:    808.15KB
`
	wrkSlow = `Running 10s test @ http://127.0.0.1:1/
  2 threads and 32 connections
  Latency Distribution
     50%    1.00s
     75%    1.50s
     90%    2.00m
     99%    1.00h
  20 requests in 10.01s, 1.00KB read
Requests/sec:      2.00
`
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name                string
		out                 string
		rps                 float64
		requests            int64
		duration            time.Duration
		p50, p99            time.Duration
		non2xx, socketError int64
	}{
		{"all 200", wrkOK, 79148.35, 791548, 10 * time.Second, 335 * time.Microsecond, 1560 * time.Microsecond, 0, 0},
		{"all 401 with socket errors", wrk401, 1591.43, 1754, 1100 * time.Millisecond, 3290 * time.Microsecond, 17610 * time.Microsecond, 1754, 5},
		{"seconds, minutes, hours", wrkSlow, 2, 20, 10010 * time.Millisecond, time.Second, time.Hour, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseWrk(tt.out)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if r.RPS != tt.rps || r.Requests != tt.requests || r.Duration != tt.duration {
				t.Errorf("rps, requests, duration = %v, %d, %v; want %v, %d, %v", r.RPS, r.Requests, r.Duration, tt.rps, tt.requests, tt.duration)
			}
			if r.P(50) != tt.p50 || r.P(99) != tt.p99 {
				t.Errorf("p50, p99 = %v, %v; want %v, %v", r.P(50), r.P(99), tt.p50, tt.p99)
			}
			if r.Non2xx != tt.non2xx || r.SocketError != tt.socketError {
				t.Errorf("non-2xx, socket errors = %d, %d; want %d, %d", r.Non2xx, r.SocketError, tt.non2xx, tt.socketError)
			}
		})
	}
}

func TestParseWrkRefusesIncompleteReports(t *testing.T) {
	tests := []struct {
		name, out, wantErr string
	}{
		{"empty", "", "no Requests/sec"},
		{"no --latency", strings.Replace(wrkOK, "  Latency Distribution\n", "", 1), "no 99% latency"},
		{"no distribution at all", "  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n", "no 99% latency"},
		{"garbled latency", strings.Replace(wrkOK, "1.56ms", "1.56parsecs", 1), "cannot read the duration"},
		{"garbled rate", strings.Replace(wrkOK, "79148.35", "lots", 1), "requests/sec"},
		{"garbled socket errors", strings.Replace(wrk401, "read 2", "read two", 1), "socket errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWrk(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseWrk error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"335.00us", 335 * time.Microsecond, true},
		{"1.56ms", 1560 * time.Microsecond, true},
		{"2.50s", 2500 * time.Millisecond, true},
		{"1.00m", time.Minute, true},
		{"0.50h", 30 * time.Minute, true},
		{"12", 0, false},
		{"ms", 0, false},
		{"-1.00ms", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestWrkArgs(t *testing.T) {
	s := wrkSpec{URL: "http://127.0.0.1:1/x", Threads: 2, Connections: 32, Duration: 10 * time.Second, Headers: []string{"Authorization: Bearer kws_abc"}}
	want := []string{"-t2", "-c32", "-d10s", "--latency", "-H", "Authorization: Bearer kws_abc", "http://127.0.0.1:1/x"}
	if got := s.args(); !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}
