package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
)

// TestAdminTokenCommands: a token is printed once and stored as a hash; it
// is listed without itself, works for the admin API, and stops at revoke;
// creating and revoking are in the system log.
func TestAdminTokenCommands(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, dir, "", "admin", "token", "create", "--name", "ops-bot", "--scope", "accounts:read, audit:read")
	if code != 0 {
		t.Fatalf("create = %d %q", code, out)
	}
	token, rest, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(token, "kwa_") || len(token) != 47 || !strings.Contains(rest, "shown only now") {
		t.Fatalf("create printed %q", out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "token", "create", "--name", "ops-bot", "--scope", "audit:read"}, "exists already"},
		{[]string{"admin", "token", "create", "--name", "x", "--scope", "accounts:admin"}, `--scope: Unknown scope "accounts:admin"`},
		{[]string{"admin", "token", "create", "--name", "x"}, "--scope: Give at least one scope"},
		{[]string{"admin", "token", "create", "--scope", "audit:read"}, "--name is required"},
		{[]string{"admin", "token", "create", "--name", "two words", "--scope", "audit:read"}, "letters, digits"},
		{[]string{"admin", "token", "revoke", "nobody"}, `no admin token is named "nobody"`},
	} {
		if code, out := runCmd(t, dir, "", tt.args...); code != 1 || !strings.Contains(out, tt.want) {
			t.Errorf("%v = %d %q, want 1 and %q", tt.args, code, out, tt.want)
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"admin", "token", "revoke"}, nil, &stdout, &stdout); code != 2 || !strings.Contains(stdout.String(), "give the NAME") {
		t.Errorf("revoke without a name = %d %q", code, stdout.String())
	}

	code, out = runCmd(t, dir, "", "admin", "token", "list")
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "ops-bot") || !strings.Contains(out, "accounts:read,audit:read") ||
		!strings.Contains(out, "never") || strings.Contains(out, token[4:]) {
		t.Fatalf("list = %d %q", code, out)
	}
	a := wireTest(t, dir)
	by, err := a.Service.AuthenticateAdmin(context.Background(), token, keyward.Client{IP: "192.0.2.1"})
	a.Close()
	if err != nil || by.TokenName != "ops-bot" {
		t.Fatalf("AuthenticateAdmin = %+v, %v", by, err)
	}
	if code, out = runCmd(t, dir, "", "admin", "token", "list"); code != 0 || strings.Contains(out, "never") {
		t.Fatalf("list after use = %d %q, want a last-used time", code, out)
	}
	db, err := os.ReadFile(filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(token[4:])) {
		t.Fatal("the token is in the database")
	}

	// The name may come after the flags too.
	stdout.Reset()
	t.Setenv("KEYWARD_ARGON2_MEMORY", "64")
	if code := run(context.Background(), []string{"admin", "token", "revoke", "--data-dir", dir, "ops-bot"}, nil, &stdout, &stdout); code != 0 ||
		!strings.Contains(stdout.String(), "revoked") {
		t.Fatalf("revoke = %d %q", code, stdout.String())
	}
	a = wireTest(t, dir)
	_, err = a.Service.AuthenticateAdmin(context.Background(), token, keyward.Client{IP: "192.0.2.1"})
	a.Close()
	if !keyward.IsCode(err, keyward.CodeUnauthenticated) {
		t.Fatalf("a revoked token: %v", err)
	}
	if code, out = runCmd(t, dir, "", "admin", "token", "list"); code != 0 || !strings.Contains(out, "no admin tokens") {
		t.Fatalf("list after revoke = %d %q", code, out)
	}
	code, out = runCmd(t, dir, "", "audit", "list", "--email", "system")
	if code != 0 || !strings.Contains(out, `"type":"admin.token_created"`) || !strings.Contains(out, `"type":"admin.token_revoked"`) ||
		!strings.Contains(out, `"admin_token":"ops-bot"`) || strings.Contains(out, token[4:]) {
		t.Fatalf("system log = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify = %d %q", code, out)
	}
}

