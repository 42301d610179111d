package wal

import (
	"slices"
	"sync"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// The scenario tests run against both implementations, with segments
// small enough (256 bytes, a few records) that every scenario crosses
// segment boundaries in the WAL.
func forEachImpl(t *testing.T, f func(t *testing.T, im impl)) {
	for _, im := range impls(256) {
		t.Run(im.name, func(t *testing.T) { f(t, im) })
	}
}

func TestEmptyLog(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		for range 2 {
			if l.FirstIndex() != 1 || l.LastIndex() != 0 {
				t.Fatalf("empty log range [%d, %d]", l.FirstIndex(), l.LastIndex())
			}
			if term, err := l.Term(0); err != nil || term != 0 {
				t.Fatalf("Term(0) = %d, %v", term, err)
			}
			_, err := l.Term(1)
			wantErr(t, err, ErrOutOfRange)
			_, err = l.Entries(1, 2)
			wantErr(t, err, ErrOutOfRange)
			if es, err := l.Entries(1, 1); err != nil || len(es) != 0 {
				t.Fatalf("Entries(1,1) = %v, %v", es, err)
			}
			_, err = l.Snapshot()
			wantErr(t, err, ErrNoSnapshot)
			if !l.HardState().IsEmpty() {
				t.Fatalf("hard state %+v", l.HardState())
			}
			l = im.restart(t, l)
		}
	})
}

func TestAppendReadReopen(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		terms := func(i uint64) uint64 { return 1 + i/20 }
		for i := uint64(1); i <= 100; i += 10 {
			var es []raftpb.Entry
			for j := i; j < i+10; j++ {
				es = append(es, ents(j, j, terms(j))...)
			}
			mustAppend(t, l, es)
		}
		wantLog(t, l, 1, 100, terms)
		l = im.restart(t, l)
		wantLog(t, l, 1, 100, terms)
		mustAppend(t, l, ents(101, 105, 9))
		l = im.restart(t, l)
		wantLog(t, l, 1, 105, func(i uint64) uint64 {
			if i > 100 {
				return 9
			}
			return terms(i)
		})
		_, err := l.Entries(50, 107)
		wantErr(t, err, ErrOutOfRange)
		_, err = l.Entries(7, 6)
		wantErr(t, err, ErrOutOfRange)
	})
}

func TestSubmitCompletesInOrder(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		var mu sync.Mutex
		var got []int
		var wg sync.WaitGroup
		for i := 1; i <= 200; i++ {
			wg.Add(1)
			hs := raftpb.HardState{Term: 1, Commit: uint64(i)}
			err := l.Submit(Write{Entries: ents(uint64(i), uint64(i), 1), HardState: &hs}, func(err error) {
				if err != nil {
					t.Errorf("write %d: %v", i, err)
				}
				mu.Lock()
				got = append(got, i)
				mu.Unlock()
				wg.Done()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if !slices.IsSorted(got) || len(got) != 200 {
			t.Fatalf("completion order %v", got)
		}
		if l.LastIndex() != 200 || l.HardState().Commit != 200 {
			t.Fatalf("last %d hard state %+v", l.LastIndex(), l.HardState())
		}
		l = im.restart(t, l)
		wantLog(t, l, 1, 200, constTerm(1))
		if l.HardState() != (raftpb.HardState{Term: 1, Commit: 200}) {
			t.Fatalf("hard state after restart %+v", l.HardState())
		}
	})
}

// A write starting at or below the last index replaces the suffix, both
// when the replaced entries are durable and when they are still queued.
func TestWriteReplacesSuffix(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 40, 1))
		mustAppend(t, l, ents(25, 30, 2)) // durable conflict, across segments
		wantLog(t, l, 1, 30, func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i >= 25] })
		l = im.restart(t, l)
		wantLog(t, l, 1, 30, func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i >= 25] })

		// Queued conflicts: three Submits back to back, later ones
		// replacing parts of earlier ones before any is flushed.
		var wg sync.WaitGroup
		wg.Add(3)
		done := func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		}
		for _, w := range []Write{{Entries: ents(31, 50, 3)}, {Entries: ents(45, 60, 4)}, {Entries: ents(28, 35, 5)}} {
			if err := l.Submit(w, done); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		terms := func(i uint64) uint64 {
			switch {
			case i >= 28:
				return 5
			case i >= 25:
				return 2
			}
			return 1
		}
		wantLog(t, l, 1, 35, terms)
		l = im.restart(t, l)
		wantLog(t, l, 1, 35, terms)
		mustAppend(t, l, ents(1, 3, 7)) // replace everything
		wantLog(t, l, 1, 3, constTerm(7))
		l = im.restart(t, l)
		wantLog(t, l, 1, 3, constTerm(7))
	})
}

