package wal

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestPacedSnapshotWrite writes a snapshot under Options.SnapshotWriteRate:
// it is installed intact, and writing it took at least its size over
// the rate (a lower bound only: the pacing sleeps, it never hurries).
// A negative rate is refused.
func TestPacedSnapshotWrite(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{SnapshotWriteRate: -1}); err == nil {
		t.Fatal("Open accepted a negative SnapshotWriteRate")
	}
	const rate, size = 8 << 20, 1 << 20
	w, err := Open(t.TempDir(), Options{SnapshotWriteRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustAppend(t, w, ents(1, 20, 1))
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	start := time.Now()
	f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 20, Term: 1}, size)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < size; off += 64 << 10 {
		if _, err := f.Write(data[off : off+64<<10]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if took, least := time.Since(start), time.Duration(size)*time.Second/rate*9/10; took < least {
		t.Fatalf("a %d-byte snapshot at %d B/s was written in %v, want >= %v", size, rate, took, least)
	}
	d, err := w.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d.Reader())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("paced snapshot read back: %d bytes, %v", len(got), err)
	}
}

// TestSnapshotWrittenBackAsItGrows checks the step-by-step writeback's
// bookkeeping on a real file: after each step the waited-for and
// started ranges are contiguous and trail the bytes written by at most
// two steps and the write buffer, and the finished file is intact.
func TestSnapshotWrittenBackAsItGrows(t *testing.T) {
	defer func(n int64) { snapWritebackBytes = n }(snapWritebackBytes)
	snapWritebackBytes = 128 << 10
	w, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustAppend(t, w, ents(1, 5, 1))
	const size = 3 << 20
	f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 5, Term: 1}, size)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 100<<10)
	steps := 0
	for n := 0; n < size; {
		k := min(len(chunk), size-n)
		if _, err := f.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n += k
		if f.noRange {
			t.Skip("no range writeback on this file system")
		}
		if f.wbWait > f.wbStart || f.wbStart > f.total {
			t.Fatalf("writeback ranges [%d, %d) past the %d bytes written", f.wbWait, f.wbStart, f.total)
		}
		if lag := f.total - f.wbWait; lag > 2*snapWritebackBytes+int64(f.bw.Size())+int64(len(chunk)) {
			t.Fatalf("%d bytes written but not waited for: more than two steps", lag)
		}
		if f.wbStart > 0 {
			steps++
		}
	}
	if steps == 0 {
		t.Fatal("no writeback step in a 3 MiB file with 128 KiB steps")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	s, err := w.Snapshot()
	if err != nil || len(s.Data) != size || !bytes.Equal(s.Data[:len(chunk)], chunk) {
		t.Fatalf("snapshot read back: %d bytes, %v", len(s.Data), err)
	}
}
