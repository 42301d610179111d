package wal

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// blockFlusher submits a write whose done callback blocks the flusher
// goroutine until release is called, so a test can fill the queue
// deterministically.
func blockFlusher(t *testing.T, w *WAL, index uint64) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	err := w.Submit(Write{Entries: ents(index, index, 1)}, func(err error) {
		close(entered)
		<-gate
	})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	return func() { close(gate) }
}

// Writes queued while the flusher is busy are committed together: one
// write, one fsync, all waiters completed.
func TestGroupCommitOneFsync(t *testing.T) {
	w, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	release := blockFlusher(t, w, 1)
	before := w.Stats()
	var wg sync.WaitGroup
	for i := uint64(2); i <= 51; i++ {
		wg.Add(1)
		if err := w.Submit(Write{Entries: ents(i, i, 1)}, func(error) { wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Stats().QueueDepth; got != 50 {
		t.Fatalf("queue depth %d, want 50", got)
	}
	release()
	wg.Wait()
	after := w.Stats()
	if f, e := after.Fsyncs-before.Fsyncs, after.Entries-before.Entries; f != 1 || e != 50 {
		t.Fatalf("50 queued writes took %d fsyncs for %d entries, want 1 fsync", f, e)
	}
	if after.MaxBatchEntries != 50 || after.QueueDepth != 0 {
		t.Fatalf("stats %+v", after)
	}
}

func TestQueueLimits(t *testing.T) {
	w, err := Open(t.TempDir(), Options{MaxQueueWrites: 4, MaxBatchBytes: 4096, MaxQueueBytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	release := blockFlusher(t, w, 1)
	var wg sync.WaitGroup
	done := func(error) { wg.Done() }
	for i := uint64(2); i <= 5; i++ {
		wg.Add(1)
		if err := w.Submit(Write{Entries: ents(i, i, 1)}, done); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, w.Submit(Write{Entries: ents(6, 6, 1)}, done), ErrQueueFull)
	release()
	wg.Wait()
	big := []raftpb.Entry{{Index: 6, Term: 1, Data: make([]byte, 5000)}}
	wantErr(t, w.Append(big), ErrTooLarge)
	mustAppend(t, w, ents(6, 6, 1))
	wantLog(t, w, 1, 6, constTerm(1))
}

// Sequential appends: one fsync each; with tiny segments the flusher
// must keep following tidwall's tail segment across rotations.
func TestFsyncPerCommitAndTailTracking(t *testing.T) {
	w, err := Open(t.TempDir(), Options{SegmentBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := uint64(1); i <= 60; i++ {
		mustAppend(t, w, ents(i, i, 1))
		segs, err := listSegments(w.logDir)
		if err != nil {
			t.Fatal(err)
		}
		tail := w.fl.tail.Name() // flusher idle: Append returned after done
		last := segs[len(segs)-1]
		ok := tail == last.path
		if !ok && len(segs) >= 2 && tail == segs[len(segs)-2].path {
			// tidwall rotated right after the last entry: the new
			// segment is empty until the next batch.
			ok = fileSize(t, last.path) == 0
		}
		if !ok {
			t.Fatalf("after %d: flusher fsyncs %s, tail segment is %s", i, tail, last.path)
		}
	}
	if st := w.Stats(); st.Fsyncs != 60 || st.Entries != 60 || st.Flushes != 60 || st.Writes != 60 {
		t.Fatalf("stats after 60 sequential appends: %+v", st)
	}
	if segs, _ := listSegments(w.logDir); len(segs) < 5 {
		t.Fatalf("only %d segments: test does not cross boundaries", len(segs))
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w, err := Open(dir, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, ents(1, 5, 1))
	mustAppend(t, w, ents(6, 6, 1))
	if got := testutil.ToFloat64(w.met.fsyncs); got != 2 {
		t.Fatalf("fsyncs_total = %v, want 2", got)
	}
	n, err := testutil.GatherAndCount(reg, "raftbench_wal_fsyncs_total", "raftbench_wal_fsync_duration_seconds",
		"raftbench_wal_entries_per_fsync", "raftbench_wal_bytes_per_fsync", "raftbench_wal_queue_depth")
	if err != nil || n != 5 {
		t.Fatalf("gathered %d metric families, %v", n, err)
	}
	// A second WAL on the same registry conflicts; after Close, the
	// collectors are gone and a reopen registers again.
	if _, err := Open(t.TempDir(), Options{Registerer: reg}); err == nil {
		t.Fatal("second WAL on the same registry registered the same names")
	}
	w.Close()
	if w, err = Open(dir, Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Several WALs share a registry when each is labelled.
	shared := prometheus.NewRegistry()
	for _, node := range []string{"1", "2"} {
		w, err := Open(t.TempDir(), Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"node": node}, shared)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
}

func TestUnsafeNoFsyncStillDurableOnClose(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{UnsafeNoFsync: true, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, ents(1, 30, 1))
	if st := w.Stats(); st.Fsyncs != 0 || st.Flushes != 1 {
		t.Fatalf("stats %+v", st)
	}
	w.Close()
	w, err = Open(filepath.Clean(dir), Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wantLog(t, w, 1, 30, constTerm(1))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	return int64(len(mustRead(t, path)))
}

// TestMinSyncIntervalSpacesCommits: with Options.MinSyncInterval, writes
// submitted one after another in a steady stream are committed in
// groups no closer together than the interval (so far fewer fsyncs than
// writes), every write completes, and the log reads back whole; without
// it, the same stream is committed as it comes. A negative interval is
// refused.
func TestMinSyncIntervalSpacesCommits(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{MinSyncInterval: -time.Millisecond}); err == nil {
		t.Fatal("Open accepted a negative MinSyncInterval")
	}
	const writes, gap, interval = 60, time.Millisecond, 20 * time.Millisecond
	stream := func(iv time.Duration) (fsyncs uint64, took time.Duration) {
		w, err := Open(t.TempDir(), Options{MinSyncInterval: iv})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		mustAppend(t, w, ents(1, 1, 1))
		before := w.Stats()
		start := time.Now()
		var wg sync.WaitGroup
		for i := uint64(2); i < 2+writes; i++ {
			wg.Add(1)
			if err := w.Submit(Write{Entries: ents(i, i, 1)}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(gap)
		}
		wg.Wait()
		took = time.Since(start)
		wantLog(t, w, 1, 1+writes, func(uint64) uint64 { return 1 })
		return w.Stats().Fsyncs - before.Fsyncs, took
	}
	spaced, took := stream(interval)
	if most := uint64(took/interval) + 2; spaced > most {
		t.Fatalf("%d fsyncs in %v with a %v interval: at most %d expected", spaced, took, interval, most)
	}
	if unspaced, _ := stream(0); unspaced <= spaced {
		t.Fatalf("%d fsyncs without an interval, %d with one: the interval grouped nothing", unspaced, spaced)
	}
}
