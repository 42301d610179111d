package wal

import (
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

func TestSmokeOpenAppendReopen(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 50; i++ {
		if err := w.Append([]raftpb.Entry{{Index: i, Term: 1 + i/10, Data: []byte("hello")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SaveHardState(raftpb.HardState{Term: 3, Vote: 2, Commit: 40}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = Open(dir, Options{SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.LastIndex() != 50 || w.FirstIndex() != 1 {
		t.Fatalf("range %d..%d", w.FirstIndex(), w.LastIndex())
	}
	es, err := w.Entries(1, 51)
	if err != nil || len(es) != 50 || es[49].Index != 50 || string(es[3].Data) != "hello" {
		t.Fatalf("entries %v %v", len(es), err)
	}
	if hs := w.HardState(); hs.Commit != 40 {
		t.Fatalf("hs %+v", hs)
	}
}
