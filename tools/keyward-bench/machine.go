package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine describes where the figures were measured: a ratio is only
// meaningful together with the machine it came from.
type machine struct {
	CPU        string
	Cores      int
	GOMAXPROCS int    // of keyward and the baseline
	CPUs       string // where keyward, the baseline and wrk ran
	Memory     string
	Kernel     string
	GoVersion  string
	Wrk        string
	Postgres   string
	LoadAvg    string // at the start: the machine may be shared
	LoadAvgEnd string
	Date       time.Time
}

func describeMachine(ctx context.Context) machine {
	m := machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Date:       time.Now().UTC().Truncate(time.Second),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.LoadAvg = loadAvg()
	if kib := procField("/proc/meminfo", "MemTotal:"); kib > 0 {
		m.Memory = fmtBytes(kib * 1024)
	}
	// wrk prints its version as the first line of its usage (and exits 1).
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(wctx, "wrk", "-v").CombinedOutput()
	if line, _, _ := strings.Cut(string(out), "\n"); strings.HasPrefix(line, "wrk ") {
		m.Wrk, _, _ = strings.Cut(line, " Copyright")
		m.Wrk = strings.TrimSpace(m.Wrk)
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// procField returns the number after name in a /proc file of "Name: N kB"
// lines (/proc/meminfo, /proc/<pid>/status), or -1.
func procField(path, name string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return parseProcField(string(b), name)
}

func parseProcField(text, name string) int64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			var n int64
			if _, err := fmt.Sscan(strings.TrimSpace(rest), &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// write prints the machine as "key: value" lines (Markdown list items when
// md is set).
func (m machine) write(w io.Writer, md bool) {
	prefix := ""
	if md {
		prefix = "- "
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s%s: %s\n", prefix, k, v)
		}
	}
	line("date", m.Date.Format(time.RFC3339))
	line("cpu", fmt.Sprintf("%s, %d cores (GOMAXPROCS %d for keyward and the baseline)", m.CPU, m.Cores, m.GOMAXPROCS))
	line("placement", m.CPUs)
	line("memory", m.Memory)
	line("os", m.Kernel)
	line("go", m.GoVersion)
	line("load generator", m.Wrk)
	line("postgresql", m.Postgres)
	if m.LoadAvgEnd != "" {
		line("load average (1, 5, 15 min) at start / end", m.LoadAvg+" / "+m.LoadAvgEnd)
	} else {
		line("load average (1, 5, 15 min) at start", m.LoadAvg)
	}
}
