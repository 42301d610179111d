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
// a 64 MiB snapshot every 1.5 s (a cluster writes one now and then, as
// its log grows; the same bytes per second in every mode): the tail
// latency of a log write shows
// whether it waits behind the snapshot's bytes. Reports appends/s, the
// p99 and max append latency and the snapshots saved. Sub-benchmarks
// compare the snapshot file written back in 1 MiB steps
// (sync_file_range) with an fsync every 32 MiB, and covered segments
// removed by the flusher itself ("inline") with the background remover.
func BenchmarkAppendWhileSnapshotting(b *testing.B) {
	for _, mode := range []struct {
		name              string
		rangeWB, bgRemove bool
		rate              int64
	}{
		{"writeback=fsync32MiB/removal=inline", false, false, 0},
		{"writeback=range1MiB/removal=inline", true, false, 0},
		{"writeback=range1MiB/removal=background", true, true, 0},
		{"writeback=range1MiB/removal=background/rate=64MiB", true, true, 64 << 20},
	} {
		b.Run(mode.name, func(b *testing.B) {
			defer func(r, g bool) { snapRangeWriteback, segRemovalInBackground = r, g }(snapRangeWriteback, segRemovalInBackground)
			snapRangeWriteback, segRemovalInBackground = mode.rangeWB, mode.bgRemove
			benchAppendWhileSnapshotting(b, mode.rate)
		})
	}
}

func benchAppendWhileSnapshotting(b *testing.B, rate int64) {
	w, err := Open(b.TempDir(), Options{SnapshotWriteRate: rate})
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
	tick := time.NewTicker(1500 * time.Millisecond)
	defer tick.Stop()
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
			select {
			case <-stop:
			case <-tick.C:
			}
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
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds())/1000, "p99.9-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(snaps), "snapshots")
}
