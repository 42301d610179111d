package wal

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	twal "github.com/tidwall/wal"
)

const benchEntryBytes = 128

// BenchmarkGroupCommit: N goroutines each append one 128-byte entry at
// a time and wait for it to be durable (fsync on). Index assignment and
// Submit are serialized (as in a Raft runtime, which proposes in
// order); the waits overlap, so concurrent appends share fsyncs. The
// ",fsync=blocking" cases turn the io_uring fsync offload off
// (Options.BlockingFsync) for an A/B in the same run.
func BenchmarkGroupCommit(b *testing.B) {
	for _, c := range []struct {
		n        int
		blocking bool
	}{{1, false}, {8, false}, {64, false}, {64, true}, {256, false}, {256, true}} {
		name := fmt.Sprintf("appenders=%d", c.n)
		if c.blocking {
			name += ",fsync=blocking"
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			w, err := Open(b.TempDir(), Options{BlockingFsync: c.blocking})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			data := make([]byte, benchEntryBytes)
			var mu sync.Mutex
			next := uint64(1)
			var wg sync.WaitGroup
			per := b.N / n
			extra := b.N % n
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for g := 0; g < n; g++ {
				ops := per
				if g < extra {
					ops++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ch := make(chan error, 1)
					done := func(err error) { ch <- err }
					es := make([]raftpb.Entry, 1)
					for range ops {
						mu.Lock()
						es[0] = raftpb.Entry{Index: next, Term: 1, Data: data}
						err := w.Submit(Write{Entries: es}, done)
						next++
						mu.Unlock()
						if err == nil {
							err = <-ch
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start).Seconds()
			b.StopTimer()
			st := w.Stats()
			b.ReportMetric(float64(b.N)/elapsed, "appends/s")
			b.ReportMetric(float64(st.Fsyncs)/elapsed, "fsyncs/s")
			if st.Fsyncs > 0 {
				b.ReportMetric(float64(st.Entries)/float64(st.Fsyncs), "entries/fsync")
				b.ReportMetric(float64(st.FsyncNanos)/float64(st.Fsyncs)/1e3, "µs/fsync")
			}
		})
	}
}

// BenchmarkBaselineAppendFsync: the one-at-a-time baseline on the same
// disk: plain tidwall/wal with its default fsync-per-write, one 128-byte
// entry per write, no group commit.
func BenchmarkBaselineAppendFsync(b *testing.B) {
	l, err := twal.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, benchEntryBytes)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := l.Write(uint64(i+1), data); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/elapsed, "appends/s")
	b.ReportMetric(float64(b.N)/elapsed, "fsyncs/s")
	b.ReportMetric(1, "entries/fsync")
}
