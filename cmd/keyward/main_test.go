package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/totp"
)

const testPassword = "correct horse battery staple"

// runCmd runs the command line in-process on dataDir and returns exit code
// and output. Cheap argon2 parameters come from the environment, which only
// the commands that hash read.
func runCmd(t testing.TB, dataDir, stdin string, args ...string) (int, string) {
	t.Helper()
	t.Setenv("KEYWARD_ARGON2_MEMORY", "64")
	t.Setenv("KEYWARD_ARGON2_TIME", "1")
	args = append(args, "--data-dir", dataDir)
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String() + errOut.String()
}

// wireTest wires keyward in-process on dir with cheap argon2 parameters
// and the serve flags in extra; the caller closes it.
func wireTest(t *testing.T, dir string, extra ...string) *app {
	t.Helper()
	c, err := parseServeConfig(append([]string{"--data-dir", dir, "--argon2-memory", "64", "--argon2-time", "1"}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	a, err := wire(context.Background(), c, newLogger("text", io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// parseServeConfig parses args as `keyward serve` does.
func parseServeConfig(args []string) (*config, error) {
	cmd, _ := findCommand(commands(), []string{"serve"})
	return parseConfig(cmd, args, io.Discard)
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
		{"cors origins", []string{"--cors-origins", "https://App.example.com, http://localhost:3000/"}, nil, func(c *config) bool {
			return len(c.parsedCORS) == 2 && c.parsedCORS[0] == "https://app.example.com" && c.parsedCORS[1] == "http://localhost:3000"
		}, ""},
		{"cors origins from the environment", nil, map[string]string{"KEYWARD_CORS_ORIGINS": "https://app.example.com"}, func(c *config) bool {
			return len(c.parsedCORS) == 1 && c.parsedCORS[0] == "https://app.example.com"
		}, ""},
		{"cors origin with a path", []string{"--cors-origins", "https://app.example.com/x"}, nil, nil, "--cors-origins"},
		{"cors origin with userinfo", []string{"--cors-origins", "https://a@app.example.com"}, nil, nil, "--cors-origins"},
		{"cors origin without scheme", []string{"--cors-origins", "app.example.com"}, nil, nil, "--cors-origins"},
		{"return origins", []string{"--public-url", "https://id.example.com", "--allowed-return-origins", "https://App.example.com:443, http://localhost:3000"}, nil, func(c *config) bool {
			return slices.Equal(c.parsedOrigins, []string{"https://app.example.com", "http://localhost:3000"})
		}, ""},
		{"return origins from the environment", nil, map[string]string{"KEYWARD_ALLOWED_RETURN_ORIGINS": "https://app.example.com"}, func(c *config) bool {
			return slices.Equal(c.parsedOrigins, []string{"https://app.example.com"})
		}, ""},
		{"return origin with a path", []string{"--allowed-return-origins", "https://app.example.com/home"}, nil, nil, "--allowed-return-origins: \"https://app.example.com/home\" is not an origin: no path"},
		{"return origin with userinfo", []string{"--allowed-return-origins", "https://u@app.example.com"}, nil, nil, "no userinfo"},
		{"cookie domain", []string{"--public-url", "https://id.example.com", "--cookie-domain", ".Example.com"}, nil, func(c *config) bool {
			return c.parsedDomain == "example.com"
		}, ""},
		{"cookie domain from the environment", nil, map[string]string{"KEYWARD_PUBLIC_URL": "http://id.example.test", "KEYWARD_COOKIE_DOMAIN": "example.test"}, func(c *config) bool {
			return c.parsedDomain == "example.test"
		}, ""},
		{"cookie domain not covering the host", []string{"--public-url", "https://id.example.com", "--cookie-domain", "example.net"}, nil, nil, `--cookie-domain: "example.net" does not cover the public URL's host "id.example.com"`},
		{"cookie domain without a public url", []string{"--cookie-domain", "example.com"}, nil, nil, "--cookie-domain: \"example.com\" needs --public-url"},
		{"cookie domain a single label", []string{"--public-url", "https://id.example.com", "--cookie-domain", "com"}, nil, nil, "single label"},
		{"cookie domain an address", []string{"--public-url", "https://127.0.0.1", "--cookie-domain", "127.0.0.1"}, nil, nil, "IP address"},
		{"base path", []string{"--base-path", "/auth"}, nil, func(c *config) bool {
			return c.parsedBasePath == "/auth" && c.parsedCookiePath == "/auth"
		}, ""},
		{"base path / is none", []string{"--base-path", "/"}, nil, func(c *config) bool {
			return c.parsedBasePath == "" && c.parsedCookiePath == "/"
		}, ""},
		{"base path and cookie path from the environment", nil, map[string]string{"KEYWARD_BASE_PATH": "/id/auth", "KEYWARD_COOKIE_PATH": "/id"}, func(c *config) bool {
			return c.parsedBasePath == "/id/auth" && c.parsedCookiePath == "/id"
		}, ""},
		{"cookie path / under a base path", []string{"--base-path", "/auth", "--cookie-path", "/"}, nil, func(c *config) bool {
			return c.parsedCookiePath == "/"
		}, ""},
		{"public url with the base path", []string{"--public-url", "https://example.com/auth/", "--base-path", "/auth"}, nil, func(c *config) bool {
			return c.parsedBasePath == "/auth"
		}, ""},
		{"base path without a leading slash", []string{"--base-path", "auth"}, nil, nil, `--base-path: "auth" must start with /`},
		{"base path with a trailing slash", []string{"--base-path", "/auth/"}, nil, nil, `--base-path: "/auth/" must not end with / (write /auth)`},
		{"base path with ..", []string{"--base-path", "/a/../auth"}, nil, nil, `--base-path: "/a/../auth" has a ".." segment`},
		{"base path with //", []string{"--base-path", "/a//b"}, nil, nil, `--base-path: "/a//b" has an empty segment`},
		{"base path with a query", []string{"--base-path", "/auth?x"}, nil, nil, "--base-path: \"/auth?x\" has a query or fragment"},
		{"base path percent-encoded", []string{"--base-path", "/a%2Fb"}, nil, nil, "--base-path: \"/a%2Fb\" is percent-encoded"},
		{"base path with a space", nil, map[string]string{"KEYWARD_BASE_PATH": "/my auth"}, nil, "only letters, digits"},
		{"base path on keyward's own route", []string{"--base-path", "/api"}, nil, nil, "keyward's own paths"},
		{"public url with a path but no base path", []string{"--public-url", "https://example.com/auth"}, nil, nil, "--base-path: --public-url \"https://example.com/auth\" has the path \"/auth\": set --base-path /auth as well"},
		{"public url with another path", []string{"--public-url", "https://example.com/login", "--base-path", "/auth"}, nil, nil, `has the path "/login", but the base path is "/auth"`},
		{"cookie path outside the base path", []string{"--base-path", "/auth", "--cookie-path", "/app"}, nil, nil, `--cookie-path: "/app" must be / or the base path "/auth" or a parent of it`},
		{"cookie path without a base path", []string{"--cookie-path", "/auth"}, nil, nil, "--cookie-path"},
		{"plain http return origin behind https", []string{"--public-url", "https://id.example.com", "--allowed-return-origins", "http://app.example.com"}, nil, nil, "http is allowed only for loopback"},
		{"bad log format", []string{"--log-format", "xml"}, nil, nil, "log-format: want one of text, json"},
		{"issuer with colon", []string{"--issuer", "a:b"}, nil, nil, "colon"},
		{"issuer follows product name", []string{"--product-name", " Acme Cloud "}, nil, func(c *config) bool {
			return c.productName == "Acme Cloud" && c.issuer == ""
		}, ""},
		{"product name with colon as issuer", []string{"--product-name", "Acme: Cloud"}, nil, nil, "--product-name"},
		{"product name with colon beside an issuer", []string{"--product-name", "Acme: Cloud", "--issuer", "Acme"}, nil, func(c *config) bool {
			return c.productName == "Acme: Cloud" && c.issuer == "Acme"
		}, ""},
		{"empty product name", []string{"--product-name", " "}, nil, nil, "--product-name"},
		{"product name with a newline", []string{"--product-name", "Acme\nCloud"}, nil, nil, "--product-name"},
		{"branding from the environment", nil, map[string]string{"KEYWARD_PRODUCT_NAME": "Acme", "KEYWARD_APP_URL": "https://app.example.com/home", "KEYWARD_ACCENT_COLOR": "#0A7"}, func(c *config) bool {
			return c.productName == "Acme" && c.parsedAppURL.String() == "https://app.example.com/home" && c.accentColor == "#0A7"
		}, ""},
		{"relative app url", []string{"--app-url", "/home"}, nil, nil, "--app-url"},
		{"javascript app url", []string{"--app-url", "javascript:alert(1)"}, nil, nil, "--app-url"},
		{"app url with user", []string{"--app-url", "https://u:p@app.example.com/"}, nil, nil, "--app-url"},
		{"accent colour long hex", []string{"--accent-color", "#1d4ed8"}, nil, func(c *config) bool { return c.accentColor == "#1d4ed8" }, ""},
		{"accent colour name", []string{"--accent-color", "red"}, nil, nil, "--accent-color"},
		{"accent colour breaking out", []string{"--accent-color", "#fff;}body{display:none"}, nil, nil, "--accent-color"},
		{"accent colour bad digit", []string{"--accent-color", "#12g"}, nil, nil, "--accent-color"},
		{"accent colour four digits", []string{"--accent-color", "#1234"}, nil, nil, "--accent-color"},
		{"language by default", nil, nil, func(c *config) bool { return c.language == "en" }, ""},
		{"Ukrainian", []string{"--language", "uk"}, nil, func(c *config) bool { return c.language == "uk" }, ""},
		{"Ukrainian from the environment", nil, map[string]string{"KEYWARD_LANGUAGE": "uk"}, func(c *config) bool { return c.language == "uk" }, ""},
		{"a language keyward does not speak", []string{"--language", "de"}, nil, nil, "--language"},
		{"not a language", []string{"--language", "uk;x"}, nil, nil, "--language"},
		{"short min length", []string{"--password-min-length", "6"}, nil, nil, "at least 8"},
		{"bad env value", nil, map[string]string{"KEYWARD_SESSION_IDLE_TIMEOUT": "soon"}, nil, "KEYWARD_SESSION_IDLE_TIMEOUT"},
		{"bad duration names the form", []string{"--session-lifetime", "banana"}, nil, nil, "a duration such as 30m"},
		{"bad env duration names the form", nil, map[string]string{"KEYWARD_SESSION_LIFETIME": "banana"}, nil, "a duration such as 30m"},
		{"bad bool names the form", []string{"--signup=maybe"}, nil, nil, "true or false"},
		{"bad number names the form", []string{"--password-min-length", "eight"}, nil, nil, "a whole number"},
		{"sudo window", []string{"--sudo-window", "30m"}, nil, func(c *config) bool { return c.sudoWindow == 30*time.Minute }, ""},
		{"sudo window from the environment", nil, map[string]string{"KEYWARD_SUDO_WINDOW": "2m"}, func(c *config) bool { return c.sudoWindow == 2*time.Minute }, ""},
		{"sudo window by default", nil, nil, func(c *config) bool { return c.sudoWindow == keyward.DefaultConfig().SudoWindow }, ""},
		{"sudo window zero", []string{"--sudo-window", "0s"}, nil, nil, "--sudo-window must be positive"},
		{"stray argument", []string{"extra"}, nil, nil, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := parseServeConfig(tt.args)
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
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		code := run(context.Background(), args, nil, &out, &out)
		// Tests are built without VCS stamping; the Go version is always there.
		if code != 0 || !strings.HasPrefix(out.String(), "keyward ") || !strings.Contains(out.String(), runtime.Version()) {
			t.Fatalf("%v = %d %q", args, code, out.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, nil, &out, &out); code != 2 || !strings.Contains(out.String(), "Usage:") || !strings.Contains(out.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command = %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"help"}, nil, &out, &out); code != 0 {
		t.Fatalf("help = %d %q", code, out.String())
	}
	for _, cmd := range commands() {
		if !strings.Contains(out.String(), "keyward "+cmd.name) {
			t.Errorf("usage does not list %q:\n%s", cmd.name, out.String())
		}
	}
}

// TestCommandHelp: each command's -h shows its own flags, each with its
// environment twin, and none of another command's; it exits 0.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"account", "create", "-h"}, []string{"--email", "KEYWARD_EMAIL", "--data-dir", "KEYWARD_DATA_DIR", "--password-min-length", "standard input"}, []string{"--addr", "--public-url", "--shutdown-grace", "--type"}},
		{[]string{"serve", "--help"}, []string{"--addr", "KEYWARD_ADDR", "--public-url", "--session-lifetime", "(default 12h0m0s)"}, []string{"--email", "--from", "--type"}},
		{[]string{"audit", "list", "-h"}, []string{"--type", "KEYWARD_TYPE", "--since", "--email"}, []string{"--addr", "--argon2-memory"}},
		{[]string{"keys", "rotate", "-h"}, []string{"--data-dir", "KEYWARD_SECRET_KEY"}, []string{"--addr", "--email", "--argon2-memory"}},
		{[]string{"copy", "-h"}, []string{"--from", "--to", "KEYWARD_FROM"}, []string{"--addr", "--data-dir"}},
		{[]string{"version", "-h"}, []string{"Usage: keyward version"}, []string{"Flags"}},
		{[]string{"admin", "token", "create", "-h"}, []string{"--name", "KEYWARD_NAME", "--scope", "accounts:read, accounts:write, sessions:write and audit:read", "--data-dir"}, []string{"--addr", "--email", "--yes"}},
		{[]string{"admin", "token", "revoke", "-h"}, []string{"Usage: keyward admin token revoke NAME [flags]", "--data-dir"}, []string{"--name", "--scope"}},
		{[]string{"account", "delete", "-h"}, []string{"--email", "--yes", "no undo"}, []string{"--addr", "--scope"}},
		{[]string{"serve", "-h"}, []string{"--admin-addr", "KEYWARD_ADMIN_ADDR"}, []string{"--scope", "--yes"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tt.args, nil, &out, &out)
			if code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("help shows %q, another command's flag:\n%s", n, out.String())
				}
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"audit", "list", "--addr", "x"}, nil, &out, &out); code != 2 || !strings.Contains(out.String(), "-addr") {
		t.Fatalf("a flag of another command = %d %q, want 2 naming it", code, out.String())
	}
}

// TestUnknownEnvironmentIsReported: a misspelt KEYWARD_ variable is named
// at start, with the setting it probably meant, instead of being ignored;
// a variable that another command reads (KEYWARD_ADDR beside audit list,
// as in a shared env file) is not reported.
func TestUnknownEnvironmentIsReported(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KEYWARD_SESION_LIFETIME", "2h")
	t.Setenv("KEYWARD_ADDR", "127.0.0.1:9")
	code, out := runCmd(t, dir, "", "migrate", "up")
	if code != 0 {
		t.Fatalf("migrate up = %d %q", code, out)
	}
	if !strings.Contains(out, "KEYWARD_SESION_LIFETIME is not a keyward setting") || !strings.Contains(out, "did you mean KEYWARD_SESSION_LIFETIME?") {
		t.Fatalf("misspelt variable not reported:\n%s", out)
	}
	if strings.Contains(out, "KEYWARD_ADDR") || strings.Contains(out, "KEYWARD_ARGON2") {
		t.Fatalf("a known variable reported:\n%s", out)
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
	ctx := context.Background()
	a := wireTest(t, dir)
	defer a.Close()
	res, err := a.Service.SignIn(ctx, email, testPassword, keyward.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := a.Service.BeginTOTPSetup(ctx, res.Session, "", keyward.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(setup.Secret, time.Now())
	if _, err := a.Service.EnableTOTP(ctx, res.Session, code, keyward.Client{IP: "192.0.2.1"}); err != nil {
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
	after := sealedSecret(t, dir)
	if code != 0 || !strings.Contains(out, "1 seeds re-encrypted") || !strings.Contains(out, "every TOTP seed is now sealed under key "+strings.SplitN(after, ":", 2)[0]) {
		t.Fatalf("keys rotate = %d %q", code, out)
	}
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
		// The table is keyed (chain_id, seq): two events trade places by
		// being taken out and put back with each other's seq.
		{"swapped", `CREATE TEMP TABLE swap AS SELECT * FROM audit_events WHERE seq IN (2, 3) AND chain_id != 'system';
			DELETE FROM audit_events WHERE seq IN (2, 3) AND chain_id != 'system';
			INSERT INTO audit_events (id, chain_id, seq, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details, prev_hash, hash, mac)
				SELECT id, chain_id, CASE seq WHEN 2 THEN 3 ELSE 2 END, time_us, type, outcome, reason, ip, user_agent, session_id, actor, details, prev_hash, hash, mac FROM swap`, "was edited"},
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

func startServe(t *testing.T, bin, dir, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	return startServeOut(t, bin, dir, addr, &bytes.Buffer{}, extra...)
}

// startServeOut is startServe writing the node's output to out.
func startServeOut(t *testing.T, bin, dir, addr string, out *bytes.Buffer, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dir, "--addr", addr, "--argon2-memory", "64", "--argon2-time", "1"}, extra...)...)
	cmd.Stdout, cmd.Stderr = out, out
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
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--addr", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	// Without --smtp-url the start-up lines say where mails go.
	_, port, _ := net.SplitHostPort(addr)
	for !strings.Contains(out.String(), "open http://localhost:"+port+"/") || !strings.Contains(out.String(), "mails are written as .eml files to "+filepath.Join(dir, "outbox")) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no start-up line: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// At the address it printed, passkeys work: a sign-in with one can
	// begin (they are off, 501, for a relying party on an IP address).
	if st := postJSON(t, "http://localhost:"+port+"/api/v1/sessions/passkey/options", "", "{}"); st != 200 {
		t.Errorf("passwordless sign-in options at localhost = %d, want 200: passkeys are off", st)
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
	// It says what it did: nothing stored, the seed still under k1.
	if code != 0 || !strings.Contains(out, "keys reencrypt") ||
		!strings.Contains(out, "nothing was stored and no seed was re-encrypted: 1 seeds are still sealed under older keys") {
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
	newID := strings.Fields(value[1])[0]
	// The one-line form for an environment file holds the same keys.
	if !strings.Contains(out, `KEYWARD_SECRET_KEY="`+value[0]+";"+value[1]+`"`) {
		t.Errorf("keys rotate printed no one-line value for an environment file: %q", out)
	}
	t.Setenv("KEYWARD_SECRET_KEY", strings.Join(value, "\n"))
	if code, out = runCmd(t, dir, "", "keys", "reencrypt"); code != 0 || !strings.Contains(out, "1 seeds re-encrypted under key "+newID) ||
		!strings.Contains(out, "every TOTP seed is now sealed under key "+newID) {
		t.Fatalf("keys reencrypt = %d %q", code, out)
	}
	if after := sealedSecret(t, dir); !strings.HasPrefix(after, newID+":") {
		t.Fatalf("seed sealed as %q, want under %s", after, newID)
	}
}

// keys reencrypt with keys that do not open the seeds says which key is
// missing or wrong, changes nothing, and does not suggest running it again.
func TestKeysReencryptWithWrongKeysSaysSo(t *testing.T) {
	otherKey := func(id string) string {
		return id + " " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	}
	newOnly := func(string) string { return "k2 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) }
	cases := []struct {
		name string
		env  func(sealedWith string) string
		want []string // %s is the id the seed is sealed with
	}{
		{"the old key left out", newOnly, []string{"sealed with key %s, which these keys (keyring[k2]) do not hold", "KEYWARD_SECRET_KEY must hold every key"}},
		{"another key under the same id", otherKey, []string{"does not open with key %s: the key given under that id is not the one it was sealed with"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
			enable2FA(t, dir, "ada@example.com")
			before := sealedSecret(t, dir)
			id := strings.SplitN(before, ":", 2)[0]
			t.Setenv("KEYWARD_SECRET_KEY", tc.env(id))
			for i, w := range tc.want {
				tc.want[i] = strings.ReplaceAll(w, "%s", id)
			}
			code, out := runCmd(t, dir, "", "keys", "reencrypt")
			if code == 0 {
				t.Fatalf("keys reencrypt = %d %q, want a failure", code, out)
			}
			for _, w := range append(tc.want, "wrong keys", "1 of 1 seeds do not open", "Nothing was changed") {
				if !strings.Contains(out, w) {
					t.Errorf("keys reencrypt said %q; want it to say %q", out, w)
				}
			}
			if strings.Contains(out, "run again") || strings.Contains(out, "to finish") {
				t.Errorf("keys reencrypt said %q: running again cannot help with wrong keys", out)
			}
			if after := sealedSecret(t, dir); after != before {
				t.Errorf("the seed changed: %q -> %q", before, after)
			}
		})
	}
}

// TestMigrateStatusOnSQLite: status only reports, and exits 1 while a
// migration is pending; up applies them.
func TestMigrateStatusOnSQLite(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, dir, "", "migrate", "status")
	if code != 1 || !strings.Contains(out, "0001 init") || !strings.Contains(out, "pending") {
		t.Fatalf("status of a new installation = %d %q, want 1 and every migration pending", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keyward.db")); !os.IsNotExist(err) {
		t.Fatalf("status created the database (stat: %v)", err)
	}
	if code, out = runCmd(t, dir, "", "migrate", "up"); code != 0 || !strings.Contains(out, "0001 init") || !strings.Contains(out, "applied ") {
		t.Fatalf("migrate up = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "migrate", "status"); code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("migrate status = %d %q", code, out)
	}
	// A database that an older keyward made: the newest migration's row
	// removed, as if it had never run. Status reports it and applies nothing.
	db, err := sql.Open("sqlite", filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 {
		if code, out = runCmd(t, dir, "", "migrate", "status"); code != 1 || !strings.Contains(out, "1 migrations pending") {
			t.Fatalf("status with one pending = %d %q, want 1 (and again: status must not apply it)", code, out)
		}
	}
}

// TestHealthcheck: exit 0 while /readyz answers 200, 1 when it answers
// anything else or nothing listens; an unspecified host means this machine.
func TestHealthcheck(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || notReady.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	check := func(addr string, want int) {
		t.Helper()
		var out bytes.Buffer
		if code := run(context.Background(), []string{"healthcheck", "--addr", addr}, nil, &out, &out); code != want {
			t.Fatalf("healthcheck --addr %s = %d, want %d: %s", addr, code, want, out.String())
		}
	}
	check("127.0.0.1:"+port, 0)
	check("0.0.0.0:"+port, 0)
	check(":"+port, 0)
	notReady.Store(true)
	check("127.0.0.1:"+port, 1)
	srv.Close()
	check("127.0.0.1:"+port, 1)
}

// TestAuditVerifyNamesSQLTampering runs `keyward audit verify` after plain-SQL
// tampering that only the keyed seal and the account check catch, on SQLite
// and on PostgreSQL: exit 3 and a sentence naming what was found.
func TestAuditVerifyNamesSQLTampering(t *testing.T) {
	type scene struct {
		engine string
		sql    keywardtest.SQL
		ada    string // account id
		tc     string // the engine's event time column
		events func(t *testing.T) []keyward.Event
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, s scene)
		says   string
	}{
		{"intact", func(*testing.T, scene) {}, ""},
		{"(a) a chain's events and head deleted", func(t *testing.T, s scene) {
			s.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, s.ada)
			s.sql(t, `DELETE FROM audit_heads WHERE chain_id = $1`, s.ada)
		}, "has no audit chain"},
		{"(b) the newest event deleted and the head moved back", func(t *testing.T, s scene) {
			s.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq = 12`, s.ada)
			s.sql(t, `UPDATE audit_heads SET seq = 11, hash = (SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = 11) WHERE chain_id = $1`, s.ada)
		}, "has a wrong seal"},
		{"(c) events 1-10 deleted as if pruned", func(t *testing.T, s scene) {
			s.sql(t, `UPDATE audit_heads SET base_seq = 10,
				base_hash = (SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = 10),
				base_mac = (SELECT mac FROM audit_events WHERE chain_id = $1 AND seq = 10),
				base_`+s.tc+` = (SELECT `+s.tc+` FROM audit_events WHERE chain_id = $1 AND seq = 10) WHERE chain_id = $1`, s.ada)
			s.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq <= 10`, s.ada)
		}, "younger than the retention period"},
		{"(d) the chain rehashed with every IP changed", func(t *testing.T, s scene) {
			// The attacker reads the chain, changes every IP and re-hashes
			// it with the published algorithm (audit.Link).
			head := audit.Head{ChainID: s.ada}
			for _, e := range s.events(t) {
				e.IP = "10.6.6.6"
				audit.Link(head, &e)
				head.Seq, head.Hash = e.Seq, e.Hash
				s.sql(t, `UPDATE audit_events SET ip = $1, prev_hash = $2, hash = $3 WHERE chain_id = $4 AND seq = $5`,
					e.IP, e.PrevHash, e.Hash, e.ChainID, e.Seq)
			}
			s.sql(t, `UPDATE audit_heads SET hash = $1 WHERE chain_id = $2`, head.Hash, s.ada)
		}, "was forged"},
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					dir := t.TempDir()
					var extra []string
					target := filepath.Join(dir, "keyward.db")
					if engine == "postgres" {
						target = pgtest.NewDatabase(t)
						extra = []string{"--database-url", target}
						t.Setenv("KEYWARD_SECRET_KEY", "k1 "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)))
					}
					cmd := func(stdin string, args ...string) (int, string) {
						return runCmd(t, dir, stdin, append(args, extra...)...)
					}
					code, out := cmd(testPassword+"\n", "account", "create", "--email", "ada@example.com")
					if code != 0 {
						t.Fatalf("account create = %d %q", code, out)
					}
					ada := strings.Fields(out)[2]
					evs := signIns(t, dir, extra, "ada@example.com", 11) // seqs 2..12
					s := scene{engine: engine, sql: keywardtest.OpenSQL(t, engine, target), ada: ada, tc: "time",
						events: func(*testing.T) []keyward.Event { return evs }}
					if engine == "sqlite" {
						s.tc = "time_us"
					}
					keywardtest.Unprotect(t, engine, s.sql)
					tt.tamper(t, s)
					code, out = cmd("", "audit", "verify")
					if tt.says == "" {
						if code != 0 || !strings.Contains(out, "audit log intact") {
							t.Fatalf("verify = %d %q", code, out)
						}
						return
					}
					if code != 3 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, tt.says) {
						t.Fatalf("verify = %d %q, want exit 3 naming %q", code, out, tt.says)
					}
					t.Logf("verify said: %s", strings.TrimSpace(out))
				})
			}
		})
	}
}

