package wal

import (
	"errors"
	"sync"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestReadsBesideSegmentRemoval reads the whole log over and over while
// a writer appends and installs snapshots, each one compacting the log
// and removing covered segments in the background: a read either
// returns every entry it asked for, intact, or ErrCompacted (its range
// was compacted meanwhile), never a missing segment or other damage.
func TestReadsBesideSegmentRemoval(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 512, UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			lo, hi := w.FirstIndex(), w.LastIndex()
			if hi < lo {
				continue
			}
			es, err := w.Entries(lo, hi+1)
			if errors.Is(err, ErrCompacted) {
				continue
			}
			if err == nil && len(es) != int(hi-lo+1) {
				err = errors.New("short read")
			}
			for i := range es {
				if err == nil && (es[i].Index != lo+uint64(i) || string(es[i].Data) != string(payload(es[i].Index))) {
					err = errors.New("wrong entry")
				}
			}
			if err != nil {
				readErr = err
				return
			}
			reads++
		}
	}()
	next := uint64(1)
	for round := 0; round < 40; round++ {
		mustAppend(t, w, ents(next, next+49, 1))
		next += 50
		if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: next - 10, Term: 1}, Data: []byte("s")}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("read beside segment removal: %v", readErr)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(w.logDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) > 3 {
		t.Fatalf("%d segments left after 40 snapshots: covered segments not removed", len(segs))
	}
	t.Logf("%d whole-log reads", reads)
}
