package wal

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

const recycleSegBytes = 4 << 10

// messageLog is a slog handler that keeps every message, for tests that
// check what recovery said.
type messageLog struct {
	mu   sync.Mutex
	msgs []string
}

func (m *messageLog) Enabled(context.Context, slog.Level) bool { return true }
func (m *messageLog) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	m.msgs = append(m.msgs, r.Level.String()+" "+r.Message)
	m.mu.Unlock()
	return nil
}
func (m *messageLog) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messageLog) WithGroup(string) slog.Handler      { return m }

func (m *messageLog) has(part string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.msgs {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// tailState reports the last segment of dir's log: its first index, the
// offset after its last whole record, and whether the bytes after that
// hold old records (well formed, below its first index) rather than
// zeros. Every segment before it must be exact.
func tailState(t *testing.T, dir string) (start uint64, good int, oldAfter bool) {
	t.Helper()
	segs, err := listSegments(filepath.Join(dir, logDirName))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range segs {
		data := mustRead(t, s.path)
		var ti termIndex
		ti.resetTo(s.start)
		g, cerr := scanRecords(data, &ti)
		if i < len(segs)-1 {
			if cerr != nil {
				t.Fatalf("segment %s before the tail: %v", s.path, cerr)
			}
			continue
		}
		_, oldAfter = wellFormedRecordAfter(data, g, func(i uint64) bool { return i < s.start })
		return s.start, g, oldAfter
	}
	t.Fatal("no segment")
	return 0, 0, false
}

// recycleUntilOldTail appends entries from next on, in batches, until
// the tail segment is a recycled file with old records after at least
// three new ones (bounded in time), and returns the next index to write.
func recycleUntilOldTail(t *testing.T, w *WAL, dir string, next uint64) uint64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		mustAppend(t, w, ents(next, next+9, 1))
		next += 10
		if start, _, old := tailState(t, dir); old && start+3 < next && w.Stats().RecycledSegments > 0 {
			return next // old records after at least three new ones
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recycled tail with old records after 10 s (stats %+v)", w.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// openRecycling opens dir with small segments, writes 1..600 and saves a
// snapshot at 500, and waits until the remover has recycled the covered
// segments.
func openRecycling(t *testing.T, dir string) *WAL {
	t.Helper()
	w, err := Open(dir, Options{SegmentBytes: recycleSegBytes})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 600; i += 20 {
		mustAppend(t, w, ents(i, i+19, 1))
	}
	if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 500, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); w.recycled.len() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no compacted segment recycled after 5 s")
		}
	}
	return w
}

