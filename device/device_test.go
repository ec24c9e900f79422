package device

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want Device
	}{
		{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Device{"Chrome", "Windows", "desktop"}},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			Device{"Safari", "iOS", "mobile"}},
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
			Device{"Firefox", "Linux", "desktop"}},
		{"curl", "curl/8.5.0", Device{"curl", "Unknown OS", "unknown"}},
		{"empty", "", Device{"Unknown browser", "Unknown OS", "unknown"}},
		{"unknown agent, named after itself", strings.Repeat("<", 512), Device{strings.Repeat("<", 64), "Unknown OS", "unknown"}},
		{"long name cut between characters", strings.Repeat("é", 100), Device{strings.Repeat("é", 32), "Unknown OS", "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.ua)
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.ua, got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0")
	f.Add("")
	f.Fuzz(func(t *testing.T, ua string) {
		d := Parse(ua)
		if d.Browser == "" || d.OS == "" || d.Type == "" {
			t.Fatalf("Parse(%q) left a field empty: %+v", ua, d)
		}
		if len(d.Browser) > maxNameLength || len(d.OS) > maxNameLength ||
			utf8.ValidString(ua) && !(utf8.ValidString(d.Browser) && utf8.ValidString(d.OS)) {
			t.Fatalf("Parse(%q) = %+v: a name too long, or cut inside a character", ua, d)
		}
	})
}

func TestKnown(t *testing.T) {
	for _, tc := range []struct {
		name, ua, want string
		ok             bool
	}{
		{"chrome on windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36", "Chrome on Windows", true},
		{"a stranger's words", "Account suspended - call +1 555 0100 now", "Unknown browser on Unknown OS", false},
		{"words after a known system", "Call 555 now (Linux)", "Unknown browser on Linux", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := Parse(tc.ua).Known()
			if d.String() != tc.want || ok != tc.ok {
				t.Errorf("Known() = %q, %v; want %q, %v", d.String(), ok, tc.want, tc.ok)
			}
		})
	}
}
