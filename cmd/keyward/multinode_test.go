package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/totp"
)

// ---- Moving up: keyward copy.

// testApp wires keyward in-process on a data folder, or on a PostgreSQL URL
// with key as KEYWARD_SECRET_KEY.
func testApp(t *testing.T, dir, dbURL, key string) *app {
	t.Helper()
	args := []string{"--data-dir", dir, "--argon2-memory", "64", "--argon2-time", "1"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	c, err := parseServeConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	c.secretKey = key
	a, err := wire(context.Background(), c, newLogger("text", io.Discard))
	if err != nil {
		t.Fatalf("wire: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// runWithKey runs the command line in-process with KEYWARD_SECRET_KEY set
// to key (unset when ""), and returns the exit code and output.
func runWithKey(t *testing.T, key string, args ...string) (int, string) {
	t.Helper()
	if key == "" {
		t.Setenv("KEYWARD_SECRET_KEY", "")
		os.Unsetenv("KEYWARD_SECRET_KEY")
	} else {
		t.Setenv("KEYWARD_SECRET_KEY", key)
	}
	var out bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

// snapshot reads a whole store as records, backup codes in hash order
// (PostgreSQL keeps no position for them), for comparing two stores.
func snapshot(t *testing.T, s keyward.Store) []keyward.Record {
	t.Helper()
	var out []keyward.Record
	err := s.(keyward.Snapshotter).Export(context.Background(), func(r keyward.Record) error {
		if r.BackupCodes != nil {
			slices.SortFunc(r.BackupCodes.Codes, func(a, b keyward.BackupCode) int { return bytes.Compare(a.Hash, b.Hash) })
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return out
}

func sameSnapshots(t *testing.T, what string, a, b []keyward.Record) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d records, want %d", what, len(b), len(a))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			ka, _ := a[i].Kind()
			t.Fatalf("%s: record %d (%s) differs:\n got %s\nwant %s", what, i, ka, show(b[i]), show(a[i]))
		}
	}
}

func show(r keyward.Record) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestCopySQLiteToPostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	dir := t.TempDir()
	client := keyward.Client{IP: "192.0.2.10", UserAgent: "copy-test"}

	// An installation on SQLite, made through the service: ada with 2FA
	// (one backup code already used), bob with a live session and a failed
	// sign-in, carol half-way through a 2FA setup, a failed sign-in for an
	// unknown email (system chain), and a pruned chain that continues from
	// its checkpoint.
	var (
		adaSecret, carolSecret string
		adaCodes               []string
		bobToken, adaMFAToken  string
		carolToken             string
		enabledStep            int64
	)
	func() {
		a := testApp(t, dir, "", "")
		svc := a.Service
		for _, email := range []string{"ada@example.com", "bob@example.com", "carol@example.com", "dan@example.com"} {
			if _, err := svc.SignUp(ctx, email, testPassword, client); err != nil {
				t.Fatalf("sign-up %s: %v", email, err)
			}
		}
		res, err := svc.SignIn(ctx, "ada@example.com", testPassword, client)
		if err != nil {
			t.Fatal(err)
		}
		setup, err := svc.BeginTOTPSetup(ctx, res.Session, "", client)
		if err != nil {
			t.Fatal(err)
		}
		adaSecret = setup.Secret
		now := time.Now()
		code, _ := totp.Code(adaSecret, now)
		if adaCodes, err = svc.EnableTOTP(ctx, res.Session, code, client); err != nil {
			t.Fatal(err)
		}
		enabledStep = totp.Step(now)
		// Use the first backup code on SQLite.
		mfa, err := svc.SignIn(ctx, "ada@example.com", testPassword, client)
		if err != nil || !mfa.MFARequired() {
			t.Fatalf("ada sign-in: %v %+v", err, mfa)
		}
		if _, err := svc.CompleteSignIn(ctx, mfa.MFAToken, adaCodes[0], client); err != nil {
			t.Fatalf("backup code on SQLite: %v", err)
		}

		bob, err := svc.SignIn(ctx, "bob@example.com", testPassword, client)
		if err != nil {
			t.Fatal(err)
		}
		bobToken = bob.Token
		if _, err := svc.SignIn(ctx, "bob@example.com", "wrong password entirely", client); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, err := svc.SignIn(ctx, "nobody@example.com", testPassword, client); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
			t.Fatalf("unknown email: %v", err)
		}

		carol, err := svc.SignIn(ctx, "carol@example.com", testPassword, client)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := svc.BeginTOTPSetup(ctx, carol.Session, "", client)
		if err != nil {
			t.Fatal(err)
		}
		carolSecret, carolToken = cs.Secret, carol.Token

		// dan's chain: prune what is there, then go on past the checkpoint.
		dan, err := a.Store.AccountByEmail(ctx, "dan@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := a.Store.PruneEvents(ctx, dan.ID, time.Now().Add(time.Second)); err != nil || n == 0 {
			t.Fatalf("prune dan's chain: %d, %v", n, err)
		}
		if _, err := svc.SignIn(ctx, "dan@example.com", testPassword, client); err != nil {
			t.Fatal(err)
		}
		// ada is between her password and her code while the move happens.
		mfa, err = svc.SignIn(ctx, "ada@example.com", testPassword, client)
		if err != nil || !mfa.MFARequired() {
			t.Fatalf("ada sign-in: %v %+v", err, mfa)
		}
		adaMFAToken = mfa.MFAToken
	}()
	keyFile := filepath.Join(dir, "secret.keys")
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	// The copy, with the key file of the data folder.
	code, out := runWithKey(t, "", "copy", "--from", dir, "--to", dbURL)
	t.Logf("keyward copy said:\n%s", out)
	if code != 0 {
		t.Fatalf("copy = %d", code)
	}
	for _, want := range []string{"accounts               4", "TOTP credentials       1", "pending 2FA setups     1", "mfa challenges         1",
		"audit log intact there", "KEYWARD_SECRET_KEY", keyFile} {
		if !strings.Contains(out, want) {
			t.Errorf("copy output lacks %q", want)
		}
	}

	// What arrived is what was there, record for record.
	{
		src := testApp(t, dir, "", "")
		dst := testApp(t, t.TempDir(), dbURL, string(keyText))
		sameSnapshots(t, "PostgreSQL after copy", snapshot(t, src.Store), snapshot(t, dst.Store))
	}

	// The operator's check on the new database. dan's chain was pruned as
	// if its events were past retention, and verify checks a checkpoint's
	// age against the retention it runs with: here, one that fits.
	if code, out := runWithKey(t, string(keyText), "audit", "verify", "--database-url", dbURL, "--data-dir", t.TempDir(), "--audit-retention", "1ns"); code != 0 || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify on PostgreSQL = %d %q", code, out)
	}

	// The new nodes: same key, PostgreSQL.
	pg := testApp(t, t.TempDir(), dbURL, string(keyText))
	svc := pg.Service
	if _, ok := pg.Store.(*postgres.Store); !ok {
		t.Fatalf("store is %T", pg.Store)
	}
	signInMFA := func(code string) (*keyward.SignInResult, error) {
		t.Helper()
		mfa, err := svc.SignIn(ctx, "ada@example.com", testPassword, client)
		if err != nil || !mfa.MFARequired() {
			t.Fatalf("ada's password on PostgreSQL: %v %+v", err, mfa)
		}
		return svc.CompleteSignIn(ctx, mfa.MFAToken, code, client)
	}
	// The mfa_token handed out on SQLite finishes its sign-in here.
	if res, err := svc.CompleteSignIn(ctx, adaMFAToken, adaCodes[2], client); err != nil || res.BackupCodesRemaining != 8 {
		t.Fatalf("second step of a sign-in begun before the copy: %v %+v", err, res)
	}
	// The TOTP step that enabled 2FA was copied: its code stays spent.
	replay, _ := totp.Code(adaSecret, time.Unix(enabledStep*30, 0))
	if _, err := signInMFA(replay); !keyward.IsCode(err, keyward.CodeInvalidCode) {
		t.Fatalf("replayed TOTP code on PostgreSQL: %v, want invalid_code", err)
	}
	next, _ := totp.Code(adaSecret, time.Unix((enabledStep+1)*30, 0))
	if res, err := signInMFA(next); err != nil || res.Session.AAL != 2 {
		t.Fatalf("TOTP sign-in on PostgreSQL: %v", err)
	}
	// The backup code used on SQLite stays used; another works once.
	if _, err := signInMFA(adaCodes[0]); !keyward.IsCode(err, keyward.CodeInvalidCode) {
		t.Fatalf("backup code used before the copy: %v, want invalid_code", err)
	}
	res, err := signInMFA(adaCodes[1])
	if err != nil || !res.UsedBackupCode || res.BackupCodesRemaining != 7 {
		t.Fatalf("backup code on PostgreSQL: %v %+v", err, res)
	}
	if _, err := signInMFA(adaCodes[1]); !keyward.IsCode(err, keyward.CodeInvalidCode) {
		t.Fatalf("backup code again: %v, want invalid_code", err)
	}
	// bob's session came along, and his password works.
	if acct, _, err := svc.Authenticate(ctx, bobToken); err != nil || acct.Email != "bob@example.com" {
		t.Fatalf("bob's session on PostgreSQL: %v", err)
	}
	if _, err := svc.SignIn(ctx, "bob@example.com", testPassword, client); err != nil {
		t.Fatalf("bob's password on PostgreSQL: %v", err)
	}
	// carol finishes her setup with the seed she was shown before the move,
	// in the session that started it (a setup belongs to its session, and
	// the copy keeps which one that is): another session of hers cannot.
	other, err := svc.SignIn(ctx, "carol@example.com", testPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := totp.Code(carolSecret, time.Now())
	if _, err := svc.EnableTOTP(ctx, other.Session, cc, client); !keyward.IsCode(err, keyward.CodeNoPendingSetup) {
		t.Fatalf("carol's setup confirmed by another session on PostgreSQL: %v, want no_pending_setup", err)
	}
	_, carolSession, err := svc.Authenticate(ctx, carolToken)
	if err != nil {
		t.Fatalf("carol's session on PostgreSQL: %v", err)
	}
	// Sessions arrive with their sudo window closed (the one thing a copy
	// leaves out): she confirms it is her, then finishes.
	if _, err := svc.EnableTOTP(ctx, carolSession, cc, client); !keyward.NeedsSudo(err) {
		t.Fatalf("carol's setup right after the copy: %v, want reauthentication_required", err)
	}
	if _, err := svc.GrantSudo(ctx, carolSession, keyward.SudoProof{Password: testPassword}, client); err != nil {
		t.Fatalf("carol confirming it is her on PostgreSQL: %v", err)
	}
	if _, err := svc.EnableTOTP(ctx, carolSession, cc, client); err != nil {
		t.Fatalf("carol's pending setup on PostgreSQL: %v", err)
	}
	if code, out := runWithKey(t, string(keyText), "audit", "verify", "--database-url", dbURL, "--data-dir", t.TempDir(), "--audit-retention", "1ns"); code != 0 {
		t.Fatalf("audit verify after sign-ins on PostgreSQL = %d %q", code, out)
	}

	t.Run("refuses a non-empty target", func(t *testing.T) {
		code, out := runWithKey(t, "", "copy", "--from", dir, "--to", dbURL)
		if code != 1 || !strings.Contains(out, "not empty") {
			t.Fatalf("copy into a used database = %d %q", code, out)
		}
	})
	t.Run("refuses a key that cannot open the seeds", func(t *testing.T) {
		other := pgtest.NewDatabase(t)
		wrong := newSecretKey(t)
		code, out := runWithKey(t, wrong, "copy", "--from", dir, "--to", other)
		if code != 1 || !strings.Contains(out, "does not open") || !strings.Contains(out, "nothing was copied") {
			t.Fatalf("copy with the wrong key = %d %q", code, out)
		}
		s := testApp(t, t.TempDir(), other, wrong)
		if accts, err := s.Store.ListAccounts(ctx); err != nil || len(accts) != 0 {
			t.Fatalf("after a refused copy the target holds %d accounts (%v)", len(accts), err)
		}
	})
	t.Run("refuses a folder without a database", func(t *testing.T) {
		empty := t.TempDir()
		code, out := runWithKey(t, "", "copy", "--from", empty, "--to", pgtest.NewDatabase(t))
		if code != 1 || !strings.Contains(out, "no keyward database") {
			t.Fatalf("copy from an empty folder = %d %q", code, out)
		}
		if _, err := os.Stat(filepath.Join(empty, "keyward.db")); err == nil {
			t.Fatal("copy created a database in --from")
		}
	})
	t.Run("and back down to SQLite", func(t *testing.T) {
		back := t.TempDir()
		code, out := runWithKey(t, string(keyText), "copy", "--from", dbURL, "--to", back)
		if code != 0 {
			t.Fatalf("copy to SQLite = %d %q", code, out)
		}
		src := testApp(t, t.TempDir(), dbURL, string(keyText))
		dst := testApp(t, back, "", string(keyText))
		sameSnapshots(t, "SQLite after copy back", snapshot(t, src.Store), snapshot(t, dst.Store))
	})
}

// ---- Several nodes on one database.

// waitRefused polls n until it answers 401 for token, and fails t when that
// takes longer than within.
func waitRefused(t *testing.T, n *node, token string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, _ := n.get(t, "/api/v1/sessions/current", token)
		if st == http.StatusUnauthorized {
			return time.Since(start)
		}
		if st != http.StatusOK {
			t.Fatalf("session on %s = %d", n.name, st)
		}
		if time.Since(start) > within {
			t.Fatalf("%s still accepts the session after %v", n.name, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newSecretKey returns a fresh KEYWARD_SECRET_KEY value, in the keyring's
// own format (made by the keyring package, as a node's key file is).
func newSecretKey(t testing.TB) string {
	t.Helper()
	k, err := keyring.LoadFile(filepath.Join(t.TempDir(), "secret.keys"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Format()
}

// syncBuffer is a bytes.Buffer a child process writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// node is one `keyward serve` process.
type node struct {
	name string
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	out  *syncBuffer
}

// startNodes starts keyward serve processes on dbURL with the same secret
// key, at once (they migrate the database together), and waits until each
// is ready.
func startNodes(t *testing.T, bin, dbURL, key string, names ...string) []*node {
	t.Helper()
	return startNodesWith(t, bin, dbURL, key, nil, names...)
}

// startNodesWith is startNodes with the serve flags in extra.
func startNodesWith(t *testing.T, bin, dbURL, key string, extra []string, names ...string) []*node {
	t.Helper()
	nodes := make([]*node, len(names))
	for i, name := range names {
		addr := freePort(t)
		n := &node{name: name, base: "http://" + addr, out: &syncBuffer{}}
		n.cmd = exec.Command(bin, append([]string{"serve", "--database-url", dbURL, "--addr", addr, "--data-dir", t.TempDir(),
			"--argon2-memory", "64", "--argon2-time", "1", "--log-format", "text", "--trusted-proxies", "127.0.0.1/32"}, extra...)...)
		n.cmd.Env = append(os.Environ(), "KEYWARD_SECRET_KEY="+key)
		n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
			if t.Failed() {
				t.Logf("node %s output:\n%s", n.name, n.out.String())
			}
		})
		nodes[i] = n
	}
	for _, n := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, _ := n.get(t, "/readyz", "")
			if st == http.StatusOK {
				break
			}
			if time.Now().After(deadline) || n.cmd.ProcessState != nil {
				t.Fatalf("node %s did not become ready:\n%s", n.name, n.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// do sends a JSON request and decodes a JSON answer into out (when not nil).
// A transport error is status 0.
func (n *node) do(t testing.TB, method, path, token string, body any, out any) (int, http.Header) {
	t.Helper()
	return n.doFrom(t, "", method, path, token, body, out)
}

// doFrom is do from the client address from (the nodes trust loopback as
// their proxy), or from loopback itself when from is "".
func (n *node) doFrom(t testing.TB, from, method, path, token string, body any, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, out)
	}
	return res.StatusCode, res.Header
}

func (n *node) get(t testing.TB, path, token string) (int, http.Header) {
	return n.do(t, http.MethodGet, path, token, nil, nil)
}

type signInAnswer struct {
	Token       string `json:"token"`
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	Session     struct {
		ID  string `json:"id"`
		AAL int    `json:"aal"`
	} `json:"session"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// signUp signs up from an address of its own (sign-up is throttled per
// address, and these tests make many accounts).
func (n *node) signUp(t testing.TB, email string) int {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(email))
	v := h.Sum32()
	from := fmt.Sprintf("198.18.%d.%d", v>>8&0xff, v&0xff)
	st, _ := n.doFrom(t, from, http.MethodPost, "/api/v1/accounts", "", map[string]string{"email": email, "password": testPassword}, nil)
	return st
}

func (n *node) signIn(t testing.TB, email, pw string) (int, signInAnswer, http.Header) {
	t.Helper()
	var a signInAnswer
	st, h := n.do(t, http.MethodPost, "/api/v1/sessions", "", map[string]string{"email": email, "password": pw}, &a)
	return st, a, h
}

func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and runs three nodes")
	}
	dbURL := pgtest.NewDatabase(t)
	bin := buildKeyward(t)
	key := newSecretKey(t)
	nodes := startNodes(t, bin, dbURL, key, "A", "B", "C")
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("a session ended on one node is refused on the others within a second", func(t *testing.T) {
		if st := a.signUp(t, "ada@example.com"); st != http.StatusCreated {
			t.Fatalf("sign-up = %d", st)
		}
		// Control: A's session cache serves. A session row deleted behind
		// keyward's back (no invalidation) is still accepted by A, from
		// memory, so the refusals measured below come from invalidations.
		{
			_, s, _ := a.signIn(t, "ada@example.com", testPassword)
			var cur struct {
				Account struct {
					ID string `json:"id"`
				} `json:"account"`
			}
			for range 3 {
				if st, _ := a.do(t, http.MethodGet, "/api/v1/sessions/current", s.Token, nil, &cur); st != http.StatusOK {
					t.Fatalf("session on A = %d", st)
				}
			}
			conn, err := pgx.Connect(t.Context(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(t.Context(), `DELETE FROM sessions WHERE id = $1`, s.Session.ID); err != nil {
				t.Fatal(err)
			}
			if st, _ := a.get(t, "/api/v1/sessions/current", s.Token); st != http.StatusOK {
				t.Fatalf("A answered %d for a cached session whose row is gone: its cache is not serving, so nothing below would test invalidation", st)
			}
			// An invalidation row and its NOTIFY, as a node writes them.
			if _, err := conn.Exec(t.Context(), `WITH i AS (INSERT INTO invalidations (account_id, at) VALUES ($1, now()) RETURNING seq)
				SELECT pg_notify('keyward_invalidation', seq::text) FROM i`, cur.Account.ID); err != nil {
				t.Fatal(err)
			}
			waitRefused(t, a, s.Token, time.Second)
		}

		const trials = 10
		var delays []time.Duration
		for i := range trials {
			st, s, _ := a.signIn(t, "ada@example.com", testPassword)
			if st != http.StatusCreated {
				t.Fatalf("sign-in on A = %d", st)
			}
			// Warm A's cache: the check is served from memory from now on.
			for range 3 {
				if st, _ := a.get(t, "/api/v1/sessions/current", s.Token); st != http.StatusOK {
					t.Fatalf("session on A = %d", st)
				}
			}
			// End it on B (sign-out) or on C (by id, from another session).
			if i%2 == 0 {
				if st, _ := b.do(t, http.MethodDelete, "/api/v1/sessions/current", s.Token, nil, nil); st != http.StatusNoContent {
					t.Fatalf("sign-out on B = %d", st)
				}
			} else {
				st, other, _ := c.signIn(t, "ada@example.com", testPassword)
				if st != http.StatusCreated {
					t.Fatalf("sign-in on C = %d", st)
				}
				if st, _ := c.do(t, http.MethodDelete, "/api/v1/sessions/"+s.Session.ID, other.Token, nil, nil); st != http.StatusNoContent {
					t.Fatalf("revoke on C = %d", st)
				}
			}
			delays = append(delays, waitRefused(t, a, s.Token, 5*time.Second))
		}
		sorted := slices.Clone(delays)
		slices.Sort(sorted)
		t.Logf("invalidation across nodes: %d trials, median %v, max %v (all: %v)", trials, sorted[trials/2], sorted[trials-1], delays)
		if sorted[trials-1] > time.Second {
			t.Errorf("a revoked session was still accepted %v later on another node, want < 1s", sorted[trials-1])
		}
	})

	t.Run("one backup code raced through all nodes wins once", func(t *testing.T) {
		if st := b.signUp(t, "bob@example.com"); st != http.StatusCreated {
			t.Fatalf("sign-up = %d", st)
		}
		_, s, _ := b.signIn(t, "bob@example.com", testPassword)
		var setup struct {
			Secret string `json:"secret"`
		}
		if st, _ := c.do(t, http.MethodPost, "/api/v1/account/2fa/setup", s.Token, nil, &setup); st != http.StatusOK || setup.Secret == "" {
			t.Fatalf("2fa setup on C = %d", st)
		}
		code, _ := totp.Code(setup.Secret, time.Now())
		var enabled struct {
			BackupCodes []string `json:"backup_codes"`
		}
		if st, _ := a.do(t, http.MethodPost, "/api/v1/account/2fa/enable", s.Token, map[string]string{"code": code}, &enabled); st != http.StatusOK || len(enabled.BackupCodes) != 10 {
			t.Fatalf("2fa enable on A = %d, %d codes", st, len(enabled.BackupCodes))
		}
		const racers = 30
		tokens := make([]string, racers)
		for i := range racers {
			st, ans, _ := nodes[i%3].signIn(t, "bob@example.com", testPassword)
			if st != http.StatusOK || !ans.MFARequired {
				t.Fatalf("password step %d = %d", i, st)
			}
			tokens[i] = ans.MFAToken
		}
		statuses := make([]int, racers)
		winners := make([]string, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				var ans signInAnswer
				statuses[i], _ = nodes[i%3].do(t, http.MethodPost, "/api/v1/sessions/mfa", "",
					map[string]string{"mfa_token": tokens[i], "code": enabled.BackupCodes[0]}, &ans)
				winners[i] = ans.Token
			})
		}
		close(start)
		wg.Wait()
		won, byStatus := "", map[int]int{}
		for i, st := range statuses {
			byStatus[st]++
			if st == http.StatusCreated {
				won = winners[i]
			}
		}
		t.Logf("30 racers with one backup code over 3 nodes: statuses %v", byStatus)
		if byStatus[http.StatusCreated] != 1 {
			t.Fatalf("the backup code won %d times, want exactly once (statuses %v)", byStatus[http.StatusCreated], byStatus)
		}
		for st := range byStatus {
			if st != http.StatusCreated && st != http.StatusUnauthorized && st != http.StatusTooManyRequests {
				t.Errorf("a racer got %d", st)
			}
		}
		var status struct {
			Remaining int `json:"backup_codes_remaining"`
		}
		if st, _ := c.do(t, http.MethodGet, "/api/v1/account/2fa", won, nil, &status); st != http.StatusOK || status.Remaining != 9 {
			t.Fatalf("after the race: %d, %d codes remaining, want 9", st, status.Remaining)
		}
		var events struct {
			Events []json.RawMessage `json:"events"`
		}
		if st, _ := a.do(t, http.MethodGet, "/api/v1/account/audit?type=2fa.backup_code.used", won, nil, &events); st != http.StatusOK || len(events.Events) != 1 {
			t.Fatalf("2fa.backup_code.used events = %d (status %d), want 1", len(events.Events), st)
		}
	})

	t.Run("failures spread over the nodes are throttled as on one node", func(t *testing.T) {
		// attemptsUntil429 sends wrong passwords for email, the i-th to
		// pick(i), and returns the number of the first attempt answered 429.
		attemptsUntil429 := func(email string, pick func(int) *node) (int, string) {
			t.Helper()
			if st := a.signUp(t, email); st != http.StatusCreated {
				t.Fatalf("sign-up = %d", st)
			}
			for i := 1; i <= 30; i++ {
				st, _, h := pick(i).signIn(t, email, "not the password at all")
				switch st {
				case http.StatusUnauthorized:
				case http.StatusTooManyRequests:
					return i, h.Get("Retry-After")
				default:
					t.Fatalf("attempt %d = %d", i, st)
				}
			}
			t.Fatalf("no 429 after 30 wrong passwords for %s", email)
			return 0, ""
		}
		one, retry1 := attemptsUntil429("carol@example.com", func(int) *node { return a })
		spread, retry3 := attemptsUntil429("dan@example.com", func(i int) *node { return nodes[i%3] })
		t.Logf("first 429 at attempt %d on one node (Retry-After %s), at attempt %d round-robin over three (Retry-After %s)", one, retry1, spread, retry3)
		if one != spread {
			t.Fatalf("429 after %d attempts over three nodes, after %d on one", spread, one)
		}
		if retry3 == "" {
			t.Fatal("429 without Retry-After")
		}
	})

	// Concurrent writers on three nodes left every audit chain intact.
	if code, out := runWithKey(t, key, "audit", "verify", "--database-url", dbURL, "--data-dir", t.TempDir()); code != 0 {
		t.Fatalf("audit verify = %d %q", code, out)
	}
}
