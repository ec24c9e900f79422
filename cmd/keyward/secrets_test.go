package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyCommandsMakeNoKeyFile: audit list, audit verify and migrate
// status on a data folder that has no key file fail, and leave no key file
// (nor a database) behind; on an installation they work as before.
func TestReadOnlyCommandsMakeNoKeyFile(t *testing.T) {
	for _, args := range [][]string{{"audit", "list"}, {"audit", "verify"}, {"migrate", "status"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("KEYWARD_SECRET_KEY", "")
			dir := filepath.Join(t.TempDir(), "data")
			runCmd(t, dir, "", args...)
			if _, err := os.Stat(filepath.Join(dir, "secret.keys")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("keyward %s made a key file: %v", strings.Join(args, " "), err)
			}
		})
	}
	t.Run("on an installation", func(t *testing.T) {
		t.Setenv("KEYWARD_SECRET_KEY", "")
		dir := t.TempDir()
		if code, out := runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com"); code != 0 {
			t.Fatalf("account create = %d %q", code, out)
		}
		for _, args := range [][]string{{"audit", "list"}, {"audit", "verify"}, {"migrate", "status"}} {
			if code, out := runCmd(t, dir, "", args...); code != 0 {
				t.Errorf("keyward %s = %d %q", strings.Join(args, " "), code, out)
			}
		}
	})
}

// TestServeOnPostgresNeedsTheSharedKey: serve on PostgreSQL without
// KEYWARD_SECRET_KEY or --secret-key-file refuses to start and says what
// to set, before it makes anything.
func TestServeOnPostgresNeedsTheSharedKey(t *testing.T) {
	t.Setenv("KEYWARD_SECRET_KEY", "")
	dir := t.TempDir()
	code, out := runCmd(t, dir, "", "serve", "--addr", "127.0.0.1:0", "--database-url", "postgres://127.0.0.1:1/nothing")
	if code == 0 || !strings.Contains(out, "on PostgreSQL every node needs the same secret key") ||
		!strings.Contains(out, "KEYWARD_SECRET_KEY") || !strings.Contains(out, "--secret-key-file") {
		t.Fatalf("serve on PostgreSQL without a key = %d %q, want a refusal naming KEYWARD_SECRET_KEY and --secret-key-file", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.keys")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serve made a key file: %v", err)
	}
}

// TestSecretKeyFile: --secret-key-file is used instead of the data folder's
// key file, and never created.
func TestSecretKeyFile(t *testing.T) {
	t.Setenv("KEYWARD_SECRET_KEY", "")
	dir := t.TempDir()
	keys := filepath.Join(t.TempDir(), "shared.keys")
	code, out := runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com", "--secret-key-file", keys)
	if code == 0 || !strings.Contains(out, "shared.keys") {
		t.Fatalf("account create with a missing --secret-key-file = %d %q, want an error naming it", code, out)
	}
	if _, err := os.Stat(keys); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("--secret-key-file was created: %v", err)
	}
	value := "k2860486313 " + strings.Repeat("A", 43) + "="
	if err := os.WriteFile(keys, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCmd(t, dir, testPassword+"\n", "account", "create", "--email", "ada@example.com", "--secret-key-file", keys); code != 0 {
		t.Fatalf("account create with --secret-key-file = %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.keys")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key file was made in the data folder although --secret-key-file was given: %v", err)
	}
	t.Setenv("KEYWARD_SECRET_KEY", value)
	if code, out := runCmd(t, dir, "", "audit", "verify", "--secret-key-file", keys); code == 0 || !strings.Contains(out, "give one") {
		t.Errorf("both KEYWARD_SECRET_KEY and --secret-key-file = %d %q, want a refusal", code, out)
	}
}
