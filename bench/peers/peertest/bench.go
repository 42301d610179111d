package peertest

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// WriteParallel writes 128-byte values from about clients concurrent
// goroutines until b.N writes are done, and reports ops/s, fsyncs/s and
// entries/fsync. A sanity figure for reports, never an assertion.
func WriteParallel(b *testing.B, tg bench.Target, clients int) {
	var seq atomic.Uint64
	val := bytes.Repeat([]byte("v"), 128)
	// RunParallel starts parallelism x GOMAXPROCS goroutines: clients of
	// them on the 2-core reference machine.
	b.SetParallelism((clients + 1) / 2)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := []byte(fmt.Sprintf("key-%08d", seq.Add(1)%100000))
			if _, err := tg.Do(context.Background(), bench.Request{Op: kv.OpWrite, Key: key, Value: val}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(t0).Seconds()
	st := tg.Stats()
	b.ReportMetric(float64(b.N)/el, "ops/s")
	b.ReportMetric(float64(st.Fsyncs)/el, "fsyncs/s")
	b.ReportMetric(float64(st.FsyncEntries)/float64(max(st.Fsyncs, 1)), "entries/fsync")
}
