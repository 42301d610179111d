//go:build linux

package wal

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// BenchmarkWriteCPU measures the CPU the WAL spends per entry, without
// fsync (UnsafeNoFsync), for several segment sizes: one writer submits
// batches of 64 entries of 128 bytes (a busy leader's Ready) and waits for
// each. Reports process CPU µs per entry (rusage: includes the flusher) and
// allocated bytes per entry.
func BenchmarkWriteCPU(b *testing.B) {
	const batch = 64
	for _, seg := range []int{16 << 20, 4 << 20, 1 << 20} {
		b.Run(fmt.Sprintf("segment=%dMiB", seg>>20), func(b *testing.B) {
			w, err := Open(b.TempDir(), Options{SegmentBytes: seg, UnsafeNoFsync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			data := make([]byte, benchEntryBytes)
			es := make([]raftpb.Entry, batch)
			ch := make(chan error, 1)
			done := func(err error) { ch <- err }
			next := uint64(1)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuNanos()
			for i := 0; i < b.N; i += batch {
				for k := range es {
					es[k] = raftpb.Entry{Index: next, Term: 1, Data: data}
					next++
				}
				if err := w.Submit(Write{Entries: es}, done); err != nil {
					b.Fatal(err)
				}
				if err := <-ch; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuNanos()-cpu0)/1e3/float64(b.N), "cpu-µs/entry")
		})
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
