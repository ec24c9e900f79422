package audit

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/device"
)

func TestDevicesCacheAgreesAndStaysBounded(t *testing.T) {
	var d devices
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"curl/8.5.0",
		"",
	}
	for range 2 { // the second round is served from the cache
		for _, ua := range agents {
			if got, want := d.parse(ua), device.Parse(ua); got != want {
				t.Fatalf("parse(%q) = %+v, want %+v", ua, got, want)
			}
		}
	}
	for i := range 3 * maxDevices {
		d.parse(fmt.Sprintf("agent/%d", i))
		if len(d.m) > maxDevices {
			t.Fatalf("cache holds %d agents, more than %d", len(d.m), maxDevices)
		}
	}
}
