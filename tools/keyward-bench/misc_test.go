package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(*options) bool
		wantErr string
	}{
		{"defaults", nil, func(o *options) bool {
			return o.events == 10_000_000 && o.rounds == 3 && o.duration == 10*time.Second && o.floodDuration == 10*time.Second &&
				slices.Equal(o.engines, []string{"sqlite"}) && slices.Equal(o.scenarios, []string{"session", "idle", "flood", "audit"}) &&
				o.revocationTrials == 200 && o.idleFor == time.Minute
		}, ""},
		{"quick", []string{"--quick"}, func(o *options) bool {
			return o.events == 200_000 && o.rounds == 1 && o.duration == 3*time.Second && o.floodDuration == 5*time.Second &&
				o.revocationTrials == 50 && o.idleFor == 10*time.Second
		}, ""},
		{"quick with explicit events", []string{"--quick", "--events", "50000"}, func(o *options) bool { return o.events == 50_000 }, ""},
		{"database url adds postgres", []string{"--database-url", "postgres://x@h/db"}, func(o *options) bool {
			return slices.Equal(o.engines, []string{"sqlite", "postgres"}) && slices.Equal(o.scenarios, allScenarios)
		}, ""},
		{"revocation without postgres", []string{"--scenarios", "revocation"}, nil, "needs PostgreSQL"},
		{"engines chosen", []string{"--database-url", "postgres://x@h/db", "--engines", "postgres"}, func(o *options) bool {
			return slices.Equal(o.engines, []string{"postgres"})
		}, ""},
		{"postgres without url", []string{"--engines", "sqlite,postgres"}, nil, "needs --database-url"},
		{"unknown engine", []string{"--engines", "mysql"}, nil, `unknown "mysql"`},
		{"unknown scenario", []string{"--scenarios", "session,nap"}, nil, `unknown "nap"`},
		{"too few events", []string{"--events", "100"}, nil, "at least 20,000"},
		{"stray argument", []string{"now"}, nil, "unexpected argument"},
		{"bad build method", []string{"--audit-build", "magic"}, nil, "bulk or store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options = %+v", *o)
			}
		})
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/kw_bench_x?sslmode=disable"},
		{"postgresql://u:p@h/", "postgresql://u:p@h/kw_bench_x"},
		{"host=127.0.0.1 user=postgres dbname=postgres sslmode=disable", "host=127.0.0.1 user=postgres sslmode=disable dbname=kw_bench_x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "kw_bench_x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got := redactURL("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %q", got)
	}
}

func TestProbeDiff(t *testing.T) {
	a := map[string]int64{"sessions": 1, "throttles": 0, "data_version": 4}
	if d := probeDiff(a, a); d != "" {
		t.Errorf("no change: %q", d)
	}
	b := map[string]int64{"sessions": 1, "throttles": 2, "data_version": 5}
	if d := probeDiff(a, b); d != "data_version 4→5, throttles 0→2" {
		t.Errorf("diff = %q", d)
	}
}

