package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDeployGuideShowsTheShippedUnit: the systemd unit docs/deploy.md shows
// is contrib/systemd/keyward.service, byte for byte, and the guide's copy
// example reads the data folder that unit gives keyward.
func TestDeployGuideShowsTheShippedUnit(t *testing.T) {
	unit, err := os.ReadFile("../../contrib/systemd/keyward.service")
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, block := range regexp.MustCompile("(?s)```ini\n(.*?)```").FindAllStringSubmatch(string(guide), -1) {
		if strings.Contains(block[1], "ExecStart=") {
			shown = append(shown, block[1])
		}
	}
	if len(shown) != 1 {
		t.Fatalf("docs/deploy.md shows %d systemd units, want 1", len(shown))
	}
	if shown[0] != string(unit) {
		t.Errorf("docs/deploy.md's unit differs from contrib/systemd/keyward.service:\n%s", shown[0])
	}
	dataDir := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/keyward serve .*--data-dir (\S+)`).FindStringSubmatch(string(unit))
	if dataDir == nil {
		t.Fatal("the unit's ExecStart names no --data-dir")
	}
	for _, m := range regexp.MustCompile(`keyward copy --from (\S+) --to "postgres`).FindAllStringSubmatch(string(guide), -1) {
		if m[1] != dataDir[1] {
			t.Errorf("docs/deploy.md copies --from %s, but the unit's data folder is %s", m[1], dataDir[1])
		}
	}
}
