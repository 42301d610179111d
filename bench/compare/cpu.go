package compare

import (
	"errors"
	"time"

	"github.com/raftbench/raftbench/bench"
)

// processCPU returns this process's user+system CPU time so far.
func processCPU() (time.Duration, error) {
	c, ok := bench.ProcessCPU()
	if !ok {
		return 0, errors.New("compare: process CPU time unknown here")
	}
	return c.Total(), nil
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
