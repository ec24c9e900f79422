package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cleanups is the stack of everything the bench started or made: processes,
// temporary folders, databases. Run undoes them newest first, once.
type cleanups struct {
	mu  sync.Mutex
	fns []cleanup
}

type cleanup struct {
	what string
	fn   func() error
}

func (c *cleanups) add(what string, fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, cleanup{what, fn})
}

// run undoes everything added so far, newest first, and reports failures
// to log.
func (c *cleanups) run(log io.Writer) {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i].fn(); err != nil {
			fmt.Fprintf(log, "keyward-bench: cleaning up %s: %v\n", fns[i].what, err)
		}
	}
}

// childAttr puts a child in a process group of its own (so a Ctrl-C at the
// terminal reaches the bench, which then stops the child in order) and has
// the kernel kill it should the bench itself die without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// proc is a child process the bench started and must stop.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set when done is closed
}

// startProc starts bin with args and env, on cpus when given (see
// cpuSplit); its output goes to logPath.
func startProc(name, bin string, args []string, cpus []int, env []string, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	argv := onCPUs(cpus, bin, args)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitedDuring is nil while the process runs, else the error that says it
// ended during what, with the end of its log.
func (p *proc) exitedDuring(what string) error {
	if !p.exited() {
		return nil
	}
	return fmt.Errorf("%s exited during %s (%v); its log:\n%s", p.name, what, p.err, p.logTail())
}

// stop asks the process to end (SIGTERM), and kills it after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %v after SIGTERM and was killed", p.name, grace)
}

// logTail returns the last lines of the process's output, for errors.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// rss returns the process's resident memory (VmRSS) and its peak (VmHWM)
// in bytes, or -1 when it cannot be read.
func (p *proc) rss() (now, peak int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/status")
	if err != nil {
		return -1, -1
	}
	now, peak = parseProcField(string(b), "VmRSS:"), parseProcField(string(b), "VmHWM:")
	if now > 0 {
		now *= 1024
	}
	if peak > 0 {
		peak *= 1024
	}
	return now, peak
}

// cpuTime returns the CPU time (user and system, all threads) the process
// has used so far, or -1.
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/stat")
	if err != nil {
		return -1
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15, in clock ticks of
// 1/100 s, Linux's USER_HZ) from a /proc/<pid>/stat line. The command name
// (field 2) may hold spaces, so fields are counted after its ")".
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls url until it answers 200, the process exits or timeout.
func waitReady(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v); its log:\n%s", p.name, p.err, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %v; its log:\n%s", p.name, url, timeout, p.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// childEnv is the bench's environment without KEYWARD_* settings (a
// KEYWARD_SECRET_KEY or KEYWARD_DATABASE_URL there must not change what is
// measured) and with GOMAXPROCS fixed, so that keyward and the baseline run
// with the same number of Ps.
func childEnv(gomaxprocs int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KEYWARD_") || strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(gomaxprocs))
}

// moduleRoot is the folder of keyward's go.mod, where `go build` runs.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run keyward-bench inside the keyward module (go run ./tools/keyward-bench)")
	}
	return filepath.Dir(gomod), nil
}

// buildKeyward builds cmd/keyward into dir and returns the binary's path.
func buildKeyward(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "keyward")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = root
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward: %v\n%s", err, stderr.String())
	}
	return bin, nil
}
