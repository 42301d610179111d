//go:build !unix

package bench

// ProcessCPU is unknown here (see the unix version).
func ProcessCPU() (CPUTimes, bool) { return CPUTimes{}, false }
