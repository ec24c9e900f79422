// Command keyward-bench measures keyward against its performance targets
// and prints a table: scenario | figure | value |
// baseline | ratio | target | verdict.
//
//	go run ./tools/keyward-bench                 # full run on SQLite (~5 min; the first also builds a 10M-event store, ~15 min)
//	go run ./tools/keyward-bench --quick         # short run for CI (under 2 minutes)
//	go run ./tools/keyward-bench --database-url postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//
// It builds keyward, starts two `keyward serve` nodes (on a temporary data
// folder each, or on one fresh PostgreSQL database made from --database-url
// and dropped at the end; the first serves metrics, the second does not)
// and the baselines in a process of their own, then runs:
//
//   - session check: wrk -t1 -c32 against GET /api/v1/sessions/current and
//     GET /api/v1/auth/check with a valid bearer token, side by side with
//     the ceiling (a bare handler writing a precomputed body) and with each
//     check's mirror (its exact headers and body, precomputed); the session
//     check on the node without metrics; a well-formed unknown token, which
//     must cost no more and write nothing;
//   - revocation (PostgreSQL): a session ended on one node while the other
//     is asked in a loop: how long it keeps answering 200;
//   - idle: the first node's CPU while nothing asks it anything;
//   - sign-in flood: 200 clients sending wrong passwords from one address,
//     keyward's resident memory sampled every 100 ms, while a correct
//     sign-in from another address is timed;
//   - audit at scale: a store of --events events (in-process, per engine),
//     hash-chained as the service chains them; page, filter, cursor,
//     export and append figures.
//
// The exit status is 1 when any target fails (unless --no-fail) or a
// scenario could not run at all (even with --no-fail: a broken bench is not
// a slow machine), 2 on a usage error, 130 when interrupted. Everything it started is stopped, and
// everything it made removed but the cached audit store, also on Ctrl-C.
// docs/performance.md says what each figure means and what bounds it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick            bool
	databaseURL      string
	engines          []string
	scenarios        []string
	events           int
	out              string
	noFail           bool
	rounds           int
	duration         time.Duration // of each wrk run
	floodDuration    time.Duration
	floodClients     int
	appendFor        time.Duration
	cacheDir         string
	auditBuild       string // how the SQLite audit store is filled: bulk or store
	cpuprofile       string // of the bench process itself (the audit scenario runs in it)
	cold             bool   // evict the SQLite audit store from the page cache before measuring, instead of reading it in
	pin              bool   // servers and wrk on separate CPUs
	revocationTrials int
	idleFor          time.Duration
}

