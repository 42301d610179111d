package wal

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// BenchmarkAppendWhileSnapshotting measures log writes (one 1 KiB entry
// per Append, each waiting until durable) while another goroutine saves
// a 64 MiB snapshot over and over: the tail latency of a log write shows
// whether it waits behind the snapshot's bytes. Reports appends/s, the
// p99 and max append latency and the snapshots saved.
func BenchmarkAppendWhileSnapshotting(b *testing.B) {
	w, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(ents(1, 1, 1)); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	snaps := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: w.LastIndex(), Term: 1}, Data: data}); err != nil {
				b.Error(err)
				return
			}
			snaps++
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	payload := make([]byte, 1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		idx := uint64(i + 2)
		t0 := time.Now()
		if err := w.Append([]raftpb.Entry{{Index: idx, Term: 1, Type: raftpb.EntryNormal, Data: payload}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(snaps), "snapshots")
}
