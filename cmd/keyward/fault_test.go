package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/postgres/pgtest"
)

// The fault tests restart or freeze the PostgreSQL server the tests use,
// which every other test on the machine shares: they run only when asked
// for, the restart with KEYWARD_TEST_FAULTS=1 or =restart, the freeze with
// =freeze, or, as CI does, with "postgres-restart" or "postgres-freeze" in
// KEYWARD_TEST_REQUIRE.

// faultRequested reports whether the fault test name (restart, freeze) was
// asked for, and whether as a requirement (then missing parts fail instead
// of skipping).
func faultRequested(name string) (wanted, required bool) {
	for _, p := range strings.Split(os.Getenv(pgtest.RequireEnv), ",") {
		if strings.TrimSpace(p) == "postgres-"+name {
			return true, true
		}
	}
	return faultListed(name) || name == "restart" && faultListed("1"), false
}

// faultListed reports whether KEYWARD_TEST_FAULTS (comma-separated) names f.
func faultListed(f string) bool {
	for _, p := range strings.Split(os.Getenv("KEYWARD_TEST_FAULTS"), ",") {
		if strings.TrimSpace(p) == f {
			return true
		}
	}
	return false
}

// pgCluster controls the local Debian cluster that serves the test server's
// port (pg_lsclusters, pg_ctlcluster).
type pgCluster struct {
	version, name string
	server        string // its URL, for readiness checks
}

// findCluster returns the cluster behind server, or a reason it cannot.
func findCluster(server string) (*pgCluster, error) {
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %v", pgtest.URLEnv, err)
	}
	switch cfg.Host {
	case "127.0.0.1", "localhost", "::1":
	default:
		if !strings.HasPrefix(cfg.Host, "/") {
			return nil, fmt.Errorf("the test server %s is not on this machine", cfg.Host)
		}
	}
	if _, err := exec.LookPath("pg_lsclusters"); err != nil {
		return nil, fmt.Errorf("pg_lsclusters is missing (Debian's postgresql-common)")
	}
	out, err := exec.Command("pg_lsclusters", "--no-header").Output()
	if err != nil {
		return nil, fmt.Errorf("pg_lsclusters: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == strconv.Itoa(int(cfg.Port)) {
			return &pgCluster{version: f[0], name: f[1], server: server}, nil
		}
	}
	return nil, fmt.Errorf("no local cluster listens on port %d:\n%s", cfg.Port, out)
}

// postmaster returns the pid of the cluster's postmaster, from the
// postmaster.pid file in its data directory.
func (c *pgCluster) postmaster() (int, error) {
	out, err := exec.Command("pg_lsclusters", "--no-header", c.version, c.name).Output()
	if err != nil {
		return 0, fmt.Errorf("pg_lsclusters: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 6 {
		return 0, fmt.Errorf("pg_lsclusters: %q", out)
	}
	b, err := os.ReadFile(f[5] + "/postmaster.pid")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// signalAll sends sig to the postmaster and every process it started.
func signalAll(postmaster int, sig syscall.Signal) {
	_ = syscall.Kill(postmaster, sig)
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(postmaster)).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, sig)
		}
	}
}

func (c *pgCluster) String() string { return c.version + "/" + c.name }

func (c *pgCluster) ctl(action string) error {
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", c.version, c.name, action).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster %s %s %s: %v\n%s", c.version, c.name, action, err, out)
	}
	return nil
}

// ready reports whether the server accepts a connection and a query.
func (c *pgCluster) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.server)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx) == nil
}

func (c *pgCluster) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !c.ready() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// sample is one request of the fault test's traffic.
type sample struct {
	kind   string // signup, signin, session, readyz
	start  time.Time
	dur    time.Duration
	status int // 0: no answer (transport error or client timeout)
	email  string
}

type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
}

func (r *recorder) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

// first returns the first sample of kind started after t with status want.
func (r *recorder) first(kind string, after time.Time, want int) (sample, bool) {
	for _, s := range r.all() {
		if s.kind == kind && !s.start.Before(after) && s.status == want {
			return s, true
		}
	}
	return sample{}, false
}

