//go:build unix

package bench

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time this process has used so far, split as the
// kernel accounts it (getrusage): User is the process's own code (the
// load generator and, for in-process targets, the whole cluster); Kernel
// is the kernel working for it: system calls, page faults, and the
// kernel threads that belong to the process, such as io_uring's workers
// running its fsyncs. ok is false where unknown.
func ProcessCPU() (c CPUTimes, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return CPUTimes{}, false
	}
	return CPUTimes{User: time.Duration(ru.Utime.Nano()), Kernel: time.Duration(ru.Stime.Nano())}, true
}
