package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
)

const testPassword = "correct horse battery staple"

// runCmd runs the command line in-process on dataDir and returns exit code and output.
func runCmd(t testing.TB, dataDir, stdin string, args ...string) (int, string) {
	t.Helper()
	args = append(args, "--data-dir", dataDir, "--argon2-memory", "64", "--argon2-time", "1")
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c *config) bool {
			return c.addr == "127.0.0.1:8080" && c.dataDir == "./keyward-data" && c.signup && c.sessionIdle == 30*time.Minute && c.sessionLifetime == 12*time.Hour
		}, ""},
		{"environment twin", nil, map[string]string{"KEYWARD_SESSION_LIFETIME": "2h", "KEYWARD_SIGNUP": "false"}, func(c *config) bool {
			return c.sessionLifetime == 2*time.Hour && !c.signup
		}, ""},
		{"flag beats environment", []string{"--addr", "127.0.0.1:9"}, map[string]string{"KEYWARD_ADDR": "127.0.0.1:8"}, func(c *config) bool {
			return c.addr == "127.0.0.1:9"
		}, ""},
		{"trusted proxies", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7"}, nil, func(c *config) bool {
			return len(c.parsedProxies) == 2 && c.parsedProxies[1].String() == "192.0.2.7/32"
		}, ""},
		{"https public url", []string{"--public-url", "https://id.example.com"}, nil, func(c *config) bool {
			return c.parsedPublicURL.Scheme == "https"
		}, ""},
		{"bad public url", []string{"--public-url", "ftp://x"}, nil, nil, "--public-url"},
		{"bad proxy", []string{"--trusted-proxies", "nope"}, nil, nil, "--trusted-proxies"},
		{"bad log format", []string{"--log-format", "xml"}, nil, nil, "--log-format"},
		{"issuer with colon", []string{"--issuer", "a:b"}, nil, nil, "colon"},
		{"short min length", []string{"--password-min-length", "6"}, nil, nil, "at least 8"},
		{"bad env value", nil, map[string]string{"KEYWARD_SESSION_IDLE_TIMEOUT": "soon"}, nil, "KEYWARD_SESSION_IDLE_TIMEOUT"},
		{"stray argument", []string{"extra"}, nil, nil, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := parseConfig("test", tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("config = %+v, err %v", c, err)
			}
		})
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "keyward ") {
		t.Fatalf("version = %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, nil, &out, &out); code != 2 || !strings.Contains(out.String(), "Usage:") {
		t.Fatalf("unknown command = %d %q", code, out.String())
	}
}

