package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cpuSplit is where the bench's children run. The servers measured
// (keyward and the baseline) get one half of the CPUs this bench may use and
// wrk the other, as a real server's clients run on other machines: when
// they share cores, the tail latency measured is the scheduler's time
// slices between load generator and server, not the server (p99 8–11 ms
// for the bare baseline on 2 shared cores, 1.5 ms split).
type cpuSplit struct {
	server, load []int  // empty: not pinned
	why          string // when not pinned
}

// planCPUs splits the CPUs of the bench's affinity mask, or says why not.
func planCPUs(pin bool) cpuSplit {
	if !pin {
		return cpuSplit{why: "--pin=false"}
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuSplit{why: "reading the CPU affinity: " + err.Error()}
	}
	var cpus []int
	for i := range len(set) * 64 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return cpuSplit{why: "one CPU"}
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return cpuSplit{why: "taskset (util-linux) not found"}
	}
	half := len(cpus) / 2
	return cpuSplit{server: cpus[:half], load: cpus[half:]}
}

func (c cpuSplit) pinned() bool { return len(c.server) > 0 }

// onCPUs runs bin with args on cpus (all when empty): through taskset,
// which sets the affinity and then execs bin (same pid), so every thread the
// child makes inherits it.
func onCPUs(cpus []int, bin string, args []string) []string {
	argv := append([]string{bin}, args...)
	if len(cpus) == 0 {
		return argv
	}
	return append([]string{"taskset", "--cpu-list", cpuList(cpus)}, argv...)
}

// serverProcs is the GOMAXPROCS of keyward and the baseline.
func (c cpuSplit) serverProcs(unpinned int) int {
	if c.pinned() {
		return len(c.server)
	}
	return unpinned
}

func (c cpuSplit) String() string {
	if !c.pinned() {
		return "not pinned (" + c.why + "): keyward, the baseline and wrk share the cores"
	}
	return fmt.Sprintf("keyward and the baseline on CPU %s, wrk on CPU %s (taskset)", cpuList(c.server), cpuList(c.load))
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, n := range cpus {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
