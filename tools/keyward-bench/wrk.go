package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what keyward-bench reads from wrk's report.
type wrkResult struct {
	Requests    int64         // "N requests in ..."
	Duration    time.Duration // "... in 10.00s"
	RPS         float64       // "Requests/sec:"
	Latency     map[int]time.Duration
	Non2xx      int64 // "Non-2xx or 3xx responses:"
	SocketError int64 // the sum of "Socket errors: connect N, read N, write N, timeout N"
}

// P returns the latency percentile p (50, 75, 90 or 99) of the report.
func (r wrkResult) P(p int) time.Duration { return r.Latency[p] }

// parseWrk reads the report wrk prints with --latency. It insists on the
// figures the benchmark needs (requests/s and the latency distribution), so
// a wrk that changed its output fails loudly instead of reporting zeros.
func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{Latency: map[int]time.Duration{}}
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "Latency Distribution" {
			inDist = true
			continue
		}
		if f := strings.Fields(line); inDist && len(f) == 2 && strings.HasSuffix(f[0], "%") {
			p, err := strconv.Atoi(strings.TrimSuffix(f[0], "%"))
			if err != nil {
				return r, fmt.Errorf("wrk: latency percentile %q: %v", f[0], err)
			}
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.Latency[p] = d
			continue
		}
		inDist = false
		switch {
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return r, fmt.Errorf("wrk: requests/sec in %q: %v", line, err)
			}
			r.RPS = v
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: non-2xx count in %q: %v", line, err)
			}
			r.Non2xx = v
		case strings.HasPrefix(line, "Socket errors:"):
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				f := strings.Fields(part)
				if len(f) != 2 {
					return r, fmt.Errorf("wrk: socket errors in %q", line)
				}
				v, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk: socket errors in %q: %v", line, err)
				}
				r.SocketError += v
			}
		case strings.Contains(line, " requests in "):
			// "791548 requests in 10.00s, 300.44MB read"
			f := strings.Fields(line)
			if len(f) < 4 || f[1] != "requests" || f[2] != "in" {
				return r, fmt.Errorf("wrk: unexpected summary %q", line)
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: request count in %q: %v", line, err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			r.Requests, r.Duration = n, d
		}
	}
	if r.RPS == 0 && r.Requests == 0 {
		return r, errors.New("wrk: no Requests/sec in the output")
	}
	if _, ok := r.Latency[99]; !ok {
		return r, errors.New("wrk: no 99% latency in the output (was --latency given?)")
	}
	return r, nil
}

// parseWrkDuration reads wrk's times: "335.00us", "1.56ms", "2.00s",
// "1.00m", "1.00h".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				break
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk: cannot read the duration %q", s)
}

// wrkSpec is one wrk run.
type wrkSpec struct {
	URL         string
	Threads     int
	Connections int
	Duration    time.Duration
	Headers     []string // "Name: value"
	CPUs        []int    // where wrk runs (all when empty)
}

func (s wrkSpec) args() []string {
	args := []string{
		"-t" + strconv.Itoa(s.Threads),
		"-c" + strconv.Itoa(s.Connections),
		"-d" + strconv.Itoa(int(s.Duration.Round(time.Second)/time.Second)) + "s",
		"--latency",
	}
	for _, h := range s.Headers {
		args = append(args, "-H", h)
	}
	return append(args, s.URL)
}

// runWrk runs wrk to completion and parses its report.
func runWrk(ctx context.Context, spec wrkSpec) (wrkResult, error) {
	var stdout, stderr bytes.Buffer
	argv := onCPUs(spec.CPUs, "wrk", spec.args())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("wrk: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseWrk(stdout.String())
}
