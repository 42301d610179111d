package wal

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// A snapshot being written must not hold up log writes: the flusher
// only installs a finished file. The log write below would wait forever
// if the flusher wrote the image (the snapshot is half written until
// after the write completes).
func TestSnapshotWriteDoesNotBlockLog(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustAppend(t, w, ents(1, 40, 1))
	data := bytes.Repeat([]byte("snapshot-data-"), 100_000)
	meta := raftpb.SnapshotMeta{Index: 30, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
	f, err := w.CreateSnapshot(meta, uint64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() { appended <- w.Append(ents(41, 60, 1)) }()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a log write waited for a snapshot that is still being written")
	}
	if w.FirstIndex() != 1 {
		t.Fatalf("log compacted to %d before the snapshot was committed", w.FirstIndex())
	}
	if _, err := f.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantLog(t, w, 31, 60, constTerm(1))
	got, err := w.Snapshot()
	if err != nil || got.Meta.Index != 30 || !bytes.Equal(got.Data, data) {
		t.Fatalf("Snapshot() = %+v (%d bytes), %v", got.Meta, len(got.Data), err)
	}
	d, err := w.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	streamed, err := io.ReadAll(d.Reader())
	if err != nil || !bytes.Equal(streamed, data) || d.Meta.Index != 30 || len(d.Meta.Voters) != 3 {
		t.Fatalf("OpenSnapshot: %+v, %d bytes, %v", d.Meta, len(streamed), err)
	}
	part := make([]byte, 10)
	if n, err := d.ReadAt(part, d.Size()-4); n != 4 || err != io.EOF || !bytes.Equal(part[:4], data[len(data)-4:]) {
		t.Fatalf("ReadAt at the end: %d, %v", n, err)
	}

	// Damage one data byte: reading to the end reports it, in order or not.
	path := filepath.Join(dir, snapshotName)
	b := mustRead(t, path)
	b[len(b)-1000] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	d2, err := w.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, err := io.ReadAll(d2.Reader()); !errorsIs(err, ErrCorrupt) {
		t.Fatalf("reading a damaged snapshot: %v, want ErrCorrupt", err)
	}
	d3, _ := w.OpenSnapshot()
	defer d3.Close()
	if _, err := d3.ReadAt(part, d3.Size()-4); !errorsIs(err, ErrCorrupt) {
		t.Fatalf("reading the end of a damaged snapshot: %v, want ErrCorrupt", err)
	}
}

// Writing more or fewer bytes than announced, or a snapshot older than
// the stored one, is an error that leaves the stored snapshot and the
// log alone and no file behind.
func TestSnapshotFileMisuse(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustAppend(t, w, ents(1, 20, 1))
	if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 10, Term: 1}, Data: []byte("ten")}); err != nil {
		t.Fatal(err)
	}
	f, _ := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 15, Term: 1}, 4)
	if _, err := f.Write([]byte("12345")); err == nil {
		t.Fatal("wrote past the announced size")
	}
	if err := f.Commit(); err == nil {
		t.Fatal("committed a snapshot with a failed write")
	}
	f, _ = w.CreateSnapshot(raftpb.SnapshotMeta{Index: 15, Term: 1}, 4)
	f.Write([]byte("12"))
	if err := f.Commit(); err == nil {
		t.Fatal("committed a short snapshot")
	}
	f, _ = w.CreateSnapshot(raftpb.SnapshotMeta{Index: 5, Term: 1}, 1)
	f.Write([]byte("5"))
	wantErr(t, f.Commit(), ErrCompacted)
	left, _ := filepath.Glob(filepath.Join(dir, snapTmpPattern))
	if len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
	wantLog(t, w, 11, 20, constTerm(1))
	if s, err := w.Snapshot(); err != nil || string(s.Data) != "ten" {
		t.Fatalf("stored snapshot changed: %+v %q %v", s.Meta, s.Data, err)
	}
}

// A crash while a snapshot is written leaves the old snapshot and the
// whole log; Open removes the unfinished file. A damaged snapshot file
// is reported by OpenSnapshot and Open, never served.
func TestSnapshotCrashMidWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, ents(1, 20, 1))
	if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 5, Term: 1}, Data: []byte("old state")}); err != nil {
		t.Fatal(err)
	}
	f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 15, Term: 1}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 300<<10)) // the process dies here
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, snapTmpPattern)); len(left) != 1 {
		t.Fatalf("expected the unfinished file on disk, found %v", left)
	}
	w, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, snapTmpPattern)); len(left) != 0 {
		t.Fatalf("unfinished snapshot not removed at open: %v", left)
	}
	wantLog(t, w, 6, 20, constTerm(1))
	if s, err := w.Snapshot(); err != nil || s.Meta.Index != 5 || string(s.Data) != "old state" {
		t.Fatalf("after the crash: %+v %q %v", s.Meta, s.Data, err)
	}
	w.Close()

	path := filepath.Join(dir, snapshotName)
	b := mustRead(t, path)
	b[len(b)-6] ^= 0x40 // a data byte
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errorsIs(err, ErrCorrupt) {
		t.Fatalf("Open with a damaged snapshot: %v, want ErrCorrupt", err)
	}
}
