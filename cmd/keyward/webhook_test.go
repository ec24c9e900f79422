package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/postgres/pgtest"
)

// testWebhookSecret is a Standard Webhooks secret (24 bytes).
const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestWebhookSettingsRefused: a webhook set up in part or wrongly stops
// keyward before it starts, with an error that names the setting and never
// shows the secret.
func TestWebhookSettingsRefused(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(testWebhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const badSecret = "whsec_c2hvcnQtc2VjcmV0LXZhbHVl" // 18 bytes
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"not http", nil, []string{"--webhook-url", "ftp://siem.example.com/in", "--webhook-secret", testWebhookSecret}, "--webhook-url: the webhook URL must start with https:// or http://"},
		{"no host", nil, []string{"--webhook-url", "https:///in", "--webhook-secret", testWebhookSecret}, "--webhook-url: the webhook URL has no host"},
		{"URL without a secret", nil, []string{"--webhook-url", "https://siem.example.com/in"}, "--webhook-url needs the receiver's secret"},
		{"secret without a URL", map[string]string{"KEYWARD_WEBHOOK_SECRET": testWebhookSecret}, nil, "a webhook secret is set but no --webhook-url"},
		{"events without a URL", nil, []string{"--webhook-events", "signin."}, "--webhook-events is set but no --webhook-url"},
		{"short secret", nil, []string{"--webhook-url", "https://siem.example.com/in", "--webhook-secret", badSecret}, "holds 18 bytes; it needs 24 to 64"},
		{"secret without its prefix", map[string]string{"KEYWARD_WEBHOOK_SECRET": strings.TrimPrefix(testWebhookSecret, "whsec_")},
			[]string{"--webhook-url", "https://siem.example.com/in"}, `starts with "whsec_"`},
		{"secret twice", map[string]string{"KEYWARD_WEBHOOK_SECRET": testWebhookSecret},
			[]string{"--webhook-url", "https://siem.example.com/in", "--webhook-secret-file", secretFile}, "give one"},
		{"missing secret file", nil, []string{"--webhook-url", "https://siem.example.com/in", "--webhook-secret-file", secretFile + ".gone"}, "--webhook-secret-file: open"},
		{"event typo", nil, []string{"--webhook-url", "https://siem.example.com/in", "--webhook-secret-file", secretFile, "--webhook-events", "signin,password.changed"}, `write "signin."`},
		{"timeout too long", nil, []string{"--webhook-url", "https://siem.example.com/in", "--webhook-secret-file", secretFile, "--webhook-timeout", "10m"}, "--webhook-timeout must be positive and at most 5m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"KEYWARD_WEBHOOK_SECRET", "KEYWARD_WEBHOOK_URL", "KEYWARD_WEBHOOK_SECRET_FILE", "KEYWARD_WEBHOOK_EVENTS"} {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			for _, cmd := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"account", "reset-2fa", "--email", "ada@example.com"}} {
				code, out := runCmd(t, dir, "", append(cmd, tt.args...)...)
				if code != 2 || !strings.Contains(out, tt.want) {
					t.Errorf("%s = %d %q, want exit 2 saying %q", cmd[0], code, out, tt.want)
				}
				for _, secret := range []string{testWebhookSecret, strings.TrimPrefix(testWebhookSecret, "whsec_"), strings.TrimPrefix(badSecret, "whsec_")} {
					if strings.Contains(out, secret) {
						t.Errorf("%s: the output shows the secret: %q", cmd[0], out)
					}
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("refused, but made %d files in the data folder", len(entries))
			}
		})
	}
}

// hookReceiver is a real receiver on loopback that verifies every request
// with the Standard Webhooks project's own Go library.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []hookRequest
	bad  []string
	hold func(n int) bool // hold the n-th request (from 0) until the client goes
	held chan struct{}    // closed when a request is held
}

type hookRequest struct {
	id, timestamp string
	body          []byte
	at            time.Time
	answered      bool
}

func newHookReceiver(t *testing.T, hold func(n int) bool) *hookReceiver {
	t.Helper()
	ref, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{hold: hold, held: make(chan struct{})}
	var once sync.Once
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := hookRequest{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"), body: body, at: time.Now()}
		h.mu.Lock()
		if err := ref.Verify(body, r.Header); err != nil {
			h.bad = append(h.bad, err.Error())
		}
		if r.URL.Query().Get("token") != "q-secret" {
			h.bad = append(h.bad, "the URL's query did not arrive")
		}
		n := len(h.got)
		h.got = append(h.got, req)
		h.mu.Unlock()
		if h.hold != nil && h.hold(n) {
			once.Do(func() { close(h.held) })
			<-r.Context().Done()
			return
		}
		h.mu.Lock()
		h.got[n].answered = true
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) url() string { return h.srv.URL + "/hooks?token=q-secret" }

func (h *hookReceiver) snapshot() ([]hookRequest, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...), append([]string(nil), h.bad...)
}

