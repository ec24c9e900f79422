package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/device"
)

func TestCheckAnswers(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	base := currentSessionJSON{
		Account: accountJSON{ID: "acc_1", Email: "ada@example.com", CreatedAt: at},
		Session: sessionJSON{ID: "ses_1", Current: true, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour),
			IP: "203.0.113.5", UserAgent: "curl/8", Device: device.Device{Browser: "curl", OS: "Unknown", Type: "bot"}, AAL: 1},
	}
	tests := []struct {
		name   string
		change func(*currentSessionJSON)
	}{
		{"session seen later", func(v *currentSessionJSON) { v.Session.LastSeenAt = at.Add(time.Minute) }},
		{"second factor enabled", func(v *currentSessionJSON) { v.Account.TwoFactorEnabled = true; v.Session.AAL = 2 }},
		{"email changed", func(v *currentSessionJSON) { v.Account.Email = "ada@example.org" }},
		{"another address", func(v *currentSessionJSON) { v.Session.IP = "198.51.100.7" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCheckAnswers(10, 1<<20)
			first := c.body(base)
			wantEncoded(t, first, base)
			if again := c.body(base); &again[0] != &first[0] {
				t.Error("an identical view was encoded again instead of reusing its answer")
			}
			changed := base
			tt.change(&changed)
			wantEncoded(t, c.body(changed), changed)
			wantEncoded(t, c.body(base), base) // and back: never the other view's answer
		})
	}
}

func wantEncoded(t *testing.T, got []byte, view currentSessionJSON) {
	t.Helper()
	want, _ := json.Marshal(view)
	if string(got) != string(want)+"\n" {
		t.Fatalf("answer\n%s\nwant\n%s", got, want)
	}
}

func TestCheckAnswersBounded(t *testing.T) {
	tests := []struct {
		name          string
		max, maxBytes int
		userAgent     string
	}{
		{"by count", 3, 1 << 20, "curl/8"},
		{"by bytes", 1000, 16 << 10, strings.Repeat("<", 512)}, // ~6 KiB answers: 2 fit
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCheckAnswers(tt.max, tt.maxBytes)
			for i := range 10 {
				v := currentSessionJSON{Session: sessionJSON{ID: fmt.Sprintf("ses_%d", i), UserAgent: tt.userAgent}}
				wantEncoded(t, c.body(v), v)
				v.Session.LastSeenAt = time.Unix(int64(i), 0).UTC() // the same session, seen again
				wantEncoded(t, c.body(v), v)
				total := 0
				for _, e := range c.m {
					total += len(e.body)
				}
				if len(c.m) > tt.max || total > tt.maxBytes || total != c.bytes {
					t.Fatalf("%d answers of %d bytes kept (counted %d), want at most %d and %d bytes",
						len(c.m), total, c.bytes, tt.max, tt.maxBytes)
				}
			}
		})
	}
}
