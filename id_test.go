package keyward

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

func TestValidID(t *testing.T) {
	s := &Service{now: time.Now, rand: rand.Reader}
	made := s.newID(sessionIDPrefix)
	tests := []struct {
		name, id string
		want     bool
	}{
		{"made by newID", made, true},
		{"all zero", "sess_" + strings.Repeat("0", idLen), true},
		{"largest", "sess_" + strings.Repeat("z", idLen-1) + "w", true},
		{"last character carries unused bits", "sess_" + strings.Repeat("0", idLen-1) + "1", false},
		{"other kind", "acct_" + made[len("sess_"):], false},
		{"no prefix", made[len("sess_"):], false},
		{"one short", made[:len(made)-1], false},
		{"one long", made + "0", false},
		{"upper case", strings.ToUpper(made[:5]) + made[5:], false},
		{"letter not in the alphabet", "sess_" + strings.Repeat("i", idLen), false},
		{"NUL", "sess_" + strings.Repeat("0", idLen-1) + "\x00", false},
		{"invalid UTF-8", "sess_" + strings.Repeat("0", idLen-1) + "\xff", false},
		{"percent-encoded", "sess_%00", false},
		{"empty", "", false},
		{"long", "sess_" + strings.Repeat("0", 10000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validID(sessionIDPrefix, tt.id); got != tt.want {
				t.Fatalf("validID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
	for range 1000 {
		if id := s.newID(sessionIDPrefix); !validID(sessionIDPrefix, id) {
			t.Fatalf("newID made %q, which validID refuses", id)
		}
	}
}

// FuzzValidID: validID accepts exactly the ids that decode to 16 bytes and
// encode back to themselves (the canonical form newID makes).
func FuzzValidID(f *testing.F) {
	for _, seed := range []string{
		"sess_" + strings.Repeat("0", idLen),
		"sess_" + strings.Repeat("z", idLen),
		"sess_" + strings.Repeat("0", idLen-1) + "\n",
		"sess_" + strings.Repeat("0", idLen-2) + "\r\n0",
		"sess_\x00", "sess_\xff", "acct_" + strings.Repeat("0", idLen), "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := validID(sessionIDPrefix, id)
		rest, hasPrefix := strings.CutPrefix(id, sessionIDPrefix)
		b, err := idEncoding.DecodeString(rest)
		want := hasPrefix && err == nil && len(b) == 16 && idEncoding.EncodeToString(b) == rest
		if got != want {
			t.Fatalf("validID(%q) = %v, want %v (decoded %x, %v)", id, got, want, b, err)
		}
		if got && (bytes.IndexByte([]byte(id), 0) >= 0 || len(id) != len(sessionIDPrefix)+idLen) {
			t.Fatalf("validID accepted %q", id)
		}
	})
}
