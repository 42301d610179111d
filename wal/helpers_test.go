package wal

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// impl is one Log implementation under test: fresh creates an empty
// log; restart simulates a clean restart (close + Open for the WAL, a
// LoseUnsynced crash for MemLog) and returns the reopened log.
type impl struct {
	name    string
	fresh   func(t *testing.T) Log
	restart func(t *testing.T, l Log) Log
}

func impls(segmentBytes int) []impl {
	return []impl{
		walImpl("WAL", Options{SegmentBytes: segmentBytes}),
		// Every scenario again with appended segments (prealloc.go).
		walImpl("WAL-appending", Options{SegmentBytes: segmentBytes, AppendSegments: true}),
		{
			name:  "MemLog",
			fresh: func(t *testing.T) Log { return NewMemLog(MemOptions{}) },
			restart: func(t *testing.T, l Log) Log {
				m, err := l.(*MemLog).Crash(LoseUnsynced)
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				return m
			},
		},
	}
}

func walImpl(name string, opts Options) impl {
	return impl{
		name: name,
		fresh: func(t *testing.T) Log {
			dir := t.TempDir()
			w, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Close() })
			return w
		},
		restart: func(t *testing.T, l Log) Log {
			w := l.(*WAL)
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			w2, err := Open(w.dir, w.opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { _ = w2.Close() })
			return w2
		},
	}
}

// payload is the deterministic data of entry i (length varies with i).
func payload(i uint64) []byte {
	b := fmt.Appendf(nil, "entry-%d:", i)
	for len(b) < int(i%37)+12 {
		b = append(b, byte('a'+i%26))
	}
	return b
}

// ents builds entries lo..hi (inclusive) with the given term.
func ents(lo, hi, term uint64) []raftpb.Entry {
	var out []raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal, Data: payload(i)})
	}
	return out
}

func mustAppend(t *testing.T, l Log, es []raftpb.Entry) {
	t.Helper()
	if err := l.Append(es); err != nil {
		t.Fatalf("append %d..: %v", es[0].Index, err)
	}
}

// wantLog checks range, terms and content: entry i must have term
// terms(i) and payload(i).
func wantLog(t *testing.T, l Log, first, last uint64, terms func(uint64) uint64) {
	t.Helper()
	if f, la := l.FirstIndex(), l.LastIndex(); f != first || la != last {
		t.Fatalf("range = [%d, %d], want [%d, %d]", f, la, first, last)
	}
	wantEntries(t, l, first, last, terms)
}

// wantEntries checks the content of entries first..last only.
func wantEntries(t *testing.T, l Log, first, last uint64, terms func(uint64) uint64) {
	t.Helper()
	es, err := l.Entries(first, last+1)
	if err != nil {
		t.Fatalf("entries [%d, %d]: %v", first, last, err)
	}
	if uint64(len(es)) != last+1-first {
		t.Fatalf("got %d entries, want %d", len(es), last+1-first)
	}
	for k, e := range es {
		i := first + uint64(k)
		if e.Index != i || e.Term != terms(i) || string(e.Data) != string(payload(i)) {
			t.Fatalf("entry %d = {index %d term %d data %q}, want term %d data %q", i, e.Index, e.Term, e.Data, terms(i), payload(i))
		}
		if term, err := l.Term(i); err != nil || term != terms(i) {
			t.Fatalf("Term(%d) = %d, %v; want %d", i, term, err, terms(i))
		}
	}
}

func constTerm(term uint64) func(uint64) uint64 { return func(uint64) uint64 { return term } }

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func crcOf(b []byte) uint32 { return crc32Checksum(b) }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With OffloadLeaderFsyncs, SetLeading takes away the one-at-a-time
// exception while the node leads: a leader's lone fsync goes through the
// ring rather than take the last P, and blocks again once the node
// follows; an fsync that leaves a P free blocks either way. Without the
// option, leading changes nothing.
func TestSetLeadingTakesAwayTheLoneException(t *testing.T) {
	for _, opt := range []bool{false, true} {
		w, err := Open(t.TempDir(), Options{OffloadLeaderFsyncs: opt})
		if err != nil {
			t.Fatal(err)
		}
		for _, leading := range []bool{false, true, false} {
			w.SetLeading(leading)
			offload := opt && leading
			alone := func() bool { return w.writesAlone(true) }
			if got := alone(); got == offload {
				t.Errorf("option %v, leading %v: a lone write counts as alone = %v", opt, leading, got)
			}
			if got := offloadFsync(2, 2, 1, alone); got != offload {
				t.Errorf("option %v, leading %v: offload of a lone fsync with 2 in flight on 2 Ps = %v, want %v", opt, leading, got, offload)
			}
			if offloadFsync(1, 2, 1, alone) {
				t.Errorf("option %v, leading %v: an fsync that leaves a P free was offloaded", opt, leading)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The log fsyncs' count and time are accounted with fsyncs on, and stay
// zero with UnsafeNoFsync (whose commits take no clock reads); every
// commit is counted either way.
func TestFsyncTimeAccountedOnlyWithFsyncs(t *testing.T) {
	for _, off := range []bool{false, true} {
		w, err := Open(t.TempDir(), Options{UnsafeNoFsync: off})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= 3; i++ {
			done := make(chan error, 1)
			e := []raftpb.Entry{{Index: i, Term: 1, Data: []byte("x")}}
			if err := w.Submit(Write{Entries: e}, func(err error) { done <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		st := w.Stats()
		if st.Flushes != 3 {
			t.Errorf("fsync off %v: %d flushes, want 3", off, st.Flushes)
		}
		if synced := !off; (st.Fsyncs == 3) != synced || (st.FsyncNanos > 0) != synced {
			t.Errorf("fsync off %v: %d fsyncs taking %d ns", off, st.Fsyncs, st.FsyncNanos)
		}
		if got := w.LastIndex(); got != 3 {
			t.Errorf("fsync off %v: last index %d, want 3", off, got)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
