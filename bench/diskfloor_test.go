package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMeasureQuorumFloor(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		writers int
		every   bool
	}{{1, false}, {1, true}, {8, true}} {
		f, err := MeasureQuorumFloor(context.Background(), dir, FloorConfig{Nodes: 3, RecordBytes: 144, Writers: c.writers, EveryReplica: c.every, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles := 2
		if c.every {
			wantFiles = 3
		}
		if f.Nodes != 3 || f.Quorum != 2 || f.Files != wantFiles || f.Writers != c.writers || f.RecordBytes != 144 {
			t.Fatalf("floor describes the wrong setup (%+v): %+v", c, f)
		}
		checkFloorFigures(t, f)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("measurement left files behind: %v", left)
	}
}

func checkFloorFigures(t *testing.T, f *DiskFloor) {
	t.Helper()
	if f.Writes < 1 || f.MeanUs <= 0 || f.P50Us > f.P99Us || f.WritesPerSec <= 0 {
		t.Fatalf("implausible floor: %+v", f)
	}
	// A write takes at least one fsync (no disk does one in under a
	// microsecond), and each writer's writes fit in the time measured.
	if f.MeanUs < 1 || float64(f.Writes)*f.MeanUs > float64(f.Writers)*f.DurationS*1e6*1.01 {
		t.Fatalf("writes and mean disagree with the duration: %+v", f)
	}
}

func TestMeasureQuorumFloorBadInput(t *testing.T) {
	ctx := context.Background()
	ok := FloorConfig{Nodes: 3, RecordBytes: 100, Writers: 1, Duration: time.Second}
	for _, c := range []struct {
		mut  func(*FloorConfig)
		dir  string
		want string
	}{
		{func(c *FloorConfig) { c.Nodes = 0 }, "", "nodes 0"},
		{func(c *FloorConfig) { c.RecordBytes = 0 }, "", "record bytes 0"},
		{func(c *FloorConfig) { c.Writers = 0 }, "", "writers 0"},
		{func(c *FloorConfig) { c.Duration = 0 }, "", "duration 0s"},
		{func(c *FloorConfig) { c.Rate = 1000 }, "", "an open loop has no writers"},
		{func(c *FloorConfig) { c.Rate = -1 }, "", "rate -1"},
		{func(*FloorConfig) {}, "/nonexistent/raftbench-floor", "no such file"},
	} {
		cfg := ok
		c.mut(&cfg)
		dir := c.dir
		if dir == "" {
			dir = t.TempDir()
		}
		_, err := MeasureQuorumFloor(ctx, dir, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MeasureQuorumFloor(%+v, %s) = %v, want error containing %q", cfg, dir, err, c.want)
		}
	}
}

func TestMeasureQuorumFloorStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := MeasureQuorumFloor(ctx, t.TempDir(), FloorConfig{Nodes: 3, RecordBytes: 100, Writers: 4, EveryReplica: true, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to stop", time.Since(start))
	}
}

func TestMeasureQuorumFloorOpenLoop(t *testing.T) {
	const rate, dur = 2000.0, 300 * time.Millisecond
	f, err := MeasureQuorumFloor(context.Background(), t.TempDir(), FloorConfig{Nodes: 3, RecordBytes: 144, Rate: rate, EveryReplica: true, Duration: dur})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rate != rate || f.Writers != 0 || f.Files != 3 || f.Quorum != 2 {
		t.Fatalf("floor describes the wrong setup: %+v", f)
	}
	// Every write due in the window is counted, late or not: the schedule
	// has rate x duration slots.
	if want := int(rate * dur.Seconds()); f.Writes != want {
		t.Fatalf("open loop made %d writes durable, want the schedule's %d: %+v", f.Writes, want, f)
	}
	if f.MeanUs < 1 || f.P50Us > f.P99Us || f.P99Us > f.P999Us || f.P999Us > f.MaxUs || f.WritesPerSec <= 0 {
		t.Fatalf("implausible open-loop floor: %+v", f)
	}
}

func TestFloorQuorumCountsFromDueTime(t *testing.T) {
	h := newHist()
	q := newFloorQuorum(3, 2)
	q.open(h)
	t0 := time.Now().Add(-10 * time.Millisecond)
	for i := range 3 {
		if s := q.due(t0.Add(time.Duration(i) * time.Millisecond)); s != uint64(i+1) {
			t.Fatalf("write %d numbered %d", i+1, s)
		}
	}
	q.durable(0, 3, nil) // one log is not a quorum
	if h.TotalCount() != 0 {
		t.Fatalf("a single log's durability counted %d writes", h.TotalCount())
	}
	q.durable(2, 2, nil) // now writes 1 and 2 are on two logs
	if h.TotalCount() != 2 || h.Min() < 8000 {
		t.Fatalf("after a quorum of 2: %d writes, min %d µs (want 2 writes, >= 8 ms since due)", h.TotalCount(), h.Min())
	}
	q.durable(1, 3, nil)
	if h.TotalCount() != 3 {
		t.Fatalf("after a quorum of 3: %d writes, want 3", h.TotalCount())
	}
}

// The floor's stall record merges overlapping slow fsyncs of several logs
// into one stretch, ignores fsyncs under StallFsync, and reports the
// median spacing of the stretches' starts.
func TestStallLogMergesOverlapsAndMeasuresSpacing(t *testing.T) {
	var l stallLog
	t0 := time.Unix(1000, 0)
	ms := func(v float64) time.Time { return t0.Add(time.Duration(v * float64(time.Millisecond))) }
	// Stretch 1: two logs stalled 0-12 and 3-14 ms (one stretch, 14 ms).
	l.add(ms(0), ms(12))
	l.add(ms(3), ms(14))
	// A fast fsync in between is not a stall.
	l.add(ms(50), ms(50.4))
	// Stretch 2 at 100 ms (12 ms), stretch 3 at 200 ms (13 ms), added out of order.
	l.add(ms(200), ms(213))
	l.add(ms(100), ms(112))
	n, total, p50, spacing := l.summary()
	if n != 3 || total != 14+12+13 || p50 != 13 || spacing != 100 {
		t.Fatalf("summary = %d stalls, %v ms total, p50 %v ms, spacing %v ms; want 3, 39, 13, 100", n, total, p50, spacing)
	}
	var empty stallLog
	if n, total, p50, spacing := empty.summary(); n != 0 || total != 0 || p50 != 0 || spacing != 0 {
		t.Fatalf("empty summary = %d, %v, %v, %v; want zeros", n, total, p50, spacing)
	}
}

func TestMeasureQuorumFloorOverwrite(t *testing.T) {
	dir := t.TempDir()
	f, err := MeasureQuorumFloor(context.Background(), dir, FloorConfig{Nodes: 3, RecordBytes: 176, Writers: 4, EveryReplica: true, Overwrite: true, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Overwrite || f.Files != 3 {
		t.Fatalf("floor describes the wrong setup: %+v", f)
	}
	checkFloorFigures(t, f)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("measurement left files behind: %v", left)
	}
}

// In overwrite mode a log never grows its file: batches go from the start
// of the zero-filled ring, back to its start when one would pass its end.
func TestGroupCommitOverwriteStaysInRing(t *testing.T) {
	const ring, rec = 1000, 100
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fillZeros(f, ring); err != nil {
		t.Fatal(err)
	}
	seqs := make(chan uint64, 1)
	var last uint64
	var stalls stallLog
	done := make(chan struct{})
	go func() {
		groupCommit(f, ring, 0, nil, seqs, rec, &stalls, func(l uint64, err error) {
			if err != nil {
				t.Error(err)
			}
			last = l
		})
		close(done)
	}()
	for s := uint64(1); s <= 25; s++ { // 2,500 bytes through a 1,000-byte ring
		seqs <- s
	}
	close(seqs)
	<-done
	if last != 25 {
		t.Fatalf("last durable write %d, want 25", last)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != ring {
		t.Fatalf("file grew to %d bytes, want the ring's %d", st.Size(), ring)
	}
}

// With a turn (FloorConfig.OneFlushAtATime) a log writes and flushes only
// while it holds the turn: nothing becomes durable while another holds
// it, and everything does once it is free.
func TestGroupCommitWaitsForItsTurn(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var turn sync.Mutex
	turn.Lock() // another log is flushing
	seqs := make(chan uint64, 4)
	durable := make(chan uint64, 4)
	var stalls stallLog
	go groupCommit(f, 0, 0, &turn, seqs, 100, &stalls, func(l uint64, err error) {
		if err != nil {
			t.Error(err)
		}
		durable <- l
	})
	seqs <- 1
	select {
	case l := <-durable:
		t.Fatalf("write %d durable while another log held the turn", l)
	case <-time.After(100 * time.Millisecond):
	}
	turn.Unlock()
	select {
	case l := <-durable:
		if l != 1 {
			t.Fatalf("durable up to %d, want 1", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write not durable after the turn was freed")
	}
	close(seqs)
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 100 {
		t.Fatalf("log holds %d bytes, want one 100-byte record", st.Size())
	}
}

// BenchmarkDiskFloorWriteModes measures the every-replica disk floor (3
// logs, a write durable on 2) appending and fsyncing, as our WAL writes,
// against overwriting zero-filled files and fdatasyncing
// (FloorConfig.Overwrite), at 1, 16 and 64 writers, 2 s each, the two
// modes alternating: the tails and the disk's stalls (StallFsync) each
// way of writing gets from the same disk. With -count N the pairs repeat.
// Not a Go benchmark of ns/op (one iteration is one measurement): run with
// -benchtime 1x. Scripts/tails.sh runs it.
func BenchmarkDiskFloorWriteModes(b *testing.B) {
	benchFloorPairs(b, []int{1, 16, 64}, "append-fsync", "overwrite-fdatasync", func(writers int, overwrite bool) FloorConfig {
		return FloorConfig{Nodes: 3, RecordBytes: 176, Writers: writers, EveryReplica: true, Overwrite: overwrite, Duration: 2 * time.Second}
	})
}

// BenchmarkDiskFloorStallsByRate asks whether the disk's stalls depend on
// how fast it is asked to flush: the every-replica floor (3 logs, append
// and fsync) in an open loop at rising rates, 2 s each, reporting the
// fsyncs per second it made and the stalls per second it saw. A throttle
// with an I/O budget stalls only above some rate; a disk that stalls on a
// clock of its own stalls at every rate. Run with -benchtime 1x.
func BenchmarkDiskFloorStallsByRate(b *testing.B) {
	for _, rate := range []float64{300, 1000, 2000, 3000, 5000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			benchFloor(b, FloorConfig{Nodes: 3, RecordBytes: 176, Rate: rate, EveryReplica: true, Duration: 2 * time.Second})
		})
	}
}

// BenchmarkDiskFloorFlushOverlap asks whether the disk's stalls come with
// overlapping flushes: the every-replica floor (3 logs overwritten with
// fdatasync) at 1 and 64 closed-loop writers, each log flushing whenever
// it holds records (overlapping) or the logs taking turns, one flush at a
// time in the process (FloorConfig.OneFlushAtATime), 2 s each. Run with
// -benchtime 1x (-count N repeats each case N times in a row).
func BenchmarkDiskFloorFlushOverlap(b *testing.B) {
	benchFloorPairs(b, []int{1, 64}, "overlapping", "one-at-a-time", func(writers int, turns bool) FloorConfig {
		return FloorConfig{Nodes: 3, RecordBytes: 176, Writers: writers, EveryReplica: true, Overwrite: true,
			OneFlushAtATime: turns, Duration: 2 * time.Second}
	})
}

// BenchmarkDiskFloorPausesTheMachine asks whether the disk floor's stalls
// are the disk's or the whole machine's: one goroutine locked to its
// thread spins reading the clock for 2 s and counts the gaps of 2 ms or
// more between two readings (moments its CPU did not run it), alone and
// while the every-replica floor (3 logs overwritten with fdatasync, 16
// writers) runs beside it. A disk that stalls leaves the spinner alone; a
// host that pauses the whole virtual machine (as a CPU quota per period
// would, once the machine's CPUs and its I/O emulation together exceed
// it) stops the spinner too, at the floor's stall spacing. Run with
// -benchtime 1x.
func BenchmarkDiskFloorPausesTheMachine(b *testing.B) {
	for _, beside := range []bool{false, true} {
		name := "alone"
		if beside {
			name = "beside-the-floor"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				var wg sync.WaitGroup
				var floor *DiskFloor
				var ferr error
				if beside {
					wg.Add(1)
					go func() {
						defer wg.Done()
						floor, ferr = MeasureQuorumFloor(context.Background(), b.TempDir(), FloorConfig{
							Nodes: 3, RecordBytes: 176, Writers: 16, EveryReplica: true, Overwrite: true, Duration: 3 * time.Second,
						})
					}()
					time.Sleep(500 * time.Millisecond) // the floor's files prepared, its writes under way
				}
				gaps := spinGaps(2 * time.Second)
				wg.Wait()
				if ferr != nil {
					b.Fatal(ferr)
				}
				b.ReportMetric(float64(len(gaps))/2, "pauses/s")
				if len(gaps) > 0 {
					b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "pause-p50-ms")
				}
				if floor != nil {
					b.ReportMetric(float64(floor.Stalls)/floor.DurationS, "floor-stalls/s")
				}
			}
		})
	}
}

