package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// testSecret is the Standard Webhooks specification's example secret (24
// bytes), the key of its signature test vector.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestSignVector: the signature of the specification's test vector.
func TestSignVector(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		at       time.Time
		body     string
		want     string
	}{
		{"specification vector", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), `{"test": 2432232314}`,
			"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		{"sub-second time signs its whole seconds", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 999_999_999), `{"test": 2432232314}`,
			"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Sign(tt.id, tt.at, []byte(tt.body)); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	b64 := func(n int) string {
		return "whsec_" + strings.Repeat("QUJD", n/3) // "ABC" per 4 characters
	}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"specification example (24 bytes)", testSecret, true},
		{"64 bytes", "whsec_" + strings.Repeat("A", 86) + "==", true},
		{"surrounding whitespace (a file's newline)", " " + testSecret + "\n", true},
		{"no prefix", strings.TrimPrefix(testSecret, "whsec_"), false},
		{"other prefix", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
		{"not base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!!", false},
		{"URL-safe base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_", false},
		{"21 bytes: too short", b64(21), false},
		{"66 bytes: too long", b64(66), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecret(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSecret(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil && len(tt.in) > len("whsec_") && strings.Contains(err.Error(), strings.TrimPrefix(strings.TrimSpace(tt.in), "whsec_")) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestSecretNeverPrints: a secret, or a Sender holding one, printed or
// logged by mistake shows no key.
func TestSecretNeverPrints(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := New(Config{URL: "https://user:pw@hooks.example.com/in?token=t0k3n", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	slog.New(slog.NewJSONHandler(&log, nil)).Info("x", "secret", s, "sender", snd)
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "secret", s)
	key := strings.TrimPrefix(testSecret, "whsec_")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), fmt.Sprintf("%v %+v %#v", snd, snd, *snd), log.String(),
	} {
		if strings.Contains(out, key) || strings.Contains(out, "MfKQ9r8G") || strings.Contains(out, "49 242 144") {
			t.Errorf("the key shows: %s", out)
		}
	}
	if d := snd.Describe(); strings.Contains(d, "pw") || strings.Contains(d, "t0k3n") || strings.Contains(d, "user:") {
		t.Errorf("Describe shows credentials: %s", d)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		redacted string
	}{
		{"https", "https://siem.example.com/hooks/keyward", true, "https://siem.example.com/hooks/keyward"},
		{"http with port", "http://127.0.0.1:9000/in", true, "http://127.0.0.1:9000/in"},
		{"upper-case scheme", "HTTPS://siem.example.com/", true, "https://siem.example.com/"},
		{"credentials and query hidden", "https://u:secret@siem.example.com/in?token=abc#frag", true, "https://siem.example.com/in (user information and query not shown)"},
		{"IPv6", "https://[2001:db8::1]:8443/in", true, "https://[2001:db8::1]:8443/in"},
		{"ftp", "ftp://siem.example.com/", false, ""},
		{"no scheme", "siem.example.com/hooks", false, ""},
		{"no host", "https:///hooks", false, ""},
		{"opaque", "https:siem.example.com", false, ""},
		{"port out of range", "https://siem.example.com:70000/", false, ""},
		{"javascript", "javascript:alert(1)", false, ""},
		{"empty", "", false, ""},
		{"control character", "https://siem.example.com/\x7f\n", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseURL(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil {
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Errorf("the error quotes the URL: %v", err)
				}
				return
			}
			if got := Redact(u); got != tt.redacted {
				t.Errorf("Redact = %q, want %q", got, tt.redacted)
			}
		})
	}
}

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server on loopback that verifies every request
// with the Standard Webhooks project's own Go library, not with this
// package's code.
type receiver struct {
	t        testing.TB
	srv      *httptest.Server
	verifier *standardwebhooks.Webhook
	mu       sync.Mutex
	got      []received
	bad      []string
	answer   func(r *http.Request) int // status to answer; nil: 204
}

func newReceiver(t testing.TB, secret string) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, verifier: wh}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		if err := wh.Verify(body, r.Header); err != nil {
			rc.bad = append(rc.bad, err.Error())
		}
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		answer := rc.answer
		rc.mu.Unlock()
		status := http.StatusNoContent
		if answer != nil {
			status = answer(r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() ([]received, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...), append([]string(nil), rc.bad...)
}

// TestSendVerifiesWithReference: what the Sender POSTs verifies with the
// reference library, carries the event id and the attempt's time, and a
// 2xx is success.
func TestSendVerifiesWithReference(t *testing.T) {
	rc := newReceiver(t, testSecret)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	s, err := New(Config{URL: rc.srv.URL + "/in?x=1", Secret: testSecret, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{`{"type":"signin.failed","timestamp":"2026-03-01T09:00:00Z","data":{}}`, `{}`, `{"u":"\u2028 ü"}`}
	for i, b := range bodies {
		if err := s.SendWebhook(t.Context(), fmt.Sprintf("ev_%d", i), []byte(b)); err != nil {
			t.Fatalf("SendWebhook %d: %v", i, err)
		}
	}
	got, bad := rc.requests()
	if len(bad) > 0 {
		t.Fatalf("the reference verification refused: %v", bad)
	}
	if len(got) != len(bodies) {
		t.Fatalf("received %d requests, want %d", len(got), len(bodies))
	}
	for i, r := range got {
		for name, want := range map[string]string{
			"Webhook-Id": fmt.Sprintf("ev_%d", i), "Webhook-Timestamp": fmt.Sprint(at.Unix()),
			"Content-Type": "application/json", "User-Agent": "keyward-webhooks",
		} {
			if v := r.header.Get(name); v != want {
				t.Errorf("request %d: %s = %q, want %q", i, name, v, want)
			}
		}
		if string(r.body) != bodies[i] {
			t.Errorf("request %d: body %q, want %q", i, r.body, bodies[i])
		}
	}

	// The reference refuses what was not signed with the secret: the
	// receiver's check is a real one.
	other, err := New(Config{URL: rc.srv.URL, Secret: "whsec_" + strings.Repeat("A", 32), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SendWebhook(t.Context(), "ev_x", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, bad := rc.requests(); len(bad) != 1 {
		t.Errorf("a webhook signed with another secret: %d refusals, want 1", len(bad))
	}
}

// TestSendFailures: anything but 2xx is a failure whose text is safe to log
// (no secret, no credentials or query of the URL); redirects are not
// followed; a slow receiver costs at most the timeout; a huge answer is not
// read.
func TestSendFailures(t *testing.T) {
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer target.Close()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(500)
		case "/410":
			w.WriteHeader(410)
		case "/redirect":
			http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/huge":
			w.WriteHeader(200)
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 1 << 10 { // 64 MiB, if anyone read it
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	const pw, token = "s3cr3tpw", "t0k3nq"
	base := strings.Replace(srv.URL, "http://", "http://user:"+pw+"@", 1)
	tests := []struct {
		path    string
		want    string // in the error; "" for success
		maxTime time.Duration
	}{
		{"/500", "answered 500 Internal Server Error", time.Second},
		{"/410", "answered 410 Gone", time.Second},
		{"/redirect", "answered 307 Temporary Redirect (redirects are not followed", time.Second},
		{"/slow", "did not answer in time", 2 * time.Second},
		{"/huge", "", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			s, err := New(Config{URL: base + tt.path + "?token=" + token, Secret: testSecret, Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = s.SendWebhook(t.Context(), "ev_1", []byte(`{}`))
			took := time.Since(start)
			if took > tt.maxTime {
				t.Errorf("took %v, want at most %v", took, tt.maxTime)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("SendWebhook: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SendWebhook error = %v, want %q", err, tt.want)
			}
			for _, leak := range []string{pw, token, strings.TrimPrefix(testSecret, "whsec_"), srv.URL} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q: %v", leak, err)
				}
			}
		})
	}
	if n := redirected.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}

	t.Run("nobody listening", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		url := closed.URL
		closed.Close()
		s, err := New(Config{URL: url + "/in?token=" + token, Secret: testSecret, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = s.SendWebhook(t.Context(), "ev_1", []byte(`{}`))
		if err == nil || !strings.Contains(err.Error(), "no answer from the receiver") || strings.Contains(err.Error(), token) {
			t.Errorf("SendWebhook error = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		s, err := New(Config{URL: srv.URL + "/slow", Secret: testSecret, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		if err := s.SendWebhook(ctx, "ev_1", []byte(`{}`)); !errors.Is(err, context.Canceled) {
			t.Errorf("SendWebhook error = %v, want cancelled", err)
		}
	})
}

func TestInsecure(t *testing.T) {
	for url, want := range map[string]bool{
		"https://siem.example.com/": false, "http://siem.example.com/": true, "http://10.0.0.5/": true,
		"http://127.0.0.1:9000/": false, "http://[::1]/": false, "http://localhost/": false,
	} {
		s, err := New(Config{URL: url, Secret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Insecure(); got != want {
			t.Errorf("Insecure(%s) = %v, want %v", url, got, want)
		}
	}
}

// errorTexts are the texts of parse's errors for inputs: every message it
// has, when the inputs are chosen to meet each. A message outside them may
// be built from the input.
func errorTexts(parse func(string) error, inputs ...string) map[string]bool {
	texts := map[string]bool{}
	for _, in := range inputs {
		if err := parse(in); err != nil {
			texts[err.Error()] = true
		}
	}
	return texts
}

// FuzzParseSecret: any input parses or is refused without being quoted,
// and what parses signs as the reference library does.
func FuzzParseSecret(f *testing.F) {
	f.Add(testSecret)
	f.Add("whsec_")
	f.Add("whsec_" + strings.Repeat("A", 86) + "==")
	sizeError := regexp.MustCompile(`^the webhook secret holds [0-9]+ bytes; it needs 24 to 64 random bytes$`)
	known := errorTexts(func(s string) error { _, err := ParseSecret(s); return err }, "x", "whsec_!")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSecret(in)
		if err != nil {
			if !known[err.Error()] && !sizeError.MatchString(err.Error()) {
				t.Fatalf("an error that may quote the input: %v", err)
			}
			return
		}
		ref, err := standardwebhooks.NewWebhook(strings.TrimSpace(in))
		if err != nil {
			t.Fatalf("accepted %q, which the reference refuses: %v", in, err)
		}
		at := time.Unix(1614265330, 0)
		want, _ := ref.Sign("ev_1", at, []byte("{}"))
		if got := s.Sign("ev_1", at, []byte("{}")); got != want {
			t.Fatalf("Sign = %s, reference %s", got, want)
		}
	})
}

// FuzzParseURL: any input parses to an http(s) URL with a host, or is
// refused without being quoted.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://siem.example.com/in", "http://u:p@h:1/p?q#f", "https:x", "ftp://h/", "http://[::1]:0/"} {
		f.Add(s)
	}
	known := errorTexts(func(s string) error { _, err := ParseURL(s); return err }, "%", "ftp://h/", "https:h", "https://h:0/")
	f.Fuzz(func(t *testing.T, in string) {
		u, err := ParseURL(in)
		if err != nil {
			if !known[err.Error()] {
				t.Fatalf("an error that may quote the input: %v", err)
			}
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("accepted %q as %#v", in, u)
		}
		shown, _, _ := strings.Cut(Redact(u), " ")
		r, err := url.Parse(shown)
		if err != nil || r.User != nil || r.RawQuery != "" || r.Host != u.Host {
			t.Fatalf("Redact(%q) = %q, want the URL without user information and query", in, Redact(u))
		}
	})
}
