package web_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// Traefik is not packaged for Debian, so its side is held to what its
// ForwardAuth middleware sends (pkg/middlewares/auth/forward.go): a GET to
// the middleware's address, with the client's headers and X-Forwarded-For,
// -Method, -Proto, -Host and -Uri describing the request it received
// (trustForwardHeader false). The addresses and header lists are read from
// docs/integrate/traefik.yml and traefik-compose.yml.

// yamlValues flattens the block-style YAML that docs/integrate/ is written
// in (nested maps, "- " list items, # comments, no flow collections or
// multi-line strings) into "a.b.c" paths and their values, in order. It
// fails on anything else, so a file it cannot read is noticed.
func yamlValues(t testing.TB, name, text string) map[string][]string {
	t.Helper()
	type level struct {
		indent int
		key    string
	}
	var stack []level
	out := map[string][]string{}
	path := func() string {
		keys := make([]string, len(stack))
		for i, l := range stack {
			keys[i] = l.key
		}
		return strings.Join(keys, ".")
	}
	for n, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			line = ""
		}
		content := strings.TrimSpace(line)
		if content == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if strings.ContainsAny(line[:indent+1], "\t") || strings.ContainsAny(content[:1], "{[|>&*!") {
			t.Fatalf("%s:%d: not the block YAML this reader knows: %q", name, n+1, line)
		}
		if item, ok := strings.CutPrefix(content, "- "); ok {
			// A list may sit at its key's indentation.
			for len(stack) > 0 && stack[len(stack)-1].indent > indent {
				stack = stack[:len(stack)-1]
			}
			out[path()] = append(out[path()], unquoteYAML(item))
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		key, value, ok := strings.Cut(content, ":")
		if !ok || (value != "" && value[0] != ' ') {
			t.Fatalf("%s:%d: want key: value, got %q", name, n+1, line)
		}
		if value = strings.TrimSpace(value); value == "" {
			stack = append(stack, level{indent, key})
			continue
		}
		p := key
		if len(stack) > 0 {
			p = path() + "." + key
		}
		out[p] = append(out[p], unquoteYAML(value))
	}
	return out
}

