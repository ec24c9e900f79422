package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for a running command and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeStartUpLine: serve logs one start-up line with its version,
// engine, addresses and public URL, and no secret; the metrics listener
// answers at the address it names.
func TestServeStartUpLine(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{6}, 32))
	t.Setenv("KEYWARD_SECRET_KEY", "k2860486313 "+key)
	t.Setenv("KEYWARD_ARGON2_MEMORY", "64")
	t.Setenv("KEYWARD_ARGON2_TIME", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--log-format", "json", "--public-url", "https://id.example.com", "--base-path", "/auth"}, strings.NewReader(""), &stdout, &stderr)
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
	for field, want := range map[string]string{"engine": "sqlite", "public_url": "https://id.example.com/auth/", "base_path": "/auth", "level": "INFO"} {
		if line[field] != want {
			t.Errorf("start-up line %s = %v, want %q", field, line[field], want)
		}
	}
	for _, field := range []string{"version", "addr", "metrics_addr", "data_dir"} {
		if s, _ := line[field].(string); s == "" {
			t.Errorf("start-up line has no %s: %v", field, line)
		}
	}
	if strings.Contains(stderr.String(), key) {
		t.Error("the log holds the secret key")
	}
	resp, err := http.Get("http://" + line["metrics_addr"].(string) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /metrics on the metrics address = %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The public listener does not serve the metrics.
	resp, err = http.Get("http://" + line["addr"].(string) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the public address serves /metrics")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after its context ended:\n%s", code, stderr.String())
	}
}

// TestFatalErrorsInJSON: with --log-format json, the error a command ends
// with is a JSON log line too; without it, a plain line.
func TestFatalErrorsInJSON(t *testing.T) {
	t.Setenv("KEYWARD_SECRET_KEY", "")
	missing := filepath.Join(t.TempDir(), "none")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"audit", "verify", "--data-dir", missing, "--log-format", "json"}, strings.NewReader(""), &stdout, &stderr)
	if code == 0 {
		t.Fatal("audit verify without a key file succeeded")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("the fatal error is not JSON: %q", stderr.String())
	}
	if last["level"] != "ERROR" || last["exit_code"] != float64(code) || !strings.Contains(last["err"].(string), "no key file") {
		t.Errorf("fatal line = %v, want level ERROR, exit_code %d and the error", last, code)
	}
	stderr.Reset()
	run(context.Background(), []string{"audit", "verify", "--data-dir", missing}, strings.NewReader(""), &stdout, &stderr)
	if !strings.HasPrefix(stderr.String(), "keyward: ") {
		t.Errorf("text format's fatal error = %q, want a plain line", stderr.String())
	}
}