// TestCompactedSegmentsBecomeSegments: the segments a snapshot covers
// are kept and become later segments (counted in Stats), with their old
// frames after the new ones only while they are the tail; every entry
// reads back; Close leaves exact segments and no spare, and the log
// reads back whole when reopened appending.
func TestCompactedSegmentsBecomeSegments(t *testing.T) {
	dir := t.TempDir()
	w := openRecycling(t, dir)
	next := recycleUntilOldTail(t, w, dir, 601)
	for ; next <= 2000; next += 20 { // through several recycled segments
		mustAppend(t, w, ents(next, next+19, 1))
	}
	last := next - 1
	st := w.Stats()
	if st.RecycledSegments < 2 || st.RecycledRefused != 0 {
		t.Fatalf("stats %+v: want several recycled segments, none refused", st)
	}
	tailState(t, dir) // every segment before the tail exact
	wantLog(t, w, 501, last, constTerm(1))
	closeLeavesExactSegments(t, w, dir)
	r, err := Open(dir, Options{SegmentBytes: recycleSegBytes, AppendSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantLog(t, r, 501, last, constTerm(1))
}

// TestRecycledTailSurvivesCrash: the files as a crash leaves them while
// a recycled segment is the tail (old records after the acknowledged
// ones) open with every acknowledged entry and no old one, saying so at
// Info, not as a torn tail; a torn last write before the old records is
// cut the same way; a damaged acknowledged record in that segment is
// still reported as corruption, not cut.
func TestRecycledTailSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	w := openRecycling(t, dir)
	defer w.Close()
	next := recycleUntilOldTail(t, w, dir, 601)
	last := next - 1
	crashed := copyDir(t, dir) // the flusher is idle: a kill -9 now leaves this
	start, good, _ := tailState(t, crashed)
	if start >= last {
		t.Fatalf("tail starts at %d, the last entry is %d: want several records in it", start, last)
	}

	t.Run("old records cut", func(t *testing.T) {
		d := copyDir(t, crashed)
		msgs := &messageLog{}
		r, err := Open(d, Options{SegmentBytes: recycleSegBytes, Logger: slog.New(msgs)})
		if err != nil {
			t.Fatalf("open after crash: %v", err)
		}
		wantLog(t, r, 501, last, constTerm(1))
		if !msgs.has("INFO wal: cut a recycled segment's old records") || msgs.has("torn tail") {
			t.Fatalf("recovery said %v", msgs.msgs)
		}
		mustAppend(t, r, ents(next, next+99, 1))
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		r, err = Open(d, Options{SegmentBytes: recycleSegBytes})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wantLog(t, r, 501, next+99, constTerm(1))
	})

	t.Run("torn write before old records", func(t *testing.T) {
		d := copyDir(t, crashed)
		p := filepath.Join(d, logDirName, segmentName(start))
		data := mustRead(t, p)
		// The first bytes of the next record, as a write torn after them.
		rec := appendRecord(nil, &raftpb.Entry{Index: last + 1, Term: 1, Data: payload(last + 1)})
		frame := append(binary.AppendUvarint(nil, uint64(len(rec))), rec...)
		copy(data[good:], frame[:len(frame)/2])
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		r, err := Open(d, Options{SegmentBytes: recycleSegBytes})
		if err != nil {
			t.Fatalf("open after a torn write: %v", err)
		}
		defer r.Close()
		wantLog(t, r, 501, last, constTerm(1))
	})

	t.Run("damaged acknowledged record", func(t *testing.T) {
		d := copyDir(t, crashed)
		p := filepath.Join(d, logDirName, segmentName(start))
		data := mustRead(t, p)
		starts := frameStarts(t, data[:good])
		data[starts[0]+recHeaderSize+3] ^= 0x40 // inside the first record's data
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := Open(d, Options{SegmentBytes: recycleSegBytes})
		wantErr(t, err, ErrCorrupt)
	})
}

// TestRecycledFileNeverOverlapsItsSegment: a recycled file becomes a
// segment only if that segment's first index is above every index the
// file may hold (oldUpTo); at the boundary it is refused, removed and
// counted. Then, with a pooled file that claims indexes far above the
// log, every later segment is still written and read back whole.
func TestRecycledFileNeverOverlapsItsSegment(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: recycleSegBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	spare := func() spareResult {
		p := filepath.Join(dir, "segment.999999.spare.tmp")
		if err := os.WriteFile(p, make([]byte, recycleSegBytes), 0o640); err != nil {
			t.Fatal(err)
		}
		return spareResult{path: p, recycled: true, oldUpTo: 100}
	}
	if s := spare(); !w.spareFits(s, 101) {
		t.Fatal("a recycled file whose indexes are all below the segment's was refused")
	}
	if s := spare(); w.spareFits(s, 100) {
		t.Fatal("a recycled file that may hold the segment's first index was accepted")
	} else if _, err := os.Stat(s.path); !os.IsNotExist(err) {
		t.Fatalf("refused file not removed: %v", err)
	}
	if s := (spareResult{path: "zeros"}); !w.spareFits(s, 1) {
		t.Fatal("a spare of zeros was refused")
	}
	if got := w.Stats().RecycledRefused; got != 1 {
		t.Fatalf("RecycledRefused = %d, want 1", got)
	}

	// In the WAL's own rotations: a pooled file claiming every index up
	// to 1<<40 is taken as the spare at some rotation and refused there.
	p := filepath.Join(dir, "segment.999998.spare.tmp")
	if err := os.WriteFile(p, make([]byte, recycleSegBytes), 0o640); err != nil {
		t.Fatal(err)
	}
	w.recycled.put(recycledFile{path: p, oldUpTo: 1 << 40})
	next := uint64(1)
	for deadline := time.Now().Add(10 * time.Second); w.Stats().RecycledRefused < 2; next += 10 {
		mustAppend(t, w, ents(next, next+9, 1))
		if time.Now().After(deadline) {
			t.Fatalf("the pooled file was never refused (stats %+v)", w.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	mustAppend(t, w, ents(next, next+199, 1))
	if st := w.Stats(); st.RecycledSegments != 0 {
		t.Fatalf("stats %+v: the overlapping file was used", st)
	}
	wantLog(t, w, 1, next+199, constTerm(1))
}
