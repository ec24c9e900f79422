package server_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

// cheap keeps password hashing fast in tests.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

func TestOpenRefusesBadConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"no place for the data", server.Config{}, "DataDir"},
		{"argon2 out of range", server.Config{DataDir: dir, PasswordHashing: password.Params{Memory: 1, Time: 1, Threads: 4}}, "argon2"},
		{"a bad secret key", server.Config{DataDir: dir, SecretKey: "not a key"}, "secret keys"},
		{"a bad base path", server.Config{DataDir: t.TempDir(), PasswordHashing: cheap, Config: web.Config{BasePath: "auth/"}}, "base path"},
		{"a webhook URL that is not http", server.Config{DataDir: dir, Webhook: server.Webhook{URL: "file:///etc/passwd", Secret: webhookSecret}}, "https:// or http://"},
		{"a webhook without a secret", server.Config{DataDir: dir, Webhook: server.Webhook{URL: "https://siem.example.com/in"}}, "no secret"},
		{"a webhook secret without a URL", server.Config{DataDir: dir, Webhook: server.Webhook{Secret: webhookSecret}}, "no URL"},
		{"a short webhook secret", server.Config{DataDir: dir, Webhook: server.Webhook{URL: "https://siem.example.com/in", Secret: "whsec_AAAA"}}, "24 to 64"},
		{"an unknown event", server.Config{DataDir: dir, Webhook: server.Webhook{URL: "https://siem.example.com/in", Secret: webhookSecret, Events: "signin.ok"}}, "not an event type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kw, err := server.Open(t.Context(), tt.cfg)
			if err == nil {
				kw.Close()
				t.Fatalf("Open succeeded, want an error about %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one about %s", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.keys")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an Open refused for its settings left a key file behind: %v", err)
	}
}

