package server_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

// scrape GETs /metrics over HTTP, as Prometheus does, and parses it.
func scrape(t testing.TB, metricsURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %s, want 200", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return families
}

// sample is the value of the series of name whose labels are exactly
// labels (name=value pairs); -1 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if !sameLabels(m.Label, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func sameLabels(got []*dto.LabelPair, want []string) bool {
	if len(got)*2 != len(want) {
		return false
	}
	for i, l := range got {
		found := false
		for j := 0; j < len(want); j += 2 {
			if want[j] == l.GetName() && want[j+1] == l.GetValue() {
				found = true
			}
		}
		if !found {
			_ = i
			return false
		}
	}
	return true
}

// openWithMetrics serves a fresh keyward and its metrics on loopback.
func openWithMetrics(t *testing.T, cfg web.Config) (kw *server.Server, app, metrics *httptest.Server) {
	t.Helper()
	var err error
	kw, err = server.Open(t.Context(), server.Config{DataDir: t.TempDir(), PasswordHashing: cheap, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kw.Close() })
	app = httptest.NewServer(kw)
	t.Cleanup(app.Close)
	metrics = httptest.NewServer(kw.MetricsHandler())
	t.Cleanup(metrics.Close)
	return kw, app, metrics
}

func do(t testing.TB, method, u, body, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsCountKnownRequests makes requests whose outcome is known and
// reads the counts back from a scrape over HTTP.
func TestMetricsCountKnownRequests(t *testing.T) {
	_, app, metrics := openWithMetrics(t, web.Config{})
	const email, pw = "metrics@example.com", "correct horse battery staple"
	if got := do(t, "POST", app.URL+"/api/v1/accounts", `{"email":"`+email+`","password":"`+pw+`"}`, ""); got != http.StatusCreated {
		t.Fatalf("sign-up = %d, want 201", got)
	}
	for range 2 {
		if got := do(t, "POST", app.URL+"/api/v1/sessions", `{"email":"`+email+`","password":"wrong password here"}`, ""); got != http.StatusUnauthorized {
			t.Fatalf("wrong password = %d, want 401", got)
		}
	}
	token := apiSignIn(t, app.URL, email, pw)
	for range 3 {
		if got := do(t, "GET", app.URL+"/api/v1/sessions/current", "", token); got != http.StatusOK {
			t.Fatalf("session check = %d, want 200", got)
		}
	}
	if got := do(t, "GET", app.URL+"/api/v1/sessions/current", "", "kws_not-a-token"); got != http.StatusUnauthorized {
		t.Fatalf("session check with a made-up token = %d, want 401", got)
	}
	if got := do(t, "DELETE", app.URL+"/api/v1/sessions/ses_does-not-exist-"+email, "", token); got != http.StatusNotFound {
		t.Fatalf("revoking an unknown session = %d, want 404", got)
	}

	m := scrape(t, metrics.URL)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keyward_signins_total", []string{"outcome", "success"}, 1},
		{"keyward_signins_total", []string{"outcome", "invalid_credentials"}, 2},
		{"keyward_signins_total", []string{"outcome", "throttled"}, 0},
		{"keyward_session_checks_total", []string{"result", "valid"}, 3},
		{"keyward_session_checks_total", []string{"result", "unauthorized"}, 1},
		{"keyward_throttled_total", []string{"rule", "signin_pair"}, 0},
		{"keyward_webhook_deliveries_total", []string{"result", "delivered"}, 0},
		{"keyward_password_hashes_in_flight", nil, 0},
		{"keyward_mail_outbox_pending", nil, 0},
		{"keyward_http_request_duration_seconds", []string{"route", "/api/v1/sessions/current", "method", "GET", "status", "2xx"}, 3},
		{"keyward_http_request_duration_seconds", []string{"route", "/api/v1/sessions/current", "method", "GET", "status", "4xx"}, 1},
		{"keyward_http_request_duration_seconds", []string{"route", "/api/v1/sessions", "method", "POST", "status", "4xx"}, 2},
		{"keyward_http_request_duration_seconds", []string{"route", "/api/v1/sessions", "method", "POST", "status", "2xx"}, 1},
		{"keyward_http_request_duration_seconds", []string{"route", "/api/v1/sessions/{id}", "method", "DELETE", "status", "4xx"}, 1},
	}
	for _, tt := range tests {
		if got := sample(m, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_gc_duration_seconds", "process_cpu_seconds_total"} {
		if m[name] == nil {
			t.Errorf("the scrape has no %s: Go's runtime and process collectors are missing", name)
		}
	}
	if f := m["keyward_http_request_duration_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("keyward_http_request_duration_seconds is not a histogram: %v", f)
	}
}

// TestMetricsLabelsAreBounded throws random paths, methods and a base path
// at keyward: every label value of keyward's series must come from the
// route table or a fixed list, never from the request.
func TestMetricsLabelsAreBounded(t *testing.T) {
	kw, app, metrics := openWithMetrics(t, web.Config{BasePath: "/auth"})
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.@%"
	word := func() string {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	methods := []string{"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "BREW", "HEAD"}
	prefixes := []string{"/auth/api/v1/sessions/", "/auth/api/v1/", "/auth/", "/", "/auth/settings/security/sessions/", "/auth/static/", "/elsewhere/"}
	for range 300 {
		p := prefixes[rng.IntN(len(prefixes))] + url.PathEscape(word())
		if rng.IntN(3) == 0 {
			p += "/" + url.PathEscape(word()+"@example.com")
		}
		do(t, methods[rng.IntN(len(methods))], app.URL+p, "", "")
	}
	routes := map[string]bool{"unmatched": true}
	for _, pattern := range kw.RoutePatterns() {
		_, path, found := strings.Cut(pattern, " ")
		if !found {
			path = pattern
		}
		routes[path] = true
	}
	allowed := map[string]func(string) bool{
		"route":   func(v string) bool { return routes[v] },
		"method":  func(v string) bool { return strings.Contains("GET POST PUT DELETE ANY", v) && v != "" },
		"status":  func(v string) bool { return len(v) == 3 && strings.HasSuffix(v, "xx") },
		"outcome": fixed("success", "second_factor_required", "invalid_credentials", "invalid_code", "throttled", "error", "invalid_passkey"),
		"result":  fixed("valid", "redirect", "unauthorized", "other", "delivered", "failed", "abandoned"),
		"rule": fixed("signin_pair", "signin_email", "signin_address", "signup_address", "second_factor", "reauth",
			"device", "concurrent_checks", "password_advice", "other", "passkey"),
	}
	series := 0
	for name, f := range scrape(t, metrics.URL) {
		if !strings.HasPrefix(name, "keyward_") {
			continue
		}
		for _, m := range f.Metric {
			series++
			for _, l := range m.Label {
				ok := allowed[l.GetName()]
				if ok == nil || !ok(l.GetValue()) {
					t.Errorf("%s has the label %s=%q, which is not of a bounded set", name, l.GetName(), l.GetValue())
				}
				if strings.Contains(l.GetValue(), "/auth") {
					t.Errorf("%s: the base path leaks into the label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	// Every route pattern times five status classes, and the counters.
	if limit := len(routes)*5 + 40; series > limit {
		t.Errorf("%d keyward series after 300 random requests, want at most %d", series, limit)
	}
}

// apiSignIn signs in through the API and returns the session token.
func apiSignIn(t testing.TB, base, email, pw string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/sessions", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		t.Fatalf("sign-in = %s, %v: no token", resp.Status, err)
	}
	return body.Token
}

func fixed(values ...string) func(string) bool {
	return func(v string) bool {
		for _, w := range values {
			if v == w {
				return true
			}
		}
		return false
	}
}

// TestMetricsCountRequireSession: an application's route behind
// RequireSession counts its checks with the session checks.
func TestMetricsCountRequireSession(t *testing.T) {
	kw, app, metrics := openWithMetrics(t, web.Config{})
	const email, pw = "app@example.com", "correct horse battery staple"
	if got := do(t, "POST", app.URL+"/api/v1/accounts", `{"email":"`+email+`","password":"`+pw+`"}`, ""); got != http.StatusCreated {
		t.Fatalf("sign-up = %d, want 201", got)
	}
	token := apiSignIn(t, app.URL, email, pw)
	protected := httptest.NewServer(kw.RequireSession(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer protected.Close()
	for _, tok := range []string{token, token, "kws_made-up", ""} {
		do(t, "GET", protected.URL+"/app/dashboard", "", tok)
	}
	m := scrape(t, metrics.URL)
	for _, tt := range []struct {
		result string
		want   float64
	}{{"valid", 2}, {"unauthorized", 2}} {
		if got := sample(m, "keyward_session_checks_total", "result", tt.result); got != tt.want {
			t.Errorf("keyward_session_checks_total{result=%q} = %v, want %v", tt.result, got, tt.want)
		}
	}
}