// waitAnswered waits for n answered requests.
func (h *hookReceiver) waitAnswered(t *testing.T, n int, within time.Duration) []hookRequest {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, bad := h.snapshot()
		var answered []hookRequest
		for _, r := range got {
			if r.answered {
				answered = append(answered, r)
			}
		}
		if len(answered) >= n {
			return answered
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d webhooks answered within %v (%d requests; refused: %v)", len(answered), n, within, len(got), bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookSurvivesKill9: the receiver holds the first delivery of an
// event committed and answered 201; keyward is killed with SIGKILL while it
// waits. The restarted node delivers the same event (same id, same body,
// signed anew), once the dead node's claim has run out. Nothing committed
// is lost; neither log shows the secret or the URL's query.
func TestWebhookSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKeyward(t)
	dir := t.TempDir()
	addr := freePort(t)
	rc := newHookReceiver(t, func(n int) bool { return n == 0 })
	secretFile := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(testWebhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hookArgs := []string{"--webhook-url", rc.url(), "--webhook-timeout", "2s"}
	var out bytes.Buffer
	cmd := startServeOut(t, bin, dir, addr, &out, append(hookArgs, "--webhook-secret-file", secretFile)...)
	body := fmt.Sprintf(`{"email":"ada@example.com","password":%q}`, testPassword)
	if st := postJSON(t, "http://"+addr+"/api/v1/accounts", "", body); st != 201 {
		t.Fatalf("sign-up = %d", st)
	}
	select {
	case <-rc.held:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery reached the receiver:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	first, _ := rc.snapshot()

	t.Setenv("KEYWARD_WEBHOOK_SECRET", testWebhookSecret) // the restart takes it from the environment
	var out2 bytes.Buffer
	startServeOut(t, bin, dir, addr, &out2, hookArgs...)
	got := rc.waitAnswered(t, 1, 30*time.Second)
	t.Logf("delivered %v after the kill (the dead node's claim lasts 2×2s+5s)", got[0].at.Sub(killed).Round(time.Millisecond))
	all, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("refused: %v", bad)
	}
	if got[0].id != first[0].id || !bytes.Equal(got[0].body, first[0].body) {
		t.Errorf("delivered %s %s, want the held event %s %s", got[0].id, got[0].body, first[0].id, first[0].body)
	}
	if !strings.Contains(string(got[0].body), `"type":"account.created"`) {
		t.Errorf("body %s", got[0].body)
	}
	if len(all) != 2 {
		t.Errorf("%d requests, want the held one and its delivery", len(all))
	}
	logs := out.String() + out2.String()
	if !strings.Contains(logs, "audit events (*) are sent to "+rc.srv.URL+"/hooks (user information and query not shown)") {
		t.Errorf("no start-up line about webhooks:\n%s", logs)
	}
	for _, leak := range []string{strings.TrimPrefix(testWebhookSecret, "whsec_"), "q-secret"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log shows %q:\n%s", leak, logs)
		}
	}
}

// TestWebhookTwoServeNodes: two keyward serve processes on one PostgreSQL
// database, each with its worker, send every event once.
func TestWebhookTwoServeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and runs two nodes")
	}
	dbURL := pgtest.NewDatabase(t)
	bin := buildKeyward(t)
	rc := newHookReceiver(t, nil)
	t.Setenv("KEYWARD_WEBHOOK_SECRET", testWebhookSecret)
	nodes := startNodesWith(t, bin, dbURL, newSecretKey(t), []string{"--webhook-url", rc.url()}, "A", "B")
	const accounts = 12
	for i := range accounts {
		n := nodes[i%2]
		email := fmt.Sprintf("user%d@example.com", i)
		if st := n.signUp(t, email); st != http.StatusCreated {
			t.Fatalf("sign-up on %s = %d", n.name, st)
		}
		if st, _, _ := nodes[(i+1)%2].signIn(t, email, testPassword); st != http.StatusCreated {
			t.Fatalf("sign-in = %d", st)
		}
	}
	const events = 2 * accounts // account.created, signin.succeeded
	rc.waitAnswered(t, events, 30*time.Second)
	time.Sleep(time.Second) // a second delivery of any would come now
	all, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("refused: %v", bad)
	}
	seen := map[string]int{}
	for _, r := range all {
		seen[r.id]++
	}
	if len(seen) != events || len(all) != events {
		t.Errorf("%d requests for %d distinct events, want %d once each", len(all), len(seen), events)
	}
}
