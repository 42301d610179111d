package compare

import (
	"syscall"
	"time"
)

// processCPU returns this process's user+system CPU time so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// cpuSample is the process CPU time at one wall-clock instant.
type cpuSample struct {
	wall   time.Time
	cpu    time.Duration
	warmup bool // taken at a warm-up tick
}

// cores is CPU time per wall time between two samples.
func cores(a, b cpuSample) float64 {
	wall := b.wall.Sub(a.wall)
	if wall <= 0 {
		return 0
	}
	return float64(b.cpu-a.cpu) / float64(wall)
}