func TestAccountCommands(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
	if code != 0 || !strings.Contains(out, "created account acct_") {
		t.Fatalf("account create = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ADA@example.com"); code != 1 || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "account", "create", "--email", "bob@example.com"); code != 1 || !strings.Contains(out, "standard input") {
		t.Fatalf("no password = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "account", "reset-2fa", "--email", "ada@example.com"); code != 1 || !strings.Contains(out, "not on") {
		t.Fatalf("reset without 2FA = %d %q", code, out)
	}
	key, err := os.Stat(filepath.Join(dir, "secret.keys"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("secret.keys: %v, mode %v", err, key.Mode())
	}
}

// enable2FA turns 2FA on for an account through the service and returns the seed.
func enable2FA(t *testing.T, dir, email string) string {
	t.Helper()
	c, err := parseConfig("test", []string{"--data-dir", dir, "--argon2-memory", "64", "--argon2-time", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := wire(ctx, c, newLogger("text", &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := a.svc.SignIn(ctx, email, testPassword, keyward.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := a.svc.BeginTOTPSetup(ctx, res.Session, "", keyward.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(setup.Secret, time.Now())
	if _, err := a.svc.EnableTOTP(ctx, res.Session, code, keyward.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	return setup.Secret
}

func sealedSecret(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(`SELECT sealed_secret FROM totp_credentials`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeysRotateAndReset2FA(t *testing.T) {
	dir := t.TempDir()
	runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
	secret := enable2FA(t, dir, "ada@example.com")
	before := sealedSecret(t, dir)

	code, out := runCmd(t, dir, "", "keys", "rotate")
	if code != 0 || !strings.Contains(out, "1 seeds re-encrypted") {
		t.Fatalf("keys rotate = %d %q", code, out)
	}
	after := sealedSecret(t, dir)
	if strings.SplitN(before, ":", 2)[0] == strings.SplitN(after, ":", 2)[0] {
		t.Fatalf("key id unchanged: %q -> %q", before, after)
	}
	if strings.Contains(after, secret) || strings.Contains(before, secret) {
		t.Fatal("the seed is stored in the clear")
	}

	if code, out = runCmd(t, dir, "", "account", "reset-2fa", "--email", "ada@example.com"); code != 0 {
		t.Fatalf("reset-2fa = %d %q", code, out)
	}
	code, out = runCmd(t, dir, "", "audit", "list", "--email", "ada@example.com", "--type", "2fa.disabled")
	if code != 0 || !strings.Contains(out, `"actor":"admin"`) {
		t.Fatalf("audit list = %d %q", code, out)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper string // SQL run on the database file after the trigger is dropped
		want   string
	}{
		{"intact", "", ""},
		{"edited", `UPDATE audit_events SET ip = '10.9.9.9' WHERE seq = 2 AND chain_id != 'system'`, "was edited"},
		{"deleted", `DELETE FROM audit_events WHERE seq = 2 AND chain_id != 'system'`, "deleted"},
		{"swapped", `UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3) AND chain_id != 'system'`, "was edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
			enable2FA(t, dir, "ada@example.com") // sign-in and 2fa.enabled: seqs 1..3
			if tt.tamper != "" {
				db, err := sql.Open("sqlite", filepath.Join(dir, "keyward.db"))
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{`DROP TRIGGER IF EXISTS audit_events_append_only`, `DROP INDEX IF EXISTS audit_events_chain_seq`, tt.tamper} {
					if _, err := db.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				db.Close()
			}
			code, out := runCmd(t, dir, "", "audit", "verify")
			if tt.want == "" {
				if code != 0 || !strings.Contains(out, "audit log intact") {
					t.Fatalf("verify = %d %q", code, out)
				}
				return
			}
			if code != 3 || !strings.Contains(out, tt.want) || !strings.Contains(out, "BROKEN") {
				t.Fatalf("verify = %d %q, want exit 3 naming %q", code, out, tt.want)
			}
			t.Logf("verify said: %s", strings.TrimSpace(out))
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildKeyward(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keyward")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startServe(t *testing.T, bin, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--addr", addr, "--argon2-memory", "64", "--argon2-time", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyward did not become ready: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postJSON(t *testing.T, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServePrintsWhereToOpenAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKeyward(t)
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "--data-dir", t.TempDir(), "--addr", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "open http://"+addr+"/") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no start-up line: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("keyward did not stop on SIGTERM")
	}
}

// TestAcknowledgedActionsSurviveKill9: whatever the server answered 2xx for is
// on disk with its audit event, even when the process dies right after.
func TestAcknowledgedActionsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKeyward(t)
	dir := t.TempDir()
	addr := freePort(t)
	cmd := startServe(t, bin, dir, addr)
	base := "http://" + addr
	const n = 20
	for i := range n {
		body := fmt.Sprintf(`{"email":"user%d@example.com","password":%q}`, i, testPassword)
		if st := postJSON(t, base+"/api/v1/accounts", "", body); st != 201 {
			t.Fatalf("sign-up %d = %d", i, st)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	db, err := sql.Open("sqlite", filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var accounts, events int
	db.QueryRow(`SELECT count(*) FROM accounts`).Scan(&accounts)
	db.QueryRow(`SELECT count(*) FROM audit_events WHERE type = 'account.created'`).Scan(&events)
	if accounts != n || events != n {
		t.Fatalf("after kill -9: %d accounts and %d account.created events, want %d each", accounts, events, n)
	}
	if code, out := runCmd(t, dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after kill -9 = %d %q", code, out)
	}
}

// With KEYWARD_SECRET_KEY, rotating must not re-encrypt before every node
// has the new key: it prints the value, and reencrypt is the second step.
func TestKeysRotateWithEnvironmentKeyIsTwoSteps(t *testing.T) {
	dir := t.TempDir()
	runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
	enable2FA(t, dir, "ada@example.com")
	keyFile, err := os.ReadFile(filepath.Join(dir, "secret.keys"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYWARD_SECRET_KEY", string(keyFile))
	before := sealedSecret(t, dir)
	code, out := runCmd(t, dir, "", "keys", "rotate")
	if code != 0 || !strings.Contains(out, "keys reencrypt") {
		t.Fatalf("keys rotate = %d %q", code, out)
	}
	if after := sealedSecret(t, dir); after != before {
		t.Fatal("rotate re-encrypted seeds before the nodes had the new key")
	}
	// The printed value holds both keys, the new one last.
	var value []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "k") && strings.Count(line, " ") == 1 {
			value = append(value, line)
		}
	}
	if len(value) != 2 {
		t.Fatalf("printed keyring = %q, want two keys", value)
	}
	t.Setenv("KEYWARD_SECRET_KEY", strings.Join(value, "\n"))
	if code, out = runCmd(t, dir, "", "keys", "reencrypt"); code != 0 || !strings.Contains(out, "1 seeds re-encrypted under key k2") {
		t.Fatalf("keys reencrypt = %d %q", code, out)
	}
	if after := sealedSecret(t, dir); !strings.HasPrefix(after, "k2:") {
		t.Fatalf("seed sealed as %q, want under k2", after)
	}
}

func TestMigrateStatusOnSQLite(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, dir, "", "migrate", "up")
	if code != 0 || !strings.Contains(out, "0001 init") || !strings.Contains(out, "applied ") {
		t.Fatalf("migrate up = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "migrate", "status"); code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("migrate status = %d %q", code, out)
	}
}

// TestAuditListFindsUnknownEmails: the system log keeps only a keyed digest
// of an email that has no account; `audit list --email` still finds its
// failed sign-ins, in any case, and only those.
func TestAuditListFindsUnknownEmails(t *testing.T) {
	dir := t.TempDir()
	runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
	c, err := parseConfig("test", []string{"--data-dir", dir, "--argon2-memory", "64", "--argon2-time", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := wire(ctx, c, newLogger("text", &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"ghost@example.com", "other@example.com", "ghost@example.com"} {
		if _, err := a.svc.SignIn(ctx, email, "wrong password", keyward.Client{IP: "192.0.2.1"}); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
			t.Fatalf("SignIn(%q) = %v, want invalid_credentials", email, err)
		}
	}
	a.Close()
	tests := []struct {
		email string
		want  int
	}{
		{"ghost@example.com", 2},
		{"GHOST@example.com", 2},
		{"other@example.com", 1},
		{"never@example.com", 0},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			code, out := runCmd(t, dir, "", "audit", "list", "--email", tt.email)
			if got := strings.Count(out, `"type":"signin.failed"`); code != 0 || got != tt.want {
				t.Fatalf("audit list --email %s = %d, %d failures, want %d: %q", tt.email, code, got, tt.want, out)
			}
			if strings.Contains(out, "example.com") {
				t.Fatalf("the output shows an email: %q", out)
			}
		})
	}
}
