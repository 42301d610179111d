package wal

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// BenchmarkQuorumWALs: one client's replicated write as three WALs on
// one disk see it. Each round submits one 128-byte entry to three WALs
// at once and ends when two of them have it durable (a quorum of
// three); the third is not waited for, and its next write queues behind
// its late fsync, as a lagging follower's does. ns/op is the time per
// round; bench.MeasureQuorumFloor measures the same rounds on plain
// files (the disk alone), which is what raftbench compare reports as the
// disk floor, so the two show what the WAL adds.
func BenchmarkQuorumWALs(b *testing.B) {
	var q quorum
	ws := make([]*WAL, 3)
	dones := make([]func(error), 3)
	for i := range ws {
		w, err := Open(filepath.Join(b.TempDir(), fmt.Sprintf("n%d", i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		ws[i] = w
		dones[i] = func(err error) {
			if err != nil {
				b.Error(err)
			}
			q.ack(i)
		}
	}
	data := make([]byte, benchEntryBytes)
	q.run(b, func(k uint64) {
		es := []raftpb.Entry{{Index: k, Term: 1, Data: data}}
		for i, w := range ws {
			if err := w.Submit(Write{Entries: es}, dones[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// quorum counts, per log, how many rounds it has made durable (each log
// completes its rounds in order).
type quorum struct {
	done [3]atomic.Uint64
	wake chan struct{}
}

func (q *quorum) ack(i int) {
	q.done[i].Add(1)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run starts b.N rounds one after another; round k ends once two logs
// have completed it. It then waits for the stragglers.
func (q *quorum) run(b *testing.B, start func(k uint64)) {
	q.wake = make(chan struct{}, 1)
	reached := func(k uint64) int {
		n := 0
		for i := range q.done {
			if q.done[i].Load() >= k {
				n++
			}
		}
		return n
	}
	b.ResetTimer()
	for k := uint64(1); k <= uint64(b.N); k++ {
		start(k)
		for reached(k) < 2 {
			<-q.wake
		}
	}
	b.StopTimer()
	for reached(uint64(b.N)) < 3 {
		<-q.wake
	}
}