// spinGaps spins on a thread of its own for d, reading the clock, and
// returns the gaps of 2 ms or more between consecutive readings, sorted.
func spinGaps(d time.Duration) []time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var gaps []time.Duration
	start := time.Now()
	for last := start; last.Sub(start) < d; {
		now := time.Now()
		if g := now.Sub(last); g >= 2*time.Millisecond {
			gaps = append(gaps, g)
		}
		last = now
	}
	slices.Sort(gaps)
	return gaps
}

// BenchmarkDiskFloorSyncInterval asks whether fewer, larger flushes give
// the disk lower tails at one offered rate: the every-replica floor (3
// logs, append and fsync) in an open loop, each log's fsyncs spaced at
// least FloorConfig.SyncInterval apart (0: back to back, as group commit
// does), 2 s each, passes alternating. Run with -benchtime 1x.
func BenchmarkDiskFloorSyncInterval(b *testing.B) {
	for _, rate := range []float64{5000, 70000} {
		for _, iv := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond} {
			b.Run(fmt.Sprintf("rate=%.0f/interval=%v", rate, iv), func(b *testing.B) {
				benchFloor(b, FloorConfig{
					Nodes: 3, RecordBytes: 176, Rate: rate, EveryReplica: true, SyncInterval: iv, Duration: 2 * time.Second,
				})
			})
		}
	}
}