var allScenarios = []string{"session", "revocation", "idle", "flood", "audit"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("keyward-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var engines, scenarios string
	fs.BoolVar(&o.quick, "quick", false, "short run for CI: 3 s wrk runs, one round, a 5 s flood, 200,000 audit events (under 2 minutes)")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL URL of a server where the bench may create and drop databases; adds the PostgreSQL variants")
	fs.StringVar(&engines, "engines", "", "comma-separated stores to measure: sqlite, postgres (default: sqlite, and postgres when --database-url is set)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run: session, revocation (PostgreSQL only), idle, flood, audit (default: all, revocation when PostgreSQL is measured)")
	fs.IntVar(&o.events, "events", 0, "audit events in the audit-at-scale store (default 10,000,000; --quick 200,000)")
	fs.StringVar(&o.out, "out", "", "also write the table, with the machine it ran on, as Markdown to this file")
	fs.BoolVar(&o.noFail, "no-fail", false, "exit 0 even when a target fails (a scenario that cannot run still exits 1)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds of baseline/valid/invalid wrk runs, medians reported (default 3; --quick 1)")
	fs.DurationVar(&o.duration, "duration", 0, "length of each wrk run (default 10s; --quick 3s)")
	fs.DurationVar(&o.floodDuration, "flood-duration", 0, "length of the sign-in flood (default 10s; --quick 5s)")
	fs.IntVar(&o.floodClients, "flood-clients", 200, "concurrent clients of the sign-in flood")
	fs.DurationVar(&o.appendFor, "append-duration", 0, "length of the audit append measurement (default 5s; --quick 2s)")
	fs.StringVar(&o.cacheDir, "cache-dir", os.TempDir(), "folder for the cached audit-at-scale SQLite store (keyward-bench-<events>.db)")
	fs.StringVar(&o.auditBuild, "audit-build", "bulk", "how the SQLite audit store is filled: bulk (rows inserted directly, indexes made afterwards) or store (the Store's AppendEvent, 5,000 per transaction)")
	fs.BoolVar(&o.cold, "cold", false, "measure the SQLite audit store cold: evict its file from the page cache first instead of reading it in")
	fs.BoolVar(&o.pin, "pin", true, "run keyward and the baseline on one half of the CPUs and wrk on the other (taskset), as clients on other machines")
	fs.IntVar(&o.revocationTrials, "revocation-trials", 0, "sessions ended on one node while another is asked (default 200; --quick 50)")
	fs.DurationVar(&o.idleFor, "idle-duration", 0, "how long keyward's CPU is measured while idle (default 60s; --quick 10s)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the bench process (where the audit-at-scale scenario runs) to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.auditBuild != "bulk" && o.auditBuild != "store" {
		return nil, errors.New("--audit-build must be bulk or store")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	defDur := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&o.events, 10_000_000, 200_000)
	def(&o.rounds, 3, 1)
	def(&o.revocationTrials, 200, 50)
	defDur(&o.idleFor, time.Minute, 10*time.Second)
	defDur(&o.duration, 10*time.Second, 3*time.Second)
	defDur(&o.floodDuration, 10*time.Second, 5*time.Second)
	defDur(&o.appendFor, 5*time.Second, 2*time.Second)
	if o.events < 20_000 {
		return nil, errors.New("--events must be at least 20,000")
	}
	if o.revocationTrials < 1 || o.idleFor < time.Second {
		return nil, errors.New("--revocation-trials must be positive and --idle-duration at least 1s")
	}
	if o.rounds < 1 || o.duration < time.Second || o.floodDuration < time.Second || o.floodClients < 1 || o.appendFor <= 0 {
		return nil, errors.New("--rounds, --duration (>= 1s), --flood-duration (>= 1s), --flood-clients and --append-duration must be positive")
	}
	if engines == "" {
		engines = "sqlite"
		if o.databaseURL != "" {
			engines = "sqlite,postgres"
		}
	}
	var err error
	if o.engines, err = splitList(engines, []string{"sqlite", "postgres"}); err != nil {
		return nil, fmt.Errorf("--engines: %w", err)
	}
	if slices.Contains(o.engines, "postgres") && o.databaseURL == "" {
		return nil, errors.New("--engines postgres needs --database-url")
	}
	if scenarios == "" {
		// Every scenario that can run: the revocation needs two nodes on
		// one database, which only PostgreSQL gives.
		for _, s := range allScenarios {
			if s != "revocation" || slices.Contains(o.engines, "postgres") {
				scenarios += s + ","
			}
		}
	}
	if o.scenarios, err = splitList(scenarios, allScenarios); err != nil {
		return nil, fmt.Errorf("--scenarios: %w", err)
	}
	if o.runs("revocation") && !slices.Contains(o.engines, "postgres") {
		return nil, errors.New("--scenarios revocation needs PostgreSQL (--database-url, and postgres among --engines): it ends a session on one node of a database and asks another")
	}
	return o, nil
}

// splitList splits a comma-separated list and checks each item is known.
func splitList(s string, known []string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(known, v) {
			return nil, fmt.Errorf("unknown %q (want %s)", v, strings.Join(known, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

func (o *options) runs(scenario string) bool { return slices.Contains(o.scenarios, scenario) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--baseline-server" {
		os.Exit(baselineMain(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// baselineMain is the hidden mode in which the bench runs its own baselines.
func baselineMain(args []string) int {
	fs := flag.NewFlagSet("keyward-bench --baseline-server", flag.ContinueOnError)
	var specs specList
	fs.Var(&specs, "serve", "addr=ceiling:file or addr=mirror:file (repeated): a listener and the answer it gives")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runBaselineServer(specs, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	return 0
}

// specList is the repeated --serve flag of the baseline server.
type specList []baselineSpec

func (l *specList) String() string { return fmt.Sprint(len(*l), " listeners") }

func (l *specList) Set(s string) error {
	sp, err := parseBaselineSpec(s)
	if err != nil {
		return err
	}
	*l = append(*l, sp)
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward-bench:", err)
		return 2
	}
	// The first Ctrl-C cancels ctx and the bench stops what it started;
	// signals stay caught until that is done.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "keyward-bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "keyward-bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	cpus := planCPUs(o.pin)
	b := &bench{opts: o, log: stderr, clean: &cleanups{}, cpus: cpus, gomaxprocs: cpus.serverProcs(runtime.GOMAXPROCS(0))}
	defer b.clean.run(stderr)
	rows, err := b.run(ctx)
	b.clean.run(stderr)
	b.machine.LoadAvgEnd = loadAvg()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "keyward-bench: interrupted; everything it started was stopped")
		return 130
	}
	if err != nil {
		rows = append(rows, row{Scenario: "bench", Figure: "error", Value: firstLine(err.Error()), Verdict: fail})
		fmt.Fprintln(stderr, "keyward-bench:", err)
	}
	fmt.Fprintln(stdout)
	b.machine.write(stdout, false)
	fmt.Fprintln(stdout)
	_ = renderText(stdout, rows)
	for _, n := range b.notes {
		fmt.Fprintln(stdout, "  *", n)
	}
	if o.out != "" {
		if err := writeMarkdown(o.out, b, rows); err != nil {
			fmt.Fprintln(stderr, "keyward-bench:", err)
			return 1
		}
	}
	if anyErrored(rows) || (anyFailed(rows) && !o.noFail) {
		return 1
	}
	return 0
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeMarkdown writes the report for docs/performance.md.
func writeMarkdown(path string, b *bench, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "`%s`\n\n", b.commandLine())
	b.machine.write(f, true)
	fmt.Fprintln(f)
	if err := renderMarkdown(f, rows); err != nil {
		f.Close()
		return err
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(f)
		for _, n := range b.notes {
			fmt.Fprintln(f, "-", n)
		}
	}
	return f.Close()
}
