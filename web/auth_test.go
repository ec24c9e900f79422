package web

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/settings/security"},
		{"/settings/security/sessions", "/settings/security/sessions"},
		{"/settings/security/audit?type=signin.failed&since=2026-01-01", "/settings/security/audit?type=signin.failed&since=2026-01-01"},
		{"//evil.example", "/settings/security"},
		{"/\\evil.example", "/settings/security"},
		{"https://evil.example/", "/settings/security"},
		{"javascript:alert(1)", "/settings/security"},
		{"evil.example", "/settings/security"},
		{"/%2Fevil.example/{", "/settings/security"},
		{"/%2F%2Fevil.example", "/settings/security"},
		{"/%5Cevil.example", "/settings/security"},
		{"/a\tb", "/settings/security"},
		{"///evil.example", "/settings/security"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			// Allowed origins change nothing for local paths and strangers.
			for _, allowed := range []map[string]bool{nil, testReturnOrigins} {
				if got := safeNext(tt.in, allowed); got != tt.want {
					t.Fatalf("safeNext(%q, %v) = %q, want %q", tt.in, allowed, got, tt.want)
				}
			}
		})
	}
}

var testReturnOrigins = map[string]bool{"https://app.example.com": true, "http://localhost:3000": true}

func TestSafeNextAbsolute(t *testing.T) {
	const home = "/settings/security"
	tests := []struct{ name, in, want string }{
		{"allowed origin", "https://app.example.com/dashboard?x=1", "https://app.example.com/dashboard?x=1"},
		{"allowed origin, no path", "https://app.example.com", "https://app.example.com/"},
		{"fragment kept", "https://app.example.com/a#b", "https://app.example.com/a#b"},
		{"loopback dev origin", "http://localhost:3000/x", "http://localhost:3000/x"},
		{"mixed case scheme and host", "HTTPS://App.Example.COM/x", "https://app.example.com/x"},
		{"explicit default port", "https://app.example.com:443/x", "https://app.example.com/x"},
		{"other port", "https://app.example.com:8443/x", home},
		{"leading zero port", "https://app.example.com:0443/x", home},
		{"empty port", "https://app.example.com:/x", home},
		{"http for an https origin", "http://app.example.com/x", home},
		{"suffix host", "https://app.example.com.evil.net/", home},
		{"prefix host", "https://evilapp.example.com/", home},
		{"parent domain", "https://example.com/", home},
		{"trailing dot", "https://app.example.com./x", home},
		{"userinfo then evil host", "https://app.example.com@evil.net/", home},
		{"userinfo then allowed host", "https://evil.net@app.example.com/", home},
		{"empty userinfo", "https://@app.example.com/", home},
		{"backslash after host", "https://app.example.com\\@evil.net/", home},
		{"backslash scheme slashes", "https:\\\\app.example.com/", home},
		{"backslash in path", "https://app.example.com/\\evil.net", home},
		{"encoded slashes", "https:%2F%2Fapp.example.com/", home},
		{"encoded dot in host", "https://app%2Eexample.com/", home},
		{"encoded backslash", "https://app.example.com%5C@evil.net/", home},
		{"encoded at", "https://evil.net%40app.example.com/", home},
		{"scheme-relative", "//app.example.com/x", home},
		{"no slashes", "https:app.example.com/x", home},
		{"javascript", "javascript://app.example.com/%0aalert(1)", home},
		{"IDN lookalike", "https://аpp.example.com/", home},
		{"punycode of a lookalike", "https://xn--pp-8cd.example.com/", home},
		{"Kelvin sign folds to k", "https://app.example.\u212aom/", home},
		{"leading space", " https://app.example.com/", home},
		{"tab in scheme", "ht\ttps://app.example.com/", home},
		{"newline in host", "https://app.exa\nmple.com/", home},
		{"NUL", "https://app.example.com\x00.evil.net/", home},
		{"IPv6 literal", "https://[::1]/", home},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeNext(tt.in, testReturnOrigins); got != tt.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/%2Fx/{", "/\\x", "https://x", "/a?b=c#d", "/%5C%5Cx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in, nil)
		// What a browser follows must stay on this origin.
		u, err := url.Parse(out)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(out, "/") ||
			strings.HasPrefix(out, "//") || strings.Contains(out, "\\") {
			t.Fatalf("safeNext(%q) = %q leaves the site", in, out)
		}
		ref, _ := url.Parse("https://id.example.com/signin")
		if got := ref.ResolveReference(u); got.Host != "id.example.com" {
			t.Fatalf("safeNext(%q) = %q resolves to host %q", in, out, got.Host)
		}
	})
}

