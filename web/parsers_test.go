package web

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	keyward "github.com/keyward/keyward"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"untrusted peer: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, proxies, "203.0.113.5"},
		{"trusted proxy", "10.0.0.2:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"client-chosen hop before the real one", "10.0.0.2:4000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.2:4000", []string{"198.51.100.1, 10.0.0.7, 10.0.0.9"}, proxies, "198.51.100.1"},
		{"several headers", "10.0.0.2:4000", []string{"1.2.3.4", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"garbled hop stops the walk", "10.0.0.2:4000", []string{"198.51.100.1, not-an-ip"}, proxies, "10.0.0.2"},
		{"only proxies", "10.0.0.2:4000", []string{"10.0.0.3"}, proxies, "10.0.0.3"},
		{"ipv6 proxy and client", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::7"}, proxies, "2001:db8:1::7"},
		{"mapped address", "[::ffff:203.0.113.5]:80", nil, nil, "203.0.113.5"},
		{"no header from a proxy", "10.0.0.2:4000", nil, proxies, "10.0.0.2"},
		{"unparsable remote", "pipe", nil, proxies, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1", "198.51.100.1, 10.0.0.3")
	f.Add("[::1]:1", ",,, ,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := clientIP(r, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		if got != "" {
			if _, err := netip.ParseAddr(got); err != nil {
				t.Fatalf("clientIP(%q, %q) = %q, not an address", remote, xff, got)
			}
		}
	})
}

func FuzzDecodeFlash(f *testing.F) {
	f.Add("ok.SGVsbG8")
	f.Add("warning.")
	f.Add("nope.SGVsbG8")
	f.Fuzz(func(t *testing.T, v string) {
		text, kind, ok := decodeFlash(v)
		if !ok {
			return
		}
		if kind != flashOK && kind != flashWarning && kind != flashError || !utf8.ValidString(text) || text == "" {
			t.Fatalf("decodeFlash(%q) = %q, %q", v, text, kind)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"email":"a@b.c","password":"x"}`, "application/json")
	f.Add(`{"email":1}`, "application/json; charset=utf-8")
	f.Add(`{}{}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		r := httptest.NewRequest("POST", "/api/v1/sessions", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		var in credentials
		err := in.read(r)
		if err == nil {
			if in.Email == nil || in.Password == nil {
				t.Fatalf("accepted %q without both fields", body)
			}
			return
		}
		// Every refusal is a client error with a code from the table.
		if st := status(err); st < 400 || st >= 500 {
			t.Fatalf("decoding %q (%s) answered %d: %v", body, ctype, st, err)
		}
	})
}

func FuzzParseEventQuery(f *testing.F) {
	f.Add("limit=10&type=signin.failed&since=2026-01-01&until=2026-02-01T00:00:00Z")
	f.Add("limit=-1&cursor=%00")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if _, err := parseEventQuery(v); err != nil && !keyward.IsCode(err, keyward.CodeInvalidRequest) {
			t.Fatalf("parseEventQuery(%q): %v", raw, err)
		}
	})
}
