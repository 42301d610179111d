package wal

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// segmentTails reports, for every segment file of dir's log, how many
// bytes follow its last whole record (the padding), and checks that
// each file's records hold the indexes its name says.
func segmentTails(t *testing.T, dir string) []int {
	t.Helper()
	segs, err := listSegments(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	var tails []int
	for _, s := range segs {
		data := mustRead(t, s.path)
		var ti termIndex
		ti.resetTo(s.start)
		good, cerr := scanRecords(data, &ti)
		if cerr != nil && !allZero(data[good:]) {
			t.Fatalf("%s: %v", s.path, cerr)
		}
		tails = append(tails, len(data)-good)
	}
	return tails
}

// closeLeavesExactSegments closes w and checks that every segment in
// dir ends with its last record and no spare file is left.
func closeLeavesExactSegments(t *testing.T, w *WAL, dir string) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range segmentTails(t, dir) {
		if n != 0 {
			t.Fatalf("after Close a segment has %d bytes after its last record", n)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, spareTmpPattern)); len(left) > 0 {
		t.Fatalf("spare files left after Close: %v", left)
	}
}

// TestPreallocatedSegments: by default segments start in prepared files
// of zeros (counted in Stats),
// commits inside them use fdatasync, only the tail ever holds zeros
// after its records (a rotation cuts them before the next segment
// exists), Close leaves exact segments and no spare file, and the log
// reads back whole with Options.AppendSegments (the format is the same).
func TestPreallocatedSegments(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const last = 1200 // ~40 segments of payload(i)
	next := uint64(1)
	sawPadding := false
	for next <= last {
		hi := min(next+29, last)
		mustAppend(t, w, ents(next, hi, 1))
		next = hi + 1
		tails := segmentTails(t, dir)
		for _, n := range tails[:len(tails)-1] {
			if n != 0 {
				t.Fatalf("a segment before the tail has %d bytes after its last record", n)
			}
		}
		sawPadding = sawPadding || tails[len(tails)-1] > 0
		time.Sleep(5 * time.Millisecond) // let the next spare be written
	}
	st := w.Stats()
	if st.PreallocatedSegments < 2 || st.Datasyncs == 0 || !sawPadding {
		t.Fatalf("preallocated segments %d, datasyncs %d, padded tail seen %v: the option did nothing",
			st.PreallocatedSegments, st.Datasyncs, sawPadding)
	}
	wantEntries(t, w, 1, last, constTerm(1))
	closeLeavesExactSegments(t, w, dir)
	r, err := Open(dir, Options{SegmentBytes: 32 << 10, AppendSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantLog(t, r, 1, last, constTerm(1))
	wantEntries(t, r, 1, last, constTerm(1))
}

// TestPreallocatedTailSurvivesCrash: the files as a crash leaves them
// while a preallocated tail is in use (its zeros, a spare being or
// already prepared) open cleanly: every acknowledged entry is there, the
// zeros are cut, the spare is removed, and the log takes writes again.
func TestPreallocatedTailSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := uint64(1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mustAppend(t, w, ents(next, next+19, 1))
		next += 20
		tails := segmentTails(t, dir)
		spares, _ := filepath.Glob(filepath.Join(dir, spareTmpPattern))
		if tails[len(tails)-1] > 0 && len(spares) > 0 {
			break // written into a spare, the next one prepared or being written
		}
		if time.Now().After(deadline) {
			t.Fatal("no preallocated tail in use after 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	crashed := copyDir(t, dir) // the flusher is idle: a kill -9 now leaves this
	if left, _ := filepath.Glob(filepath.Join(crashed, spareTmpPattern)); len(left) == 0 {
		t.Fatal("no spare file in the crashed copy")
	}
	r, err := Open(crashed, Options{SegmentBytes: 16 << 10})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	wantLog(t, r, 1, next-1, constTerm(1))
	wantEntries(t, r, 1, next-1, constTerm(1))
	mustAppend(t, r, ents(next, next+49, 1))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crashed); err != nil {
		t.Fatal(err)
	}
	r, err = Open(crashed, Options{SegmentBytes: 16 << 10, AppendSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantEntries(t, r, 1, next+49, constTerm(1))
}

// stepRecorder is an FS whose files record, at every Write and Sync,
// how many of their bytes were written but not yet waited for by range
// writeback (wal.WritebackFile with wait), passing every call on to the
// real file.
type stepRecorder struct {
	OSFS
	maxUnwaited, writes, syncs int64
	unwaitedAtSync             int64
}

type stepFile struct {
	*os.File
	r               *stepRecorder
	written, waited int64
}

func (r *stepRecorder) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &stepFile{File: f, r: r}, nil
}

func (f *stepFile) Write(p []byte) (int, error) {
	// Before this write lands: what earlier writes left unwaited.
	f.r.maxUnwaited = max(f.r.maxUnwaited, f.written-f.waited)
	f.r.writes++
	n, err := f.File.Write(p)
	f.written += int64(n)
	return n, err
}

func (f *stepFile) Writeback(off, n int64, wait bool) (bool, error) {
	ok, err := osWriteback(f.File, off, n, wait)
	if ok && err == nil && wait && off == f.waited {
		f.waited = off + n
	}
	return ok, err
}

func (f *stepFile) Sync() error {
	f.r.syncs++
	f.r.unwaitedAtSync = max(f.r.unwaitedAtSync, f.written-f.waited)
	return f.File.Sync()
}

// TestSpareZerosWrittenOutStepByStep: a spare segment's zeros reach the
// disk in steps (spareStepBytes), never more than two steps written and
// not waited for, and all of them waited for before its one fsync: so a
// log fdatasync never finds a whole segment of zeros queued before it.
// The spare is the full size and all zeros.
func TestSpareZerosWrittenOutStepByStep(t *testing.T) {
	defer func(n int) { spareStepBytes = n }(spareStepBytes)
	spareStepBytes = 64 << 10
	rec := &stepRecorder{}
	dir := t.TempDir()
	var sy syncer
	sy.fs = rec
	path := filepath.Join(dir, "segment.1.spare.tmp")
	const size = 1<<20 + 5000
	if err := writeZeros(sy, path, size); err != nil {
		t.Fatal(err)
	}
	if ok, _ := osWriteback(mustOpen(t, path), 0, 1, false); !ok {
		t.Skip("no range writeback on this file system")
	}
	if rec.writes < size/int64(spareStepBytes) {
		t.Fatalf("%d writes for %d bytes in %d-byte steps", rec.writes, size, spareStepBytes)
	}
	if rec.maxUnwaited > 2*int64(spareStepBytes) {
		t.Fatalf("%d bytes written and not waited for at a write: more than two steps of %d", rec.maxUnwaited, spareStepBytes)
	}
	if rec.syncs != 1 || rec.unwaitedAtSync != 0 {
		t.Fatalf("%d fsyncs, %d bytes not waited for at the fsync; want 1 and 0", rec.syncs, rec.unwaitedAtSync)
	}
	data := mustRead(t, path)
	if len(data) != size || !allZero(data) {
		t.Fatalf("spare: %d bytes (want %d), all zeros %v", len(data), size, allZero(data))
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