func FuzzSafeNextAbsolute(f *testing.F) {
	for _, s := range []string{"/", "//x", "https://app.example.com/x", "https://app.example.com@evil.net/",
		"https://evil.net@app.example.com/", "HTTPS://APP.EXAMPLE.COM:443/a#b", "https:\\\\app.example.com",
		"http://localhost:3000", "https://app.example.com.evil.net", "https://app%2Eexample.com/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in, testReturnOrigins)
		if localPath(out) {
			u, err := url.Parse(out)
			ref, _ := url.Parse("https://id.example.com/signin")
			if err != nil || ref.ResolveReference(u).Host != "id.example.com" {
				t.Fatalf("safeNext(%q) = %q leaves the site", in, out)
			}
			return
		}
		// Otherwise it must be an allowed origin, as a browser reads it.
		u, err := url.Parse(out)
		if err != nil || u.User != nil || !plainASCII(out) || strings.Contains(out, "\\") ||
			!testReturnOrigins[u.Scheme+"://"+u.Host] || !strings.HasPrefix(out, u.Scheme+"://"+u.Host+"/") {
			t.Fatalf("safeNext(%q) = %q is neither a local path nor on an allowed origin", in, out)
		}
	})
}

func TestParseReturnOrigins(t *testing.T) {
	https, _ := url.Parse("https://id.example.com")
	plain, _ := url.Parse("http://id.example.test")
	tests := []struct {
		name, in string
		public   *url.URL
		want     string // joined with ","
		wantErr  string
	}{
		{"empty", "", https, "", ""},
		{"canonical form", " HTTPS://App.Example.com:443 , https://b.example.com:8443", https, "https://app.example.com,https://b.example.com:8443", ""},
		{"loopback http", "http://localhost:3000,http://127.0.0.1:8080,http://[::1]:9", https, "http://localhost:3000,http://127.0.0.1:8080,http://[::1]:9", ""},
		{"http on an http keyward", "http://app.example.test", plain, "http://app.example.test", ""},
		{"http on an https keyward", "http://app.example.com", https, "", "loopback"},
		{"path", "https://app.example.com/", https, "", "no path"},
		{"query", "https://app.example.com?x", https, "", "no query"},
		{"fragment", "https://app.example.com#x", https, "", "no fragment"},
		{"userinfo", "https://u@app.example.com", https, "", "userinfo"},
		{"no scheme", "app.example.com", https, "", "http or https"},
		{"other scheme", "ftp://app.example.com", https, "", "http or https"},
		{"trailing dot", "https://app.example.com.", https, "", "bad host"},
		{"IDN not in punycode", "https://bücher.example", https, "", "punycode"},
		{"bad port", "https://app.example.com:99999", https, "", "bad port"},
		{"encoded", "https://app%2Eexample.com", https, "", "punycode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReturnOrigins(tt.in, tt.public)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseReturnOrigins(%q) error = %v, want one with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Fatalf("ParseReturnOrigins(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// The original URL /forward builds from a trusted proxy's X-Forwarded-*
// (or the request's own Host) is always an absolute http(s) URL on the host
// that was believed, with no userinfo and a path of its own: what a header
// says can never move it to another host.
func FuzzOriginalRequest(f *testing.F) {
	for _, s := range [][3]string{{"https", "app.example.com", "/x?y=1"}, {"http", "app.example.com:8443", "//evil.net/"},
		{"https", "app.example.com@evil.net", "/x"}, {"javascript", "a\\b", "/\\evil.net"}, {"https", "[::1]:80", "/%2F%2Fevil.net"},
		{"HTTPS", "app.example.com:", "/a#@evil.net"}, {"https", "evil.net#", "/x"}, {"https", "a b", "/\r\nx: y"}} {
		f.Add(s[0], s[1], s[2], true)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f.Fuzz(func(t *testing.T, proto, host, uri string, fromProxy bool) {
		s := &Server{cfg: Config{TrustedProxies: trusted}}
		r := httptest.NewRequest("GET", "http://keyward.internal/api/v1/auth/forward", nil)
		if !fromProxy {
			r.RemoteAddr = "192.0.2.1:1234"
		} else {
			r.RemoteAddr = "127.0.0.1:1234"
		}
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		r.Header.Set("X-Forwarded-Uri", uri)
		_, original := s.originalRequest(r)
		want := "keyward.internal"
		if fromProxy && validHost(host) {
			want = host
		}
		if !strings.HasPrefix(original, "http://"+want+"/") && !strings.HasPrefix(original, "https://"+want+"/") {
			t.Fatalf("original %q (proto %q, host %q, uri %q): not http(s)://%s/…", original, proto, host, uri, want)
		}
		// A URI such as "/%" makes a URL Go cannot parse; sign-in then
		// refuses it as next. One that parses must read as the same host.
		if u, err := url.Parse(original); err == nil && (u.Host != want || u.User != nil || u.Opaque != "") {
			t.Fatalf("original %q (host header %q) parses to host %q, userinfo %v", original, host, u.Host, u.User)
		}
		if !headerSafe(original) {
			t.Fatalf("original %q carries a control character", original)
		}
	})
}