// faultCluster returns the test server's cluster for the fault test name
// (restart, freeze), or skips the test when it was not asked for, or fails
// it when it was required and cannot run.
func faultCluster(t *testing.T, name, what string) *pgCluster {
	t.Helper()
	wanted, required := faultRequested(name)
	if !wanted {
		t.Skipf("%s the shared PostgreSQL server: set KEYWARD_TEST_FAULTS=%s (or postgres-%s in %s) to run it",
			what, name, name, pgtest.RequireEnv)
	}
	if os.Getenv(pgtest.URLEnv) == "" && required {
		t.Fatalf("%s is unset but %s asks for postgres-%s", pgtest.URLEnv, pgtest.RequireEnv, name)
	}
	cluster, err := findCluster(pgtest.ServerURL(t))
	if err != nil {
		if required {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return cluster
}

func TestFaultPostgresRestart(t *testing.T) {
	cluster := faultCluster(t, "restart", "restarts")
	dbURL := pgtest.NewDatabase(t)
	// Registered after NewDatabase, so it runs before the database is
	// dropped: whatever happens, the server is left running.
	t.Cleanup(func() {
		if cluster.ready() {
			return
		}
		if err := cluster.ctl("start"); err != nil {
			t.Errorf("restoring PostgreSQL: %v", err)
		}
		if !cluster.waitReady(60 * time.Second) {
			t.Errorf("PostgreSQL %s is not answering after the test", cluster)
		}
	})

	bin := buildKeyward(t)
	key := newSecretKey(t)
	nodes := startNodes(t, bin, dbURL, key, "A", "B")
	n, other := nodes[0], nodes[1] // traffic goes to A; B ends a session after recovery
	pid := n.cmd.Process.Pid
	if st := n.signUp(t, "traffic@example.com"); st != http.StatusCreated {
		t.Fatalf("sign-up = %d", st)
	}
	st, s, _ := n.signIn(t, "traffic@example.com", testPassword)
	if st != http.StatusCreated {
		t.Fatalf("sign-in = %d", st)
	}

	// Traffic: sign-ups, sign-ins, session checks and a readiness probe, each
	// from its own goroutine, until stop.
	rec := &recorder{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	worker := func(kind string, pause time.Duration, fn func(i int) (int, string)) {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				start := time.Now()
				status, email := fn(i)
				rec.add(sample{kind: kind, start: start, dur: time.Since(start), status: status, email: email})
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	for w := range 2 {
		worker("signup", 20*time.Millisecond, func(i int) (int, string) {
			email := fmt.Sprintf("fault-%d-%d@example.com", w, i)
			return n.signUp(t, email), email
		})
	}
	worker("signin", 20*time.Millisecond, func(int) (int, string) {
		st, _, _ := n.signIn(t, "traffic@example.com", testPassword)
		return st, ""
	})
	worker("session", 10*time.Millisecond, func(int) (int, string) {
		st, _ := n.get(t, "/api/v1/sessions/current", s.Token)
		return st, ""
	})
	worker("readyz", 100*time.Millisecond, func(int) (int, string) {
		st, _ := n.get(t, "/readyz", "")
		return st, ""
	})

	time.Sleep(2 * time.Second)
	t.Logf("stopping PostgreSQL %s", cluster)
	stopBegin := time.Now()
	if err := cluster.ctl("stop"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(3 * time.Second)
	startBegin := time.Now()
	// pg_ctlcluster start returns a while after the server accepts
	// connections: watch for the moment it does.
	upCh := make(chan time.Time, 1)
	go func() {
		for !cluster.ready() {
			time.Sleep(20 * time.Millisecond)
		}
		upCh <- time.Now()
	}()
	if err := cluster.ctl("start"); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	var up time.Time
	select {
	case up = <-upCh:
	case <-time.After(30 * time.Second):
		t.Fatal("PostgreSQL does not accept connections 30 s after pg_ctlcluster start returned")
	}
	t.Logf("PostgreSQL: stop took %v, down for %v, accepting connections again %v after the start began (pg_ctlcluster start returned after %v)",
		stopped.Sub(stopBegin).Round(time.Millisecond), startBegin.Sub(stopped).Round(time.Millisecond),
		up.Sub(startBegin).Round(time.Millisecond), started.Sub(startBegin).Round(time.Millisecond))

	// Recovery, without touching keyward.
	var ready, signup sample
	deadline := started.Add(30 * time.Second)
	for {
		var ok1, ok2 bool
		ready, ok1 = rec.first("readyz", startBegin, http.StatusOK)
		signup, ok2 = rec.first("signup", startBegin, http.StatusCreated)
		if ok1 && ok2 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			t.Fatalf("keyward did not recover within 30 s of PostgreSQL's start (ready %v, sign-up %v)\n%s", ok1, ok2, summarize(rec.all(), started))
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovered := ready.start.Add(ready.dur)
	if e := signup.start.Add(signup.dur); e.After(recovered) {
		recovered = e
	}
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	samples := rec.all()

	t.Logf("recovery, counted from the moment PostgreSQL accepted connections again: /readyz 200 after %v, first sign-up 201 after %v",
		ready.start.Add(ready.dur).Sub(up).Round(time.Millisecond), signup.start.Add(signup.dur).Sub(up).Round(time.Millisecond))

	// What each kind of request answers when all is well.
	wantStatus := map[string]int{"signup": http.StatusCreated, "signin": http.StatusCreated, "session": http.StatusOK, "readyz": http.StatusOK}
	var (
		longest      sample
		outageByKind = map[string]map[int]int{}
		problems     []string
	)
	for _, x := range samples {
		end := x.start.Add(x.dur)
		if x.status == 0 {
			problems = append(problems, fmt.Sprintf("%s at %v got no answer after %v", x.kind, x.start.Sub(stopBegin).Round(time.Millisecond), x.dur))
		}
		if x.status == http.StatusInternalServerError {
			problems = append(problems, fmt.Sprintf("%s at %v answered 500", x.kind, x.start.Sub(stopBegin).Round(time.Millisecond)))
		}
		// In flight at any time while the server was stopping, down or
		// starting: none may take long.
		if end.After(stopBegin) && x.start.Before(started) {
			if x.dur > longest.dur {
				longest = x
			}
			if x.dur > 3500*time.Millisecond {
				problems = append(problems, fmt.Sprintf("%s at %v took %v during the outage", x.kind, x.start.Sub(stopBegin).Round(time.Millisecond), x.dur))
			}
		}
		// Entirely while the server was down: 503, fast.
		if !x.start.Before(stopped) && !end.After(startBegin) {
			if outageByKind[x.kind] == nil {
				outageByKind[x.kind] = map[int]int{}
			}
			outageByKind[x.kind][x.status]++
			if x.status != http.StatusServiceUnavailable {
				problems = append(problems, fmt.Sprintf("%s at %v answered %d while PostgreSQL was down, want 503",
					x.kind, x.start.Sub(stopBegin).Round(time.Millisecond), x.status))
			}
		}
		// A second after recovery everything works again.
		if x.start.After(recovered.Add(time.Second)) && x.status != wantStatus[x.kind] {
			problems = append(problems, fmt.Sprintf("%s at %v answered %d after recovery", x.kind, x.start.Sub(stopBegin).Round(time.Millisecond), x.status))
		}
	}
	t.Logf("while PostgreSQL was down: %v; longest request in flight during the outage: %s %v (status %d)",
		outageByKind, longest.kind, longest.dur.Round(time.Millisecond), longest.status)
	if outageByKind["readyz"][http.StatusServiceUnavailable] == 0 {
		problems = append(problems, "no /readyz answered 503 while PostgreSQL was down")
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		t.Errorf("during the restart:\n  %s\n%s", strings.Join(problems, "\n  "), summarize(samples, stopBegin))
	}

	if testing.Verbose() {
		t.Log(summarize(samples, stopBegin))
	}
	if n.cmd.ProcessState != nil || n.cmd.Process.Pid != pid {
		t.Fatal("the keyward process did not stay up")
	}

	// The nodes follow each other again: a session ended on B after the
	// restart is refused on A (whose cache came back, or is still off:
	// either way never stale).
	st, s2, _ := n.signIn(t, "traffic@example.com", testPassword)
	if st != http.StatusCreated {
		t.Fatalf("sign-in on A after recovery = %d", st)
	}
	for range 3 {
		n.get(t, "/api/v1/sessions/current", s2.Token)
	}
	if st, _ := other.do(t, http.MethodDelete, "/api/v1/sessions/current", s2.Token, nil, nil); st != http.StatusNoContent {
		t.Fatalf("sign-out on B after recovery = %d", st)
	}
	t.Logf("after the restart, a session ended on B was refused on A after %v", waitRefused(t, n, s2.Token, time.Second))

	// Nothing acknowledged is lost: every 201 sign-up is an account, with
	// its audit event, and every chain verifies.
	var acked []string
	for _, x := range samples {
		if x.kind == "signup" && x.status == http.StatusCreated {
			acked = append(acked, x.email)
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(cctx)
	rows, err := conn.Query(cctx, `SELECT a.email FROM accounts a JOIN audit_events e ON e.chain_id = a.id AND e.type = 'account.created'`)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, e := range acked {
		if !slices.Contains(stored, e) {
			lost++
			t.Errorf("sign-up %s was acknowledged with 201 but is not in the database", e)
		}
	}
	t.Logf("%d sign-ups acknowledged, %d lost; %d accounts with their account.created event in the database", len(acked), lost, len(stored))
	if code, out := runWithKey(t, key, "audit", "verify", "--database-url", dbURL, "--data-dir", t.TempDir()); code != 0 {
		t.Fatalf("audit verify after the restart = %d %q", code, out)
	}
}

// summarize tells, in 500 ms slots from t0, what each kind of request
// answered: the timeline of a failed fault test.
func summarize(samples []sample, t0 time.Time) string {
	type key struct {
		slot int
		kind string
	}
	counts := map[key]map[int]int{}
	maxSlot := 0
	for _, s := range samples {
		slot := int(s.start.Sub(t0) / (500 * time.Millisecond))
		if slot < -4 {
			continue
		}
		k := key{slot, s.kind}
		if counts[k] == nil {
			counts[k] = map[int]int{}
		}
		counts[k][s.status]++
		maxSlot = max(maxSlot, slot)
	}
	var b strings.Builder
	b.WriteString("timeline (seconds from the stop; status:count):\n")
	for slot := -4; slot <= maxSlot; slot++ {
		fmt.Fprintf(&b, "  %+5.1fs", float64(slot)/2)
		for _, kind := range []string{"signup", "signin", "session", "readyz"} {
			fmt.Fprintf(&b, "  %s %v", kind, counts[key{slot, kind}])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFaultPostgresFreeze freezes the PostgreSQL server (SIGSTOP: it keeps
// its connections open and answers nothing, as a paused VM or a network
// partition would) under sign-up traffic, and wants every request answered
// within 8 s (3 s to connect plus 5 s to wait for a pooled connection) while
// it is frozen. It stalls every other user of the server for its duration,
// so it runs only when asked for (see faultRequested).
func TestFaultPostgresFreeze(t *testing.T) {
	cluster := faultCluster(t, "freeze", "freezes")
	dbURL := pgtest.NewDatabase(t)
	pm, err := cluster.postmaster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { signalAll(pm, syscall.SIGCONT) })

	n := startNodes(t, buildKeyward(t), dbURL, newSecretKey(t), "A")[0]
	rec := &recorder{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var inFlight [3]atomic.Int64 // each worker's request start (Unix ns), 0 between requests
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				start := time.Now()
				inFlight[w].Store(start.UnixNano())
				st := n.signUp(t, fmt.Sprintf("freeze-%d-%d@example.com", w, i))
				inFlight[w].Store(0)
				rec.add(sample{kind: "signup", start: start, dur: time.Since(start), status: st})
			}
		})
	}
	time.Sleep(time.Second)
	freeze := time.Now()
	for range 3 { // again, for a process forked meanwhile
		signalAll(pm, syscall.SIGSTOP)
	}
	// A request still waiting after 8 s waits for something no deadline
	// bounds: have the node print its goroutines (SIGQUIT) to find what.
	time.Sleep(9 * time.Second)
	for w := range inFlight {
		if s := inFlight[w].Load(); s != 0 && time.Since(time.Unix(0, s)) > 8*time.Second {
			_ = n.cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(500 * time.Millisecond)
			t.Errorf("a sign-up has waited %v; the node's goroutines in keyward or pgx:\n%s",
				time.Since(time.Unix(0, s)).Round(time.Millisecond), stacksMentioning(n.out.String(), "keyward/keyward", "jackc/"))
			break
		}
	}
	time.Sleep(3 * time.Second)
	signalAll(pm, syscall.SIGCONT)
	thaw := time.Now()
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()

	var longest sample
	byStatus := map[int]int{}
	for _, x := range rec.all() {
		end := x.start.Add(x.dur)
		if end.After(freeze) && x.start.Before(thaw) {
			byStatus[x.status]++
			if x.dur > longest.dur {
				longest = x
			}
		}
	}
	t.Logf("frozen for %v: requests in flight answered %v; the longest took %v (status %d)",
		thaw.Sub(freeze).Round(time.Millisecond), byStatus, longest.dur.Round(time.Millisecond), longest.status)
	if longest.dur > 8*time.Second {
		t.Errorf("a request took %v while PostgreSQL was frozen for %v: it waited for the database instead of failing with 503",
			longest.dur.Round(time.Millisecond), thaw.Sub(freeze).Round(time.Millisecond))
	}
}

// stacksMentioning returns the goroutines of a Go traceback (blank-line
// separated) that mention any of words.
func stacksMentioning(traceback string, words ...string) string {
	var out []string
	for _, g := range strings.Split(traceback, "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && slices.ContainsFunc(words, func(w string) bool { return strings.Contains(g, w) }) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
