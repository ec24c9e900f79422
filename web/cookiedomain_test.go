package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseCookieDomain(t *testing.T) {
	https, _ := url.Parse("https://id.example.com")
	apex, _ := url.Parse("https://example.com:8443")
	ip, _ := url.Parse("https://192.0.2.1")
	tests := []struct {
		name, in string
		public   *url.URL
		want     string
		wantErr  string
	}{
		{"empty", "", nil, "", ""},
		{"parent", "example.com", https, "example.com", ""},
		{"leading dot and case", ".Example.COM", https, "example.com", ""},
		{"the host itself", "id.example.com", https, "id.example.com", ""},
		{"apex host", "example.com", apex, "example.com", ""},
		{"no public url", "example.com", nil, "", "needs --public-url"},
		{"sibling", "other.example.com", https, "", "does not cover"},
		{"suffix but not a parent", "ample.com", https, "", "does not cover"},
		{"child of the host", "a.id.example.com", https, "", "does not cover"},
		{"single label", "com", https, "", "single label"},
		{"single label with a dot", ".com", https, "", "single label"},
		{"IP address", "192.0.2.1", ip, "", "IP address"},
		{"IPv6 address", "[::1]", https, "", "IP address"},
		{"trailing dot", "example.com.", https, "", "not a domain name"},
		{"empty label", "example..com", https, "", "not a domain name"},
		{"port", "example.com:443", https, "", "not a domain name"},
		{"path", "example.com/", https, "", "not a domain name"},
		{"non-ASCII", "exämple.com", https, "", "not a domain name"},
		{"space", "example .com", https, "", "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCookieDomain(tt.in, tt.public)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCookieDomain(%q) = %q, %v, want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCookieDomain(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// Only the session cookie carries the Domain, when set, and so does the
// Set-Cookie that clears it (a browser keeps a cookie cleared without it).
// The second-step and device cookies are read by keyward's own pages alone:
// shared, they would reach the application and every sibling subdomain, the
// device cookie (a throttle exemption that outlives sessions) even from
// browsers that are signed out.
func TestCookieDomainAttributes(t *testing.T) {
	u, _ := url.Parse("https://id.example.com")
	s, err := New(nil, Config{PublicURL: u, CookieDomain: "example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cookie, domain string }{
		{"session", s.cookie.session, "example.com"},
		{"mfa step", s.cookie.mfa, ""},
		{"device", s.cookie.device, ""},
		{"flash", s.cookie.flash, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, clear := range []bool{false, true} {
				w := httptest.NewRecorder()
				if clear {
					s.clearCookie(w, tt.cookie)
				} else {
					s.setCookie(w, tt.cookie, "v", time.Time{})
				}
				cs := (&http.Response{Header: w.Header()}).Cookies()
				if len(cs) != 1 || cs[0].Domain != tt.domain || !cs[0].Secure || cs[0].Path != "/" {
					t.Fatalf("clear=%v: Set-Cookie %q, want Domain=%q, Secure, Path=/", clear, w.Header().Values("Set-Cookie"), tt.domain)
				}
				wantPrefix := "__Secure-"
				if tt.domain == "" {
					wantPrefix = "__Host-"
				}
				if !strings.HasPrefix(cs[0].Name, wantPrefix) {
					t.Fatalf("cookie name %q, want prefix %q", cs[0].Name, wantPrefix)
				}
			}
		})
	}
}
