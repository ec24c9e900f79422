package keyward

import (
	"testing"
	"time"
)

func TestClientAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.5", "203.0.113.5"},
		{"::ffff:203.0.113.5", "203.0.113.5"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"64:ff9b::c000:201", "192.0.2.1"},     // NAT64 / SIIT: the IPv4 client
		{"64:ff9b::c633:6407", "198.51.100.7"}, // another one, counted apart
		{"64:ff9b:0:0:1::1", "64:ff9b::/64"},   // outside the /96: an IPv6 client
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := clientAddress(tt.in); got != tt.want {
				t.Fatalf("clientAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestThrottleRuleDelay(t *testing.T) {
	r := ThrottleRule{Free: 3, Base: time.Second, Max: 10 * time.Second, Forget: time.Hour}
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {3, 0}, {4, time.Second}, {5, 2 * time.Second}, {6, 4 * time.Second},
		{7, 8 * time.Second}, {8, 10 * time.Second}, {1000, 10 * time.Second}, {1 << 40, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := r.Delay(tt.failures); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// TestAccountRulesAllowAtMost100GuessesAnHour: an attacker who guesses
// again the moment each wait ends gets no more than 100 tries an hour at
// one account (ASVS 4 V2.2.1), by password or by second factor.
func TestAccountRulesAllowAtMost100GuessesAnHour(t *testing.T) {
	cfg := DefaultConfig()
	for name, r := range map[string]ThrottleRule{"password, every address": cfg.AccountThrottle, "second factor": cfg.SecondFactorRule} {
		t.Run(name, func(t *testing.T) {
			var at time.Duration
			failures := 0
			for at < time.Hour {
				failures++
				at += r.Delay(failures)
			}
			if failures > 100 {
				t.Fatalf("%d guesses in an hour under %+v, want at most 100", failures, r)
			}
		})
	}
}
