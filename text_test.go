package keyward

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "Mozilla/5.0", 512, "Mozilla/5.0"},
		{"NUL and CRLF removed", "a\x00b\r\nc\td", 512, "abcd"},
		{"invalid UTF-8 replaced", "a\xffb", 512, "a\uFFFDb"},
		{"cut on a character boundary", "ééé", 5, "éé"},
		{"emoji kept whole", "ab🐎", 5, "ab"},
		{"empty", "", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in, tt.max); got != tt.want {
				t.Fatalf("cleanText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func FuzzCleanText(f *testing.F) {
	f.Add("Mozilla/5.0 (X11)", 512)
	f.Add("\xff\x00\r\n", 3)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 4096 {
			return
		}
		got := cleanText(s, max)
		if !utf8.ValidString(got) || len(got) > max || strings.ContainsAny(got, "\x00\r\n") {
			t.Fatalf("cleanText(%q, %d) = %q", s, max, got)
		}
	})
}