// TestOpenNamesTheProduct: a ProductName given to the web part names the
// product for the service too (the authenticator apps' issuer) when the
// service's rules are the defaults.
func TestOpenNamesTheProduct(t *testing.T) {
	kw, err := server.Open(t.Context(), server.Config{DataDir: t.TempDir(), PasswordHashing: cheap, Config: web.Config{ProductName: "Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	ctx, client := t.Context(), keyward.Client{IP: "192.0.2.1"}
	res, err := kw.Service().SignUpAndSignIn(ctx, "ada@example.com", "correct horse battery staple", client)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := kw.Service().BeginTOTPSetup(ctx, res.Session, "", client)
	if err != nil {
		t.Fatal(err)
	}
	if setup.Issuer != "Acme" {
		t.Errorf("issuer = %q, want Acme", setup.Issuer)
	}
}

// TestOpenPostgres opens on PostgreSQL, twice as two nodes would, and a
// session opened on one node works behind the other's RequireSession.
func TestOpenPostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keys := t.TempDir() // both nodes read one key file, as KEYWARD_SECRET_KEY would share one key
	keyFile := filepath.Join(keys, "shared.keys")
	if err := os.WriteFile(keyFile, []byte(keyValue("k2860486313", 4)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *server.Server {
		kw, err := server.Open(t.Context(), server.Config{DatabaseURL: dbURL, DataDir: keys, SecretKeyFile: keyFile, PasswordHashing: cheap})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kw.Close() })
		return kw
	}
	a, b := open(), open()
	if _, err := os.Stat(filepath.Join(keys, "keyward.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("with a database URL, a SQLite file was made too: %v", err)
	}
	res, err := a.Service().SignUpAndSignIn(t.Context(), "ada@example.com", "correct horse battery staple", keyward.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- b.Run(ctx) }()
	h := b.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := keyward.FromContext(r.Context())
		w.Write([]byte(id.Account.Email))
	}))
	ask := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/dashboard", nil)
		r.Header.Set("Authorization", "Bearer "+res.Token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := ask(); w.Code != 200 || w.Body.String() != "ada@example.com" {
		t.Fatalf("node b: %d %q, want 200 ada@example.com", w.Code, w.Body)
	}
	// Ended on node a: node b, whose cache the watcher keeps, refuses it.
	if err := a.Service().SignOut(t.Context(), res.Session, keyward.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ask().Code != 401 {
		if time.Now().After(deadline) {
			t.Fatal("node b still lets the session through 5s after node a ended it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestRunSendsMails: Run's worker delivers what the outbox holds, with
// links to the public URL and the base path; without any address for the
// links, mails wait and the Server says so.
func TestRunSendsMails(t *testing.T) {
	public, _ := url.Parse("https://id.example.com")
	tests := []struct {
		name      string
		publicURL *url.URL
		wantSent  bool
		wantDest  string
	}{
		{"public URL", public, true, "mails are written as .eml files to "},
		{"no address for links", nil, false, "mails wait in the outbox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kw, err := server.Open(t.Context(), server.Config{DataDir: dir, PasswordHashing: cheap,
				Config: web.Config{PublicURL: tt.publicURL, BasePath: "/auth"}})
			if err != nil {
				t.Fatal(err)
			}
			defer kw.Close()
			if got := kw.MailDestination(); !strings.HasPrefix(got, tt.wantDest) {
				t.Errorf("MailDestination() = %q, want it to start with %q", got, tt.wantDest)
			}
			ctx, cancel := context.WithCancel(t.Context())
			ran := make(chan error, 1)
			go func() { ran <- kw.Run(ctx) }()
			defer func() { cancel(); <-ran }()
			if err := kw.Service().ForgotPassword(ctx, "nobody@example.com", keyward.Client{IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := kw.Service().SignUpAndSignIn(ctx, "ada@example.com", "correct horse battery staple", keyward.Client{IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
			// Sign-up mails a confirmation link.
			var body []byte
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
				if len(files) > 0 {
					body, _ = os.ReadFile(files[0])
					break
				}
				if !tt.wantSent && time.Now().After(deadline.Add(-4*time.Second)) {
					break // a second is plenty for a worker that would run
				}
			}
			if sent := body != nil; sent != tt.wantSent {
				t.Fatalf("a mail was written: %v, want %v", sent, tt.wantSent)
			}
			if tt.wantSent && !strings.Contains(string(body), "https://id.example.com/auth/verify-email?token=") {
				t.Errorf("the mail's link does not point at the public URL and base path:\n%s", body)
			}
		})
	}
}

// TestAdminHandler: with SeparateAdmin the Server answers the admin API's
// paths 404 and AdminHandler serves them; without it AdminHandler is nil
// and the Server serves them.
func TestAdminHandler(t *testing.T) {
	for _, separate := range []bool{false, true} {
		kw, err := server.Open(t.Context(), server.Config{DataDir: t.TempDir(), PasswordHashing: cheap, Config: web.Config{SeparateAdmin: separate}})
		if err != nil {
			t.Fatal(err)
		}
		defer kw.Close()
		token, _, err := kw.Service().CreateAdminToken(t.Context(), "ci", keyward.AdminScopes())
		if err != nil {
			t.Fatal(err)
		}
		get := func(h http.Handler) int {
			req := httptest.NewRequest("GET", "/api/v1/admin/accounts", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		admin := kw.AdminHandler()
		switch {
		case !separate && (admin != nil || get(kw) != 200):
			t.Errorf("not separate: AdminHandler %v, the Server answers %d", admin, get(kw))
		case separate && (admin == nil || get(admin) != 200 || get(kw) != 404):
			t.Errorf("separate: AdminHandler %v, the Server answers %d", admin, get(kw))
		}
	}
}

// webhookSecret is a Standard Webhooks secret (24 bytes).
const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestRunSendsWebhooks: with Config.Webhook, Run delivers the events the
// list picks, signed (checked with the Standard Webhooks project's own
// library); without it, a WebhookEvents slipped into Service writes nothing.
func TestRunSendsWebhooks(t *testing.T) {
	ref, err := standardwebhooks.NewWebhook(webhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := ref.Verify(body, r.Header); err != nil {
			t.Errorf("refused: %v", err)
		}
		got <- string(body)
	}))
	defer rc.Close()
	kw, err := server.Open(t.Context(), server.Config{DataDir: t.TempDir(), PasswordHashing: cheap,
		Webhook: server.Webhook{URL: rc.URL + "/in?key=k", Secret: webhookSecret, Events: "account.created"}})
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	if d := kw.WebhookDestination(); d != "audit events (account.created) are sent to "+rc.URL+"/in (user information and query not shown)" {
		t.Errorf("WebhookDestination() = %q", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- kw.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	if _, err := kw.Service().SignUpAndSignIn(ctx, "ada@example.com", "correct horse battery staple", keyward.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, `"type":"account.created"`) {
			t.Errorf("body %s", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	select {
	case body := <-got:
		t.Errorf("a second webhook, of an event the list does not pick: %s", body)
	case <-time.After(300 * time.Millisecond):
	}

	sel, _ := audit.ParseSelector("")
	svc := keyward.DefaultConfig()
	svc.WebhookEvents = &sel
	off, err := server.Open(t.Context(), server.Config{DataDir: t.TempDir(), PasswordHashing: cheap, Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if _, err := off.Service().SignUp(t.Context(), "bob@example.com", "correct horse battery staple", keyward.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if waiting, _, err := off.Service().WebhooksWaiting(t.Context()); err != nil || waiting != 0 || off.WebhookDestination() != "" {
		t.Errorf("without Config.Webhook: %d deliveries waiting (%v), destination %q", waiting, err, off.WebhookDestination())
	}
}