// benchFloor measures cfg's floor once per iteration and reports what the
// disk-floor benchmarks set side by side: writes and fsyncs per second,
// latency, and the stalls with their spacing.
func benchFloor(b *testing.B, cfg FloorConfig) {
	for range b.N {
		f, err := MeasureQuorumFloor(context.Background(), b.TempDir(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.WritesPerSec, "writes/s")
		b.ReportMetric(f.FsyncsPerSec, "fsyncs/s")
		b.ReportMetric(f.P50Us/1000, "p50-ms")
		b.ReportMetric(f.P99Us/1000, "p99-ms")
		b.ReportMetric(f.P999Us/1000, "p99.9-ms")
		b.ReportMetric(float64(f.Stalls)/f.DurationS, "stalls/s")
		b.ReportMetric(f.StallSpacingMs, "stall-spacing-ms")
	}
}

// benchFloorPairs runs benchFloor at each writer count, first with the
// config's switch off, then on, as "writers=N/<off>" and "writers=N/<on>".
func benchFloorPairs(b *testing.B, writers []int, off, on string, cfg func(writers int, on bool) FloorConfig) {
	for _, w := range writers {
		for _, v := range []bool{false, true} {
			name := off
			if v {
				name = on
			}
			b.Run(fmt.Sprintf("writers=%d/%s", w, name), func(b *testing.B) { benchFloor(b, cfg(w, v)) })
		}
	}
}

// MeasureBetterFloor measures both ways of writing the logs whatever the
// config says, and hands back the one its preference picks first.
func TestMeasureBetterFloorMeasuresBothWays(t *testing.T) {
	cfg := FloorConfig{Nodes: 3, RecordBytes: 144, Writers: 2, EveryReplica: true, Overwrite: true, Duration: 150 * time.Millisecond}
	for _, c := range []struct {
		name   string
		better func(a, b *DiskFloor) bool
	}{
		{"more writes", MoreWrites},
		{"lower p99", LowerP99},
		{"append always", func(a, _ *DiskFloor) bool { return !a.Overwrite }},
		{"overwrite always", func(a, _ *DiskFloor) bool { return a.Overwrite }},
	} {
		best, other, err := MeasureBetterFloor(context.Background(), t.TempDir(), cfg, c.better)
		if err != nil {
			t.Fatal(err)
		}
		checkFloorFigures(t, best)
		checkFloorFigures(t, other)
		if best.Overwrite == other.Overwrite {
			t.Fatalf("%s: both floors written the same way (%s)", c.name, best.Way())
		}
		if c.better(other, best) {
			t.Errorf("%s: kept %s (%.0f writes/s, p99 %.0f µs) over %s (%.0f writes/s, p99 %.0f µs)", c.name,
				best.Way(), best.WritesPerSec, best.P99Us, other.Way(), other.WritesPerSec, other.P99Us)
		}
	}
}
