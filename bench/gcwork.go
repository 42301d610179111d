package bench

import (
	"runtime/metrics"
	"time"
)

// GCWork is the Go runtime's cumulative allocation and collection work in
// this process (runtime/metrics, read without stopping the world). For an
// in-process target it covers the cluster and the load generator
// together, as ProcessCPU does; the generator's own share is the same
// whatever the target.
//
// Why a run reports it: a collection's mark phase makes the goroutines
// that allocate while it runs pay for marking (mark assists), and a
// goroutine that cannot find marking to do waits in the runtime until
// the background workers catch up. On two cores a mark phase lasts
// milliseconds, and every request whose path allocates during it waits;
// in an open loop those waits, not the CPU the collector uses (a few
// percent), set the tail. Fewer bytes allocated per operation means
// fewer collections.
type GCWork struct {
	AllocBytes uint64        // /gc/heap/allocs:bytes: every byte allocated on the heap so far
	Cycles     uint64        // /gc/cycles/total:gc-cycles: collections completed so far
	GC         time.Duration // /cpu/classes/gc/total:cpu-seconds: the collector's CPU, assists and pauses included
	Assist     time.Duration // /cpu/classes/gc/mark/assist:cpu-seconds: of GC, marking done by allocating goroutines
	User       time.Duration // /cpu/classes/user:cpu-seconds: Go code outside the runtime
}

// gcMetricNames are read in GCWork's field order.
var gcMetricNames = [...]string{
	"/gc/heap/allocs:bytes",
	"/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/user:cpu-seconds",
}

// ReadGCWork samples GCWork; ok is false if this Go runtime lacks one of
// the metrics.
func ReadGCWork() (GCWork, bool) {
	var s [len(gcMetricNames)]metrics.Sample
	for i, n := range gcMetricNames {
		s[i].Name = n
	}
	metrics.Read(s[:])
	for i := range s {
		if s[i].Value.Kind() == metrics.KindBad {
			return GCWork{}, false
		}
	}
	secs := func(v metrics.Value) time.Duration { return time.Duration(v.Float64() * float64(time.Second)) }
	return GCWork{
		AllocBytes: s[0].Value.Uint64(),
		Cycles:     s[1].Value.Uint64(),
		GC:         secs(s[2].Value),
		Assist:     secs(s[3].Value),
		User:       secs(s[4].Value),
	}, true
}

// Sub is the work done between b and g.
func (g GCWork) Sub(b GCWork) GCWork {
	return GCWork{AllocBytes: g.AllocBytes - b.AllocBytes, Cycles: g.Cycles - b.Cycles,
		GC: g.GC - b.GC, Assist: g.Assist - b.Assist, User: g.User - b.User}
}

// GCSummary is a run's allocation and collection figures over its
// measured window (Summary.GC).
type GCSummary struct {
	// AllocBytesPerOp is heap bytes allocated per operation.
	AllocBytesPerOp float64 `json:"alloc_bytes_per_op"`
	// Cycles is the collections that ended in the window; CyclesPerSec
	// the same per second.
	Cycles       uint64  `json:"cycles"`
	CyclesPerSec float64 `json:"cycles_per_s"`
	// CPUShare is the collector's share of the CPU time the runtime
	// accounts to Go code and the collector (runtime/metrics' estimate,
	// not the kernel's accounting: compare it with nothing but itself);
	// AssistShare the part of that share spent in mark assists, that is
	// in the goroutines that were allocating.
	CPUShare    float64 `json:"cpu_share"`
	AssistShare float64 `json:"assist_share"`
}

// gcSummary turns a window's GCWork into a GCSummary (nil without
// operations).
func gcSummary(w GCWork, ops uint64, window time.Duration) *GCSummary {
	if ops == 0 || window <= 0 {
		return nil
	}
	s := &GCSummary{
		AllocBytesPerOp: float64(w.AllocBytes) / float64(ops),
		Cycles:          w.Cycles,
		CyclesPerSec:    float64(w.Cycles) / window.Seconds(),
	}
	if busy := w.GC + w.User; busy > 0 {
		s.CPUShare = float64(w.GC) / float64(busy)
		s.AssistShare = float64(w.Assist) / float64(busy)
	}
	return s
}