func unquoteYAML(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// traefikMiddleware is one forwardAuth middleware of the documented files.
type traefikMiddleware struct {
	address             string
	trustForwardHeader  string
	authResponseHeaders []string
}

// traefikMiddlewares reads the forwardAuth middlewares of both files, by
// file and middleware name.
func traefikMiddlewares(t testing.TB) map[string]map[string]traefikMiddleware {
	t.Helper()
	out := map[string]map[string]traefikMiddleware{}
	file := yamlValues(t, "traefik.yml", docSnippet(t, "traefik.yml"))
	out["traefik.yml"] = map[string]traefikMiddleware{}
	for _, name := range []string{"keyward", "keyward-aal2"} {
		p := "http.middlewares." + name + ".forwardAuth."
		out["traefik.yml"][name] = traefikMiddleware{
			address:             strings.Join(file[p+"address"], ","),
			trustForwardHeader:  strings.Join(file[p+"trustForwardHeader"], ","),
			authResponseHeaders: file[p+"authResponseHeaders"],
		}
	}
	compose := yamlValues(t, "traefik-compose.yml", docSnippet(t, "traefik-compose.yml"))
	labels := map[string]string{}
	for _, l := range compose["services.keyward.labels"] {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	out["traefik-compose.yml"] = map[string]traefikMiddleware{}
	for _, name := range []string{"keyward", "keyward-aal2"} {
		p := "traefik.http.middlewares." + name + ".forwardauth."
		var headers []string
		if v := labels[p+"authResponseHeaders"]; v != "" {
			headers = strings.Split(v, ",")
		}
		out["traefik-compose.yml"][name] = traefikMiddleware{
			address:             labels[p+"address"],
			trustForwardHeader:  labels[p+"trustForwardHeader"],
			authResponseHeaders: headers,
		}
	}
	return out
}

// TestTraefikFilesMatchKeyward: each documented middleware asks /forward
// (the two-factor one with aal=2), does not trust the client's
// X-Forwarded-*, and copies exactly the identity headers keyward sends.
func TestTraefikFilesMatchKeyward(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	r := e.ask(t, "/api/v1/auth/check", "Authorization", "Bearer "+e.signUpIn(t, "ada@example.com"))
	var sent []string
	for k := range r.header {
		if strings.HasPrefix(k, "X-Keyward-") {
			sent = append(sent, k)
		}
	}
	slices.Sort(sent)
	if !slices.Equal(sent, identityHeaders) {
		t.Fatalf("keyward's check sends %q, the walks expect %q", sent, identityHeaders)
	}
	wantQuery := map[string]string{"keyward": "", "keyward-aal2": "aal=2"}
	for file, mws := range traefikMiddlewares(t) {
		for name, mw := range mws {
			u, err := url.Parse(mw.address)
			if err != nil || u.Path != "/api/v1/auth/forward" || u.RawQuery != wantQuery[name] {
				t.Errorf("%s: %s asks %q, want /api/v1/auth/forward?%s", file, name, mw.address, wantQuery[name])
			}
			if mw.trustForwardHeader != "false" {
				t.Errorf("%s: %s has trustForwardHeader %q, want false", file, name, mw.trustForwardHeader)
			}
			var copied []string
			for _, h := range mw.authResponseHeaders {
				copied = append(copied, http.CanonicalHeaderKey(strings.TrimSpace(h)))
			}
			slices.Sort(copied)
			if !slices.Equal(copied, identityHeaders) {
				t.Errorf("%s: %s copies %q, want keyward's %q", file, name, mw.authResponseHeaders, identityHeaders)
			}
		}
	}
}

// TestTraefikForwardAuthContract sends what Traefik's ForwardAuth sends,
// from a peer inside --trusted-proxies and from one outside, and follows
// every redirect to sign-in through to where signing in then leads: never
// off the allowed return origins.
func TestTraefikForwardAuthContract(t *testing.T) {
	public, _ := url.Parse("https://auth.example.com")
	base := web.Config{PublicURL: public, CookieDomain: "example.com", AllowedReturnOrigins: []string{"https://app.example.com"}}
	trusted, untrusted := base, base
	trusted.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	untrusted.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	envs := map[bool]*apiEnv{true: newAPI(t, keyward.DefaultConfig(), trusted), false: newAPI(t, keyward.DefaultConfig(), untrusted)}
	const cookie = "__Secure-keyward_session"

	// Sessions on each server: one-factor and two-factor.
	type sessions struct{ one, two, oneID, twoID string }
	sess := map[bool]sessions{}
	for k, e := range envs {
		one := e.signUpIn(t, "ada@example.com")
		other := e.signUpIn(t, "bob@example.com")
		two := e.twoFactorSession(t, other, "bob@example.com")
		id := func(tok string) string {
			return e.call(t, "GET", "/api/v1/sessions/current", tok, nil).json(t)["session"].(map[string]any)["id"].(string)
		}
		sess[k] = sessions{one, two, id(one), id(two)}
	}
	mws := traefikMiddlewares(t)["traefik.yml"]
	html := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

	tests := []struct {
		name       string
		trusted    bool
		middleware string
		session    string // "", "one", "two"
		header     []string
		status     int
		next       string // on 302: the next the Location carries ("self" for keyward's own URL)
		signedIn   string // on 302: where signing in with that next leads
		aal        string // on 200
	}{
		{"signed out page load", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports/2026?range=7d&q=a%2Fb%26c", "Accept", html},
			302, "https://app.example.com/reports/2026?range=7d&q=a%2Fb%26c", "https://app.example.com/reports/2026?range=7d&q=a%2Fb%26c", ""},
		{"default port", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com:443", "X-Forwarded-Uri", "/", "Accept", html},
			302, "https://app.example.com:443/", "https://app.example.com/", ""},
		{"signed out form post", true, "keyward", "",
			[]string{"X-Forwarded-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports", "Accept", html},
			401, "", "", ""},
		{"signed out fetch", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/api/data", "Accept", "application/json"},
			401, "", "", ""},
		{"signed in", true, "keyward", "one",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/", "Accept", html},
			200, "", "", "1"},
		{"signed in, a form post", true, "keyward", "one",
			[]string{"X-Forwarded-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports", "Accept", html},
			200, "", "", "1"},
		{"two-factor route, one-factor session", true, "keyward-aal2", "one",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/admin/", "Accept", html},
			401, "", "", ""},
		{"two-factor route, two-factor session", true, "keyward-aal2", "two",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/admin/", "Accept", html},
			200, "", "", "2"},
		{"two-factor route, signed out", true, "keyward-aal2", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/admin/?aal=1", "Accept", html},
			302, "https://app.example.com/admin/?aal=1", "https://app.example.com/admin/?aal=1", ""},

		// A trusted proxy may still pass on a Host the client chose.
		{"host outside the return origins", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "X-Forwarded-Uri", "/phish", "Accept", html},
			302, "https://evil.example/phish", "/settings/security", ""},
		{"look-alike host", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com.evil.example", "X-Forwarded-Uri", "/", "Accept", html},
			302, "https://app.example.com.evil.example/", "/settings/security", ""},
		{"plain http on the allowed host", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/", "Accept", html},
			302, "http://app.example.com/", "/settings/security", ""},
		// Values keyward does not believe even from a trusted proxy: the
		// request's own (http, keyward's address, /api/v1/auth/forward).
		{"host with userinfo", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example@app.example.com", "X-Forwarded-Uri", "/", "Accept", html},
			302, "https://self/", "/settings/security", ""},
		{"host with a path", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example/app.example.com", "X-Forwarded-Uri", "/", "Accept", html},
			302, "https://self/", "/settings/security", ""},
		{"host with a backslash", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", `evil.example\app.example.com`, "X-Forwarded-Uri", "/", "Accept", html},
			302, "https://self/", "/settings/security", ""},
		{"scheme not http(s)", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/", "Accept", html},
			302, "http://app.example.com/", "/settings/security", ""},
		{"scheme-relative uri", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "//evil.example/x", "Accept", html},
			302, "https://app.example.com/api/v1/auth/forward", "https://app.example.com/api/v1/auth/forward", ""},
		{"uri without a slash", true, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "@evil.example/x", "Accept", html},
			302, "https://app.example.com/api/v1/auth/forward", "https://app.example.com/api/v1/auth/forward", ""},

		// From a peer outside --trusted-proxies, X-Forwarded-* count for nothing.
		{"untrusted peer", false, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports", "Accept", html},
			302, "http://self/api/v1/auth/forward", "/settings/security", ""},
		{"untrusted peer, forged host", false, "keyward", "",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "X-Forwarded-Uri", "/phish", "Accept", html},
			302, "http://self/api/v1/auth/forward", "/settings/security", ""},
		{"untrusted peer, forged method", false, "keyward", "",
			[]string{"X-Forwarded-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/reports", "Accept", html},
			302, "http://self/api/v1/auth/forward", "/settings/security", ""},
		{"untrusted peer, signed in", false, "keyward", "one",
			[]string{"X-Forwarded-Method", "GET", "X-Forwarded-Host", "evil.example", "Accept", html},
			200, "", "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := envs[tt.trusted]
			address, _ := url.Parse(mws[tt.middleware].address)
			self := strings.TrimPrefix(e.srv.URL, "http://")
			header := append([]string{"X-Forwarded-For", "203.0.113.7"}, tt.header...)
			switch tt.session {
			case "one":
				header = append(header, "Cookie", cookie+"="+sess[tt.trusted].one)
			case "two":
				header = append(header, "Cookie", cookie+"="+sess[tt.trusted].two)
			}
			r := e.ask(t, address.RequestURI(), header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			switch r.status {
			case 200:
				s := sess[tt.trusted]
				wantID, wantEmail := s.oneID, "ada@example.com"
				if tt.session == "two" {
					wantID, wantEmail = s.twoID, "bob@example.com"
				}
				if r.header.Get("X-Keyward-Session-Id") != wantID || r.header.Get("X-Keyward-Email") != wantEmail || r.header.Get("X-Keyward-Aal") != tt.aal {
					t.Errorf("identity = %q %q aal %q, want %q %q aal %q", r.header.Get("X-Keyward-Session-Id"),
						r.header.Get("X-Keyward-Email"), r.header.Get("X-Keyward-Aal"), wantID, wantEmail, tt.aal)
				}
			case 302:
				wantNext := strings.Replace(tt.next, "//self", "//"+self, 1)
				want := "https://auth.example.com/signin?next=" + url.QueryEscape(wantNext)
				loc := r.header.Get("Location")
				if loc != want {
					t.Fatalf("Location = %q, want %q", loc, want)
				}
				// Sign in as a browser would, from that page, with that next.
				next := mustParse(t, loc).Query().Get("next")
				res := e.form(t, "/signin", url.Values{"email": {"ada@example.com"}, "password": {apiPassword}, "next": {next}})
				if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != tt.signedIn {
					t.Errorf("signing in with next %q: %d to %q, want 303 to %q", next, res.StatusCode, got, tt.signedIn)
				}
			default:
				if r.header.Get("Location") != "" || r.header.Get("X-Keyward-Account-Id") != "" {
					t.Errorf("a refusal carried Location %q / identity %q", r.header.Get("Location"), r.header.Get("X-Keyward-Account-Id"))
				}
			}
		})
	}
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
