package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// idleCPUTarget bounds the CPU an idle node may use: the cache watcher's
// poll, the mail worker's, housekeeping. A thousandth of one CPU is 60 ms a
// minute.
const idleCPUTarget = 0.001

// idle measures the CPU keyward uses while nobody asks it anything, with
// its background work running (the invalidation watcher, the mail worker,
// housekeeping): summed over its threads in nanoseconds (schedstat), not in
// the 10 ms ticks of /proc/<pid>/stat.
func (b *bench) idle(ctx context.Context, t *target) ([]row, error) {
	scen := "idle node (" + t.engine + ")"
	// Connections closed, deferred work done.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	b.logf("%s: measuring keyward's CPU over %v of idleness", t.engine, b.opts.idleFor)
	before, err := threadsCPU(t.kw.pid())
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(b.opts.idleFor):
	}
	after, err := threadsCPU(t.kw.pid())
	if err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	used := after - before
	share := float64(used) / float64(wall)
	return []row{{scen, fmt.Sprintf("CPU used idle over %v (mail worker, invalidation watcher, housekeeping)", wall.Round(time.Second)),
			fmt.Sprintf("%s (%.4f %% of one CPU)", fmtDur(used), share*100), "", "", fmt.Sprintf("< %.1f %% of one CPU", idleCPUTarget*100), check(share < idleCPUTarget)}},
		t.kw.exitedDuring("the idle measurement")
}

// threadsCPU is the CPU time the process's threads have run, from the
// first field of each /proc/<pid>/task/<tid>/schedstat (nanoseconds).
func threadsCPU(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, task := range tasks {
		raw, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		ns, err := parseSchedstat(string(raw))
		if err != nil {
			return 0, err
		}
		sum += ns
	}
	return sum, nil
}

// parseSchedstat reads the time on CPU (ns) from a schedstat line:
// "on-cpu-ns waiting-ns timeslices".
func parseSchedstat(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, fmt.Errorf("schedstat %q", s)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("schedstat %q: %w", s, err)
	}
	return time.Duration(ns), nil
}