// TruncateSuffix at every position of a multi-segment log, with a
// restart after each.
func TestTruncateSuffixEverywhere(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 30, 1))
		for from := uint64(31); from >= 2; from -= 3 {
			if err := l.TruncateSuffix(from); err != nil {
				t.Fatalf("truncate from %d: %v", from, err)
			}
			wantLog(t, l, 1, from-1, constTerm(1))
			l = im.restart(t, l)
			wantLog(t, l, 1, from-1, constTerm(1))
		}
		if err := l.TruncateSuffix(1); err != nil {
			t.Fatal(err)
		}
		l = im.restart(t, l)
		if l.LastIndex() != 0 || l.FirstIndex() != 1 {
			t.Fatalf("range [%d, %d] after truncating all", l.FirstIndex(), l.LastIndex())
		}
		mustAppend(t, l, ents(1, 5, 2))
		wantLog(t, l, 1, 5, constTerm(2))
		if err := l.TruncateSuffix(99); err != nil { // past the end: no-op
			t.Fatal(err)
		}
		wantLog(t, l, 1, 5, constTerm(2))
	})
}

func TestCompactPrefix(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 60, 1))
		for _, upTo := range []uint64{1, 7, 8, 23, 40, 59} {
			if err := l.CompactPrefix(upTo); err != nil {
				t.Fatalf("compact %d: %v", upTo, err)
			}
			wantLog(t, l, upTo+1, 60, constTerm(1))
			l = im.restart(t, l)
			wantLog(t, l, upTo+1, 60, constTerm(1))
			_, err := l.Entries(upTo, 60)
			wantErr(t, err, ErrCompacted)
			_, err = l.Term(upTo)
			wantErr(t, err, ErrCompacted)
		}
		if err := l.CompactPrefix(3); err != nil { // below first: no-op
			t.Fatal(err)
		}
		wantErr(t, l.CompactPrefix(61), ErrOutOfRange)
		wantErr(t, l.Append(ents(59, 59, 1)), ErrCompacted) // append below first index
		wantErr(t, l.TruncateSuffix(10), ErrCompacted)
		if err := l.CompactPrefix(60); err != nil { // compact everything
			t.Fatal(err)
		}
		l = im.restart(t, l)
		if l.FirstIndex() != 61 || l.LastIndex() != 60 {
			t.Fatalf("range [%d, %d]", l.FirstIndex(), l.LastIndex())
		}
		mustAppend(t, l, ents(61, 70, 2))
		l = im.restart(t, l)
		wantLog(t, l, 61, 70, constTerm(2))
	})
}