// signIns signs in n times through a wired service, and returns the
// account's chain then.
func signIns(t *testing.T, dir string, extra []string, email string, n int) []keyward.Event {
	t.Helper()
	ctx := context.Background()
	a := wireTest(t, dir, extra...)
	defer a.Close()
	for range n {
		if _, err := a.Service.SignIn(ctx, email, testPassword, keyward.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := a.Store.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	var evs []keyward.Event
	if err := a.Store.EachChainEvent(ctx, acct.ID, func(e *keyward.Event) error {
		evs = append(evs, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestAuditListFindsUnknownEmails: the system log keeps only a keyed digest
// of an email that has no account; `audit list --email` still finds its
// failed sign-ins, in any case, and only those.
func TestAuditListFindsUnknownEmails(t *testing.T) {
	dir := t.TempDir()
	runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com")
	ctx := context.Background()
	a := wireTest(t, dir)
	for _, email := range []string{"ghost@example.com", "other@example.com", "ghost@example.com"} {
		if _, err := a.Service.SignIn(ctx, email, "wrong password", keyward.Client{IP: "192.0.2.1"}); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
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

// The start-up line names keyward's home under the base path.
func TestOpenURL(t *testing.T) {
	every := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	loopback6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 8081}
	tests := []struct {
		name string
		addr net.Addr
		args []string
		want string
	}{
		{"every interface", every, nil, "http://127.0.0.1:8080/"},
		{"every interface, base path", every, []string{"--base-path", "/auth"}, "http://127.0.0.1:8080/auth/"},
		{"loopback: localhost, where passkeys work", loopback, nil, "http://localhost:8080/"},
		{"IPv6 loopback", loopback6, []string{"--base-path", "/auth"}, "http://localhost:8081/auth/"},
		{"public url", loopback, []string{"--public-url", "https://id.example.com"}, "https://id.example.com/"},
		{"public url, base path", every, []string{"--public-url", "https://example.com", "--base-path", "/auth"}, "https://example.com/auth/"},
		{"public url carrying the base path", every, []string{"--public-url", "https://example.com/auth", "--base-path", "/auth"}, "https://example.com/auth/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := openURL(c, tt.addr); got != tt.want {
				t.Fatalf("openURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServerConfigCarriesTheSudoWindow: the flag reaches the service's
// rules, where the window is opened and checked.
func TestServerConfigCarriesTheSudoWindow(t *testing.T) {
	c, err := parseServeConfig([]string{"--sudo-window", "3m"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, closer, err := serverConfig(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closeIfAny(closer)
	if got := cfg.Service.SudoWindow; got != 3*time.Minute {
		t.Errorf("Service.SudoWindow = %v, want 3m", got)
	}
}