func TestParseProcField(t *testing.T) {
	status := "Name:\tkeyward\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n"
	if got := parseProcField(status, "VmRSS:"); got != 65432 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := parseProcField(status, "VmSwap:"); got != -1 {
		t.Errorf("missing field = %d, want -1", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
	}{
		{"plain", "1234 (keyward) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 8 0 100 0", 3750 * time.Millisecond},
		{"name with spaces and parens", "99 (a b) c) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0", 100 * time.Millisecond},
		{"truncated", "99 (x) R 1 2", -1},
		{"garbage", "no parens here", -1},
	}
	for _, tt := range tests {
		if got := parseStatCPU(tt.stat); got != tt.want {
			t.Errorf("%s: parseStatCPU = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFloodTally(t *testing.T) {
	f := &floodTally{status: map[int]int{}}
	f.add(apiResponse{Status: http.StatusUnauthorized}, nil)
	f.add(apiResponse{Status: http.StatusTooManyRequests, RetryAfter: "3"}, nil)
	f.add(apiResponse{Status: http.StatusServiceUnavailable, RetryAfter: "2"}, nil)
	if got := f.bad5xx(); got != 0 {
		t.Errorf("503 with Retry-After counted as bad: %d", got)
	}
	f.add(apiResponse{Status: http.StatusServiceUnavailable}, nil)
	f.add(apiResponse{Status: http.StatusInternalServerError}, nil)
	f.add(apiResponse{}, io.ErrUnexpectedEOF)
	if got := f.bad5xx(); got != 2 {
		t.Errorf("bad5xx = %d, want 2 (a bare 503 and a 500)", got)
	}
	if got, want := f.summary(), "401×1, 429×1, 500×1, 503×2, errors×1"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if f.total() != 6 {
		t.Errorf("total = %d", f.total())
	}
}

// The generated store must be what the service would have written: every
// chain verifies, starts with account.created, and the big account holds
// about its share.
func TestGeneratorChainsVerify(t *testing.T) {
	cfg := defaultGenConfig(5000)
	cfg.Accounts = 20
	g := newGenerator(cfg)
	byChain := map[string][]*keyward.Event{}
	var prev time.Time
	for !g.done() {
		e := g.next()
		if !e.Time.After(prev) {
			t.Fatalf("event %d at %v, not after %v", g.n, e.Time, prev)
		}
		prev = e.Time
		if !strings.HasPrefix(e.ID, "ev_") || len(e.ID) != 3+26 {
			t.Fatalf("id %q is not shaped like the service's", e.ID)
		}
		byChain[e.ChainID] = append(byChain[e.ChainID], e)
	}
	if len(byChain) != cfg.Accounts+1 {
		t.Errorf("%d chains, want %d", len(byChain), cfg.Accounts+1)
	}
	if n := len(byChain[g.big()]); n < 900 || n > 1100 {
		t.Errorf("big account has %d of 5000 events, want about 20 %%", n)
	}
	types := map[audit.Type]bool{}
	for i, h := range g.heads {
		evs := byChain[h.ChainID]
		if evs[0].Type != audit.AccountCreated {
			t.Errorf("chain %d starts with %s", i, evs[0].Type)
		}
		for _, e := range evs {
			types[e.Type] = true
			if !audit.Known(e.Type) {
				t.Errorf("unknown type %q", e.Type)
			}
		}
		problem, n, err := audit.VerifyChain(h, func(fn func(*keyward.Event) error) error {
			for _, e := range evs {
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || problem != nil || n != len(evs) {
			t.Errorf("chain %d: VerifyChain = %v, %d, %v", i, problem, n, err)
		}
		if !bytes.Equal(h.Hash, evs[len(evs)-1].Hash) {
			t.Errorf("chain %d: head is not the last event", i)
		}
	}
	// Every type a person's own traffic causes; an operator's actions
	// (disabling, deleting, admin tokens) are not part of the imitated load.
	want := 0
	for _, typ := range audit.Types() {
		switch typ {
		case audit.AccountDisabled, audit.AccountEnabled, audit.AccountDeleted, audit.AdminTokenCreated, audit.AdminTokenRevoked:
		default:
			want++
		}
	}
	if len(types) != want {
		t.Errorf("%d of %d event types generated", len(types), want)
	}
	// Same seed, same events: a cached store matches its description.
	again := newGenerator(cfg)
	for range 100 {
		again.next()
	}
	if again.heads[0].Seq == 0 || again.accounts[0] != g.accounts[0] {
		t.Error("the generator is not deterministic")
	}
}

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat("123456789 2000 17\n")
	if err != nil || got != 123456789*time.Nanosecond {
		t.Errorf("parseSchedstat = %v, %v", got, err)
	}
	if _, err := parseSchedstat("x 1 2"); err == nil {
		t.Error("parseSchedstat of garbage: no error")
	}
}

func TestParseBaselineSpec(t *testing.T) {
	sp, err := parseBaselineSpec("127.0.0.1:9=mirror:/tmp/a.json")
	if err != nil || sp != (baselineSpec{"127.0.0.1:9", "mirror", "/tmp/a.json"}) {
		t.Errorf("parseBaselineSpec = %+v, %v", sp, err)
	}
	for _, bad := range []string{"127.0.0.1:9", "127.0.0.1:9=fancy:/a", "=ceiling:/a", "127.0.0.1:9=ceiling:"} {
		if _, err := parseBaselineSpec(bad); err == nil {
			t.Errorf("parseBaselineSpec(%q): no error", bad)
		}
	}
}

func TestMirrorRepeatsTheAnswer(t *testing.T) {
	h := http.Header{"Date": {"x"}, "Content-Length": {"2"}, "Content-Type": {"application/json"}, "X-Request-Id": {"id-1"}, "Cache-Control": {"no-store"}}
	a := capturedAnswer(h, []byte("{}"))
	if _, ok := a.Headers["Date"]; ok {
		t.Error("the captured answer keeps Date, which net/http writes")
	}
	w := httptest.NewRecorder()
	mirrorHandler(a).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Body.String() != "{}" || w.Header().Get("X-Request-Id") != "id-1" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("mirror answered %d %q %v", w.Code, w.Body, w.Header())
	}
	w = httptest.NewRecorder()
	ceilingHandler(a.Body).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Body.String() != "{}" || len(w.Header()) != 1 {
		t.Errorf("ceiling answered %d %q %v", w.Code, w.Body, w.Header())
	}
}
