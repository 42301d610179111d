package bench

import "time"

// CPUTimes is CPU time split where the kernel accounts it (ProcessCPU).
type CPUTimes struct {
	User, Kernel time.Duration
}

// Total is user and kernel time together.
func (c CPUTimes) Total() time.Duration { return c.User + c.Kernel }

// Sub is the CPU time used between b and c.
func (c CPUTimes) Sub(b CPUTimes) CPUTimes {
	return CPUTimes{User: c.User - b.User, Kernel: c.Kernel - b.Kernel}
}

// CPUPerOp is the CPU time one operation cost, in µs, split as
// CPUTimes: a system's own code against the kernel's work for it. The
// kernel's share holds every fsync's own CPU (on a virtual machine, the
// exits that the write and the cache flush take), so two systems with
// the same CPU per operation can spend it very differently: one in its
// code, the other in syscalls.
type CPUPerOp struct {
	User   float64 `json:"user"`
	Kernel float64 `json:"kernel"`
}

// cpuPerOp divides a window's CPU time over its operations (nil without
// either).
func cpuPerOp(c CPUTimes, ops uint64) *CPUPerOp {
	if ops == 0 || c.Total() <= 0 {
		return nil
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(ops) }
	return &CPUPerOp{User: us(c.User), Kernel: us(c.Kernel)}
}
