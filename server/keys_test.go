package server_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
)

func keyValue(id string, b byte) string {
	return id + " " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func readyz(t testing.TB, kw *server.Server) int {
	t.Helper()
	w := httptest.NewRecorder()
	kw.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	return w.Code
}

// TestReadyzRefusesKeysThatDoNotOpenTheSeeds: a node started with other
// keys than the seeds were sealed with is not ready, and one with the
// right keys is; a store without seeds has nothing to refuse.
func TestReadyzRefusesKeysThatDoNotOpenTheSeeds(t *testing.T) {
	dir := t.TempDir()
	right, wrong := keyValue("k1", 1), keyValue("k1", 2)
	open := func(key string) *server.Server {
		t.Helper()
		kw, err := server.Open(t.Context(), server.Config{DataDir: dir, SecretKey: key, PasswordHashing: cheap})
		if err != nil {
			t.Fatal(err)
		}
		return kw
	}
	kw := open(right)
	if got := readyz(t, kw); got != http.StatusOK {
		t.Fatalf("readyz without any seed = %d, want 200", got)
	}
	const pw = "correct horse battery staple"
	res, err := kw.Service().SignUpAndSignIn(t.Context(), "seed@example.com", pw, keyward.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kw.Service().BeginTOTPSetup(t.Context(), res.Session, pw, keyward.Client{}); err != nil {
		t.Fatal(err)
	}
	kw.Close()

	for _, tt := range []struct {
		name, key string
		want      int
	}{
		{"the key it was sealed with", right, http.StatusOK},
		{"another key under the same id", wrong, http.StatusServiceUnavailable},
		{"no key of that id", keyValue("k2860486313", 1), http.StatusServiceUnavailable},
		{"the right key among others", keyValue("k2860486313", 3) + ";" + right, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kw := open(tt.key)
			defer kw.Close()
			if got := readyz(t, kw); got != tt.want {
				t.Errorf("readyz = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPostgresNeedsTheSharedKey: on PostgreSQL, Open refuses to make a key
// file of its own, before it connects.
func TestPostgresNeedsTheSharedKey(t *testing.T) {
	dir := t.TempDir()
	_, err := server.Open(t.Context(), server.Config{DataDir: dir, DatabaseURL: "postgres://127.0.0.1:1/nothing", PasswordHashing: cheap})
	if !errors.Is(err, server.ErrNoSharedKey) || !strings.Contains(err.Error(), "KEYWARD_SECRET_KEY") {
		t.Fatalf("Open on PostgreSQL without a key = %v, want %v", err, server.ErrNoSharedKey)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.keys")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key file was made: %v", err)
	}
}

// TestReadOnlyKeysNeverCreateAFile: ReadOnlyKeys and SecretKeyFile read a
// key file, never make one.
func TestReadOnlyKeysNeverCreateAFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "elsewhere.keys")
	for _, cfg := range []server.Config{
		{DataDir: dir, ReadOnlyKeys: true, PasswordHashing: cheap},
		{DataDir: dir, SecretKeyFile: missing, PasswordHashing: cheap},
	} {
		if c, err := server.OpenCore(t.Context(), cfg); err == nil {
			c.Close()
			t.Errorf("OpenCore(%+v) without a key file succeeded", cfg)
		}
	}
	for _, p := range []string{filepath.Join(dir, "secret.keys"), missing, filepath.Join(dir, "keyward.db")} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was made: %v", p, err)
		}
	}
}
