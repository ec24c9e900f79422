package main

import (
	"slices"
	"testing"
)

func TestOnCPUs(t *testing.T) {
	tests := []struct {
		name string
		cpus []int
		want []string
	}{
		{"not pinned", nil, []string{"wrk", "-t2", "http://x"}},
		{"one cpu", []int{1}, []string{"taskset", "--cpu-list", "1", "wrk", "-t2", "http://x"}},
		{"several", []int{4, 5, 7}, []string{"taskset", "--cpu-list", "4,5,7", "wrk", "-t2", "http://x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onCPUs(tt.cpus, "wrk", []string{"-t2", "http://x"}); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlanCPUsSplitsInHalves(t *testing.T) {
	c := planCPUs(true)
	if !c.pinned() {
		t.Skipf("not pinned here: %s", c.why)
	}
	if len(c.server) == 0 || len(c.load) < len(c.server) || slices.ContainsFunc(c.server, func(n int) bool { return slices.Contains(c.load, n) }) {
		t.Fatalf("split %v / %v: want two disjoint halves, the load's no smaller", c.server, c.load)
	}
	if c.serverProcs(99) != len(c.server) {
		t.Fatalf("GOMAXPROCS %d for %d server CPUs", c.serverProcs(99), len(c.server))
	}
	if off := planCPUs(false); off.pinned() || off.serverProcs(3) != 3 {
		t.Fatalf("--pin=false: %+v", off)
	}
}
