package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenTail appends arbitrary bytes to the last segment of a valid
// log and opens it. Whatever the bytes, Open must not panic, must never
// lose or damage the whole records that were there, and must either
// succeed (the tail was cut, or held valid records for the next
// indexes) or report ErrCorrupt at an offset inside the appended bytes.
// Reopening a log Open accepted must give the same log, and the WAL's
// segment writer must continue it: an entry appended after the repair
// reads back after another reopen.
func FuzzOpenTail(f *testing.F) {
	const n = 12
	base := f.TempDir()
	segs := buildLogF(f, base, n)
	lastRel, _ := filepath.Rel(base, segs[len(segs)-1].path)
	orig, err := os.ReadFile(segs[len(segs)-1].path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(make([]byte, 600))
	f.Add([]byte{0x80})
	f.Add([]byte{60, 1, 2, 3})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := copyDir(t, base)
		path := filepath.Join(dir, lastRel)
		writeFile(t, path, append(append([]byte(nil), orig...), tail...))
		w, err := Open(dir, Options{SegmentBytes: 256, UnsafeNoFsync: true})
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != path || ce.Offset < int64(len(orig)) {
				t.Fatalf("open failed outside the appended tail: %v", err)
			}
			return
		}
		last := w.LastIndex()
		if last < n {
			t.Fatalf("whole records lost: last index %d < %d", last, n)
		}
		wantEntries(t, w, 1, n, constTerm(1))
		if _, err := w.Entries(1, last+1); err != nil {
			t.Fatalf("read after open: %v", err)
		}
		_ = w.Close()
		w, err = Open(dir, Options{SegmentBytes: 256, UnsafeNoFsync: true})
		if err != nil || w.LastIndex() != last {
			t.Fatalf("reopen: %v (last %d, was %d)", err, w.LastIndex(), last)
		}
		mustAppend(t, w, ents(last+1, last+1, 2))
		_ = w.Close()
		w, err = Open(dir, Options{SegmentBytes: 256, UnsafeNoFsync: true})
		if err != nil || w.LastIndex() != last+1 {
			t.Fatalf("reopen after an append: %v (last %d, want %d)", err, w.LastIndex(), last+1)
		}
		wantEntries(t, w, last+1, last+1, constTerm(2))
		_ = w.Close()
	})
}

func buildLogF(f *testing.F, dir string, n uint64) []segment {
	w, err := Open(dir, Options{SegmentBytes: 256, UnsafeNoFsync: true})
	if err != nil {
		f.Fatal(err)
	}
	for i := uint64(1); i <= n; i++ {
		if err := w.Append(ents(i, i, 1)); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	segs, err := listSegments(filepath.Join(dir, logDirName))
	if err != nil {
		f.Fatal(err)
	}
	return segs
}