func TestSnapshot(t *testing.T) {
	snap := func(index, term uint64) raftpb.Snapshot {
		return raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: index, Term: term, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}},
			Data: payload(index * 1000)}
	}
	checkSnap := func(t *testing.T, l Log, want raftpb.Snapshot) {
		t.Helper()
		got, err := l.Snapshot()
		if err != nil || got.Meta.Index != want.Meta.Index || got.Meta.Term != want.Meta.Term ||
			!slices.Equal(got.Meta.Voters, want.Meta.Voters) || string(got.Data) != string(want.Data) {
			t.Fatalf("Snapshot() = %+v, %v; want %+v", got.Meta, err, want.Meta)
		}
		if term, err := l.Term(want.Meta.Index); err != nil || term != want.Meta.Term {
			t.Fatalf("Term(snapshot index %d) = %d, %v", want.Meta.Index, term, err)
		}
	}
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 50, 2))
		// Overlap with matching term: the suffix after it is kept.
		s1 := snap(20, 2)
		if err := l.SaveSnapshot(s1); err != nil {
			t.Fatal(err)
		}
		wantLog(t, l, 21, 50, constTerm(2))
		checkSnap(t, l, s1)
		l = im.restart(t, l)
		wantLog(t, l, 21, 50, constTerm(2))
		checkSnap(t, l, s1)

		// Overlap with a different term: the log is discarded.
		s2 := snap(30, 3)
		if err := l.SaveSnapshot(s2); err != nil {
			t.Fatal(err)
		}
		if l.FirstIndex() != 31 || l.LastIndex() != 30 {
			t.Fatalf("range [%d, %d] after conflicting snapshot", l.FirstIndex(), l.LastIndex())
		}
		l = im.restart(t, l)
		checkSnap(t, l, s2)
		mustAppend(t, l, ents(31, 40, 3))

		// Beyond the log: discarded, restarts after the snapshot.
		s3 := snap(100, 4)
		if err := l.SaveSnapshot(s3); err != nil {
			t.Fatal(err)
		}
		l = im.restart(t, l)
		checkSnap(t, l, s3)
		if l.FirstIndex() != 101 || l.LastIndex() != 100 {
			t.Fatalf("range [%d, %d] after snapshot beyond log", l.FirstIndex(), l.LastIndex())
		}
		_, err := l.Term(99)
		wantErr(t, err, ErrCompacted)
		wantErr(t, l.Append(ents(102, 102, 4)), ErrNotContiguous)
		mustAppend(t, l, ents(101, 110, 4))
		l = im.restart(t, l)
		wantLog(t, l, 101, 110, constTerm(4))
		wantErr(t, l.SaveSnapshot(snap(50, 4)), ErrCompacted) // older than stored
		checkSnap(t, l, s3)
	})
}

func TestHardState(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		for i := uint64(1); i <= 5; i++ {
			hs := raftpb.HardState{Term: i, Vote: i % 3, Commit: i * 10}
			if err := l.SaveHardState(hs); err != nil {
				t.Fatal(err)
			}
			if l.HardState() != hs {
				t.Fatalf("HardState() = %+v, want %+v", l.HardState(), hs)
			}
			l = im.restart(t, l)
			if l.HardState() != hs {
				t.Fatalf("after restart HardState() = %+v, want %+v", l.HardState(), hs)
			}
		}
	})
}

func TestBadWrites(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 10, 1))
		wantErr(t, l.Append(ents(12, 13, 1)), ErrNotContiguous) // gap
		gappy := append(ents(11, 12, 1), ents(14, 14, 1)...)
		wantErr(t, l.Append(gappy), ErrNotContiguous) // gap inside the write
		wantErr(t, l.Append(ents(0, 0, 1)), ErrNotContiguous)
		huge := []raftpb.Entry{{Index: 11, Term: 1, Data: make([]byte, DefaultMaxBatchBytes)}}
		wantErr(t, l.Append(huge), ErrTooLarge)
		if err := l.Submit(Write{Entries: ents(11, 11, 1)}, nil); err == nil {
			t.Fatal("Submit with nil done accepted")
		}
		wantLog(t, l, 1, 10, constTerm(1)) // nothing above changed the log
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wantErr(t, l.Append(ents(11, 11, 1)), ErrClosed)
		wantErr(t, l.Close(), ErrClosed)
	})
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		l := im.fresh(t)
		mustAppend(t, l, ents(1, 10, 1))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					first, last := l.FirstIndex(), l.LastIndex()
					es, err := l.Entries(first, last+1)
					if err != nil && !isRangeErr(err) {
						t.Errorf("read [%d, %d]: %v", first, last, err)
						return
					}
					for _, e := range es {
						if string(e.Data) != string(payload(e.Index)) {
							t.Errorf("entry %d has data %q", e.Index, e.Data)
							return
						}
					}
				}
			}()
		}
		for i := uint64(11); i <= 300; i++ {
			mustAppend(t, l, ents(i, i, 1))
			if i%50 == 0 {
				if err := l.CompactPrefix(i - 20); err != nil {
					t.Fatal(err)
				}
			}
			if i%70 == 0 {
				mustAppend(t, l, ents(i-5, i, 2))
			}
		}
		close(stop)
		wg.Wait()
	})
}

func isRangeErr(err error) bool {
	return errorsIs(err, ErrCompacted) || errorsIs(err, ErrOutOfRange)
}