// TestAccountDisableEnableDeleteCommands: the command line's disable,
// enable and delete are the admin API's service calls.
func TestAccountDisableEnableDeleteCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out := runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com"); code != 0 {
		t.Fatalf("account create = %d %q", code, out)
	}
	signIn := func() error {
		a := wireTest(t, dir)
		defer a.Close()
		_, err := a.Service.SignIn(context.Background(), "ada@example.com", testPassword, keyward.Client{IP: "192.0.2.1"})
		return err
	}
	if err := signIn(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"account", "disable", "--email", "ADA@example.com"}, 0, "is disabled; 1 sessions ended"},
		{[]string{"account", "disable", "--email", "ada@example.com"}, 0, "disabled already"},
		{[]string{"account", "disable"}, 1, "--email is required"},
		{[]string{"account", "disable", "--email", "nobody@example.com"}, 1, `no account has the email "nobody@example.com"`},
	}
	for _, st := range steps {
		if code, out := runCmd(t, dir, "", st.args...); code != st.code || !strings.Contains(out, st.want) {
			t.Fatalf("%v = %d %q, want %d and %q", st.args, code, out, st.code, st.want)
		}
	}
	if err := signIn(); !keyward.IsCode(err, keyward.CodeAccountDisabled) {
		t.Fatalf("sign-in while disabled: %v", err)
	}
	for _, st := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"account", "enable", "--email", "ada@example.com"}, 0, "can sign in again"},
		{[]string{"account", "enable", "--email", "ada@example.com"}, 0, "is not disabled"},
	} {
		if code, out := runCmd(t, dir, "", st.args...); code != st.code || !strings.Contains(out, st.want) {
			t.Fatalf("%v = %d %q", st.args, code, out)
		}
	}
	if err := signIn(); err != nil {
		t.Fatalf("sign-in after enabling: %v", err)
	}
	if code, out := runCmd(t, dir, "", "account", "delete", "--email", "ada@example.com"); code != 1 || !strings.Contains(out, "--yes") {
		t.Fatalf("delete without --yes = %d %q", code, out)
	}
	if err := signIn(); err != nil {
		t.Fatalf("the account went without --yes: %v", err)
	}
	code, out := runCmd(t, dir, "", "account", "delete", "--email", "ada@example.com", "--yes")
	if code != 0 || !strings.Contains(out, "is deleted") {
		t.Fatalf("delete = %d %q", code, out)
	}
	if err := signIn(); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
		t.Fatalf("sign-in after the deletion: %v", err)
	}
	if code, out := runCmd(t, dir, "", "account", "delete", "--email", "ada@example.com", "--yes"); code != 1 || !strings.Contains(out, "no account") {
		t.Fatalf("delete again = %d %q", code, out)
	}
	code, out = runCmd(t, dir, "", "audit", "list", "--email", "system")
	if code != 0 || !strings.Contains(out, `"type":"account.deleted"`) || !strings.Contains(out, `"actor":"admin"`) || strings.Contains(out, "ada@example.com") {
		t.Fatalf("system log = %d %q", code, out)
	}
	if code, out := runCmd(t, dir, "", "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify after a deletion = %d %q", code, out)
	}
}

// TestServeAdminAddr: with --admin-addr the admin API answers there only,
// with keyward's headers, and 404 on --addr; the start-up line names it.
func TestServeAdminAddr(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Setenv("KEYWARD_SECRET_KEY", "k2860486313 "+key)
	t.Setenv("KEYWARD_ARGON2_MEMORY", "64")
	t.Setenv("KEYWARD_ARGON2_TIME", "1")
	dir := t.TempDir()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"admin", "token", "create", "--data-dir", dir, "--name", "ci", "--scope", "accounts:read"},
		nil, &out, &out); code != 0 {
		t.Fatalf("admin token create = %d %q", code, out.String())
	}
	token, _, _ := strings.Cut(out.String(), "\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json"},
			strings.NewReader(""), &stdout, &stderr)
	}()
	var line map[string]any
	for deadline := time.Now().Add(20 * time.Second); line == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line:\n%s", stderr.String())
		}
		for l := range strings.Lines(stderr.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "keyward started" {
				line = m
			}
		}
	}
	admin, _ := line["admin_addr"].(string)
	public, _ := line["addr"].(string)
	if admin == "" || admin == public {
		t.Fatalf("start-up line: %v", line)
	}
	get := func(addr, path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(admin, "/api/v1/admin/accounts")
	if resp.StatusCode != 200 || !strings.Contains(body, `"accounts":[]`) || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("the admin listener: %s %s %v", resp.Status, body, resp.Header)
	}
	if resp, body = get(public, "/api/v1/admin/accounts"); resp.StatusCode != 404 || !strings.Contains(body, "not_found") {
		t.Fatalf("the public listener: %s %s", resp.Status, body)
	}
	if resp, _ = get(admin, "/healthz"); resp.StatusCode != 404 {
		t.Fatalf("the admin listener serves /healthz: %s", resp.Status)
	}
	if resp, _ = get(public, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("the public listener's /healthz: %s", resp.Status)
	}
	if !strings.Contains(stderr.String(), `"path":"/api/v1/admin/accounts","status":200`) {
		t.Errorf("no access log line for the admin listener:\n%s", stderr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, stderr.String())
	}
}

// TestServeAdminAddrTaken: an admin address that cannot be listened on
// fails serve at once, naming the flag.
func TestServeAdminAddrTaken(t *testing.T) {
	t.Setenv("KEYWARD_ARGON2_MEMORY", "64")
	var out bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "256.0.0.1:1"},
		strings.NewReader(""), &out, &out)
	if code == 0 || !strings.Contains(out.String(), "--admin-addr") {
		t.Fatalf("serve with a bad admin address = %d %q", code, out.String())
	}
}
