package web

import (
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
			if got := safeNext(tt.in); got != tt.want {
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
		out := safeNext(in)
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
