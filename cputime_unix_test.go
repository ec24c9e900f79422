//go:build unix

package keyward_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's user and system CPU time: unlike wall time, a
// busy machine does not stretch it, so benchmarks compare paths by it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
