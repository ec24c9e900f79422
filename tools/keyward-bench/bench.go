package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/keyring"
)

// bench is one run of keyward-bench.
type bench struct {
	opts       *options
	log        io.Writer // progress
	clean      *cleanups
	cpus       cpuSplit
	gomaxprocs int // of keyward and the baseline
	machine    machine
	notes      []string

	tmp  string // removed at the end
	root string // the module
	bin  string // keyward, built for this run
	self string // this binary, which also serves the baseline
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "keyward-bench: "+format+"\n", args...)
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// commandLine is how this run was started, with any password in a
// database URL masked.
func (b *bench) commandLine() string {
	args := []string{"go run ./tools/keyward-bench"}
	for i := 1; i < len(os.Args); i++ {
		a := os.Args[i]
		if v, ok := strings.CutPrefix(a, "--database-url="); ok {
			a = "--database-url=" + redactURL(v)
		} else if (a == "--database-url" || a == "-database-url") && i+1 < len(os.Args) {
			args = append(args, a)
			i++
			a = redactURL(os.Args[i])
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// run runs every scenario selected for every engine and returns the rows.
// Errors of one scenario become failed rows; only a failure to set up at
// all is returned.
func (b *bench) run(ctx context.Context) ([]row, error) {
	o := b.opts
	b.machine = describeMachine(ctx)
	b.machine.GOMAXPROCS = b.gomaxprocs
	b.machine.CPUs = b.cpus.String()
	var err error
	if b.tmp, err = os.MkdirTemp("", "keyward-bench-"); err != nil {
		return nil, err
	}
	b.clean.add("temporary folder "+b.tmp, func() error { return os.RemoveAll(b.tmp) })

	if o.databaseURL != "" {
		v, err := postgresVersion(ctx, o.databaseURL)
		if err != nil {
			return nil, fmt.Errorf("--database-url: %w", err)
		}
		b.machine.Postgres = v
	}
	var rows []row
	if o.runs("session") || o.runs("flood") || o.runs("revocation") || o.runs("idle") {
		if o.runs("session") {
			if _, err := exec.LookPath("wrk"); err != nil {
				return nil, errors.New("wrk is not installed (Debian: apt-get install wrk); or run --scenarios flood,audit")
			}
		}
		if b.root, err = moduleRoot(ctx); err != nil {
			return nil, err
		}
		if b.self, err = os.Executable(); err != nil {
			return nil, err
		}
		b.logf("building keyward")
		if b.bin, err = buildKeyward(ctx, b.root, b.tmp); err != nil {
			return nil, err
		}
		if rows, err = b.eachEngine(ctx, rows, "keyward", b.httpScenarios); err != nil {
			return rows, err
		}
	}
	if o.runs("audit") {
		if rows, err = b.eachEngine(ctx, rows, "audit at scale", b.auditScale); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// eachEngine runs scenarios on every engine selected and appends their rows
// to rows. An engine's error becomes a failed row named "<name> (<engine>)"
// and the run goes on; only an interruption is returned.
func (b *bench) eachEngine(ctx context.Context, rows []row, name string, scenarios func(context.Context, string) ([]row, error)) ([]row, error) {
	for _, engine := range b.opts.engines {
		r, err := scenarios(ctx, engine)
		rows = append(rows, r...)
		if err != nil {
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			rows = append(rows, row{Scenario: name + " (" + engine + ")", Figure: "error", Value: firstLine(err.Error()), Verdict: fail})
			b.logf("%s %s: %v", name, engine, err)
		}
	}
	return rows, nil
}

// target is a running keyward with an account signed in, and a second
// node: on PostgreSQL one more node of the same database (the revocation
// scenario ends sessions on one and asks the other), on SQLite a node of
// its own. The first node serves metrics (--metrics-addr), the second none,
// so that the session check can be measured with metrics on and off.
type target struct {
	engine   string
	kw       *proc
	base     string // http://127.0.0.1:port
	dataDir  string
	dbURL    string // PostgreSQL only
	email    string
	password string
	token    string
	dir      string // this engine's part of the temporary folder
	other    *node
	// otherToken is a session of the second node's (on PostgreSQL the
	// same database, so t.token works there too).
	otherToken string
}

// node is one running `keyward serve`.
type node struct {
	kw      *proc
	base    string
	dataDir string
}

// startNode starts keyward serve as name, on its own data folder under
// t.dir, on t's database when it has one; with metrics when asked.
func (b *bench) startNode(ctx context.Context, t *target, name, keyFile string, metrics bool, local *cleanups) (*node, error) {
	n := &node{dataDir: filepath.Join(t.dir, name+"-data")}
	args := []string{"serve", "--data-dir", n.dataDir, "--trusted-proxies", "127.0.0.1/32"}
	if t.dbURL != "" {
		args = append(args, "--database-url", t.dbURL, "--secret-key-file", keyFile)
	}
	if metrics {
		maddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		args = append(args, "--metrics-addr", maddr)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append(args, "--addr", addr)
	n.base = "http://" + addr
	b.logf("%s: starting %s (keyward serve on %s, metrics %s)", t.engine, name, addr, onOff(metrics))
	n.kw, err = startProc(name, b.bin, args, b.cpus.server, childEnv(b.gomaxprocs), filepath.Join(t.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	local.add(name, func() error { return n.kw.stop(15 * time.Second) })
	if err := waitReady(ctx, n.kw, n.base+"/readyz", 60*time.Second); err != nil {
		return nil, err
	}
	return n, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// httpScenarios starts keyward on engine and runs the scenarios that drive
// it over HTTP. Everything it starts is stopped before it returns.
func (b *bench) httpScenarios(ctx context.Context, engine string) (rows []row, err error) {
	local := &cleanups{}
	defer local.run(b.log)
	t := &target{engine: engine, dir: filepath.Join(b.tmp, engine)}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, err
	}
	keyFile := ""
	if engine == "postgres" {
		dbURL, err := createDatabase(ctx, b.opts.databaseURL, local)
		if err != nil {
			return nil, err
		}
		t.dbURL = dbURL
		// A PostgreSQL node needs the key every node of the database
		// shares; it never makes one of its own.
		keyFile = filepath.Join(t.dir, "shared.keys")
		if _, err := keyring.LoadFile(keyFile, rand.Reader); err != nil {
			return nil, fmt.Errorf("making the shared secret key: %w", err)
		}
	}
	first, err := b.startNode(ctx, t, "keyward", keyFile, true, local)
	if err != nil {
		return nil, err
	}
	t.kw, t.base, t.dataDir = first.kw, first.base, first.dataDir
	c := newAPIClient(t.base, 4)
	defer c.close()
	t.email, t.password = "owner@example.com", randomPassword()
	if err := c.signUp(ctx, t.email, t.password); err != nil {
		return nil, err
	}
	if t.token, err = c.signIn(ctx, t.email, t.password, ""); err != nil {
		return nil, err
	}
	if b.opts.runs("session") || b.opts.runs("revocation") {
		if t.other, err = b.startNode(ctx, t, "keyward-2", keyFile, false, local); err != nil {
			return nil, err
		}
		t.otherToken = t.token
		if t.dbURL == "" {
			oc := newAPIClient(t.other.base, 2)
			defer oc.close()
			if err := oc.signUp(ctx, t.email, t.password); err != nil {
				return nil, err
			}
			if t.otherToken, err = oc.signIn(ctx, t.email, t.password, ""); err != nil {
				return nil, err
			}
		}
	}

	if b.opts.runs("session") {
		r, err := b.sessionCheck(ctx, t)
		rows = append(rows, r...)
		if err != nil {
			return rows, fmt.Errorf("session check: %w", err)
		}
	}
	if b.opts.runs("revocation") && engine == "postgres" {
		r, err := b.revocation(ctx, t)
		rows = append(rows, r...)
		if err != nil {
			return rows, fmt.Errorf("revocation across nodes: %w", err)
		}
	}
	if b.opts.runs("idle") {
		r, err := b.idle(ctx, t)
		rows = append(rows, r...)
		if err != nil {
			return rows, fmt.Errorf("idle: %w", err)
		}
	}
	if b.opts.runs("flood") {
		r, err := b.signInFlood(ctx, t)
		rows = append(rows, r...)
		if err != nil {
			return rows, fmt.Errorf("sign-in flood: %w", err)
		}
	}
	if t.other != nil {
		if err := t.other.kw.exitedDuring("the run"); err != nil {
			return rows, err
		}
	}
	return rows, t.kw.exitedDuring("the run")
}
