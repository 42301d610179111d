package wal

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// The ring fsyncs a file, and a kernel error comes back as an error
// naming the file (here EBADF: a descriptor opened with O_PATH cannot be
// synced), so a failed fsync can never pass for a durable one; the same
// through FsyncRing, the ring as other packages get it.
func TestRingSyncerSyncsAndReportsErrors(t *testing.T) {
	type syncer interface {
		Sync(f *os.File, datasync bool) error
		Close() error
	}
	for name, open := range map[string]func() (syncer, error){
		"ringSyncer": func() (syncer, error) { return newRingSyncer() },
		"FsyncRing":  func() (syncer, error) { return NewFsyncRing() },
	} {
		t.Run(name, func(t *testing.T) {
			r, err := open()
			if err != nil {
				t.Skipf("io_uring unavailable here: %v", err)
			}
			defer r.Close()
			testSyncsAndReportsErrors(t, r)
		})
	}
}

func testSyncsAndReportsErrors(t *testing.T, r interface {
	Sync(f *os.File, datasync bool) error
	Close() error
}) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 100; i++ {
		if _, err := f.Write([]byte("record")); err != nil {
			t.Fatal(err)
		}
		if err := r.Sync(f, i%2 == 0); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	pfd, err := syscall.Open(path, unix.O_PATH|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf := os.NewFile(uintptr(pfd), path)
	defer pf.Close()
	err = r.Sync(pf, false)
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.EBADF) || pe.Path != path {
		t.Fatalf("sync of an O_PATH descriptor: %v, want a *PathError wrapping EBADF for %s", err, path)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(f, false); err == nil {
		t.Fatal("sync on a closed ring succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func BenchmarkFsync(b *testing.B) {
	for _, mode := range []string{"direct", "ring"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "f"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var r *ringSyncer
			if mode == "ring" {
				if r, err = newRingSyncer(); err != nil {
					b.Skip(err)
				}
				defer r.Close()
			}
			rec := make([]byte, 256)
			for b.Loop() {
				if _, err := f.Write(rec); err != nil {
					b.Fatal(err)
				}
				if r != nil {
					err = r.Sync(f, false)
				} else {
					err = f.Sync()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Where io_uring works, a WAL has the offload unless told not to;
// BlockingFsync and UnsafeNoFsync turn it off. Both fsync paths pass the
// crash test (every other child runs with GOMAXPROCS=1, where pipelined
// writes are fsynced through the ring).
func TestFsyncOffloadOption(t *testing.T) {
	probe, err := newRingSyncer()
	if err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	probe.Close()
	for _, c := range []struct {
		opts Options
		want bool
	}{
		{Options{}, true},
		{Options{BlockingFsync: true}, false},
		{Options{UnsafeNoFsync: true}, false},
	} {
		w, err := Open(t.TempDir(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Stats().FsyncOffload; got != c.want {
			t.Errorf("%+v: FsyncOffload = %v, want %v", c.opts, got, c.want)
		}
		if err := w.Append([]raftpb.Entry{{Index: 1, Term: 1, Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// With one WAL in the process the ring is used only when this fsync
// would take the last P; with several, for every fsync; never while
// writes come one at a time.
func TestOffloadFsyncDecision(t *testing.T) {
	for _, c := range []struct {
		inFlight, procs, wals int
		alone, want           bool
	}{
		{1, 2, 1, false, false}, // one WAL per process: a P stays free
		{2, 2, 1, false, true},  // a second concurrent fsync would take the last P
		{3, 2, 1, false, true},
		{2, 2, 1, true, false}, // writes one at a time: nothing else to run
		{1, 1, 1, false, true}, // GOMAXPROCS=1: any blocking fsync stalls everything
		{2, 8, 1, false, false},
		{1, 2, 3, false, true}, // an in-process cluster: the ring even with a P free
		{1, 8, 3, false, true},
		{1, 2, 3, true, false}, // ... but not for writes one at a time
		{2, 2, 3, true, false},
	} {
		if got := offloadFsync(c.inFlight, c.procs, c.wals, func() bool { return c.alone }); got != c.want {
			t.Errorf("offloadFsync(%d in flight, %d procs, %d WALs, alone=%v) = %v, want %v", c.inFlight, c.procs, c.wals, c.alone, got, c.want)
		}
	}
}

// openWALs counts the WALs open in the process: Open adds one, Close
// takes it back (a second Close, refused, takes nothing).
func TestOpenWALsCounts(t *testing.T) {
	before := openWALs.Load()
	a, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := openWALs.Load() - before; got != 2 {
		t.Fatalf("two WALs open: openWALs rose by %d", got)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", string([]byte{0})), Options{}); err == nil {
		t.Fatal("Open of an invalid path succeeded")
	}
	if got := openWALs.Load() - before; got != 2 {
		t.Fatalf("after a failed Open: openWALs rose by %d, want 2", got)
	}
	for _, w := range []*WAL{a, b} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	if got := openWALs.Load() - before; got != 0 {
		t.Fatalf("both closed: openWALs off by %d", got)
	}
}

// OffloadLoneFsyncs takes away the one-at-a-time exception: a lone
// write's fsync then goes through the ring like any other that would
// take the last P.
func TestOffloadLoneFsyncsOption(t *testing.T) {
	for _, c := range []struct {
		opt, lone, want bool
	}{
		{false, true, true},
		{false, false, false},
		{true, true, false},
		{true, false, false},
	} {
		w, err := Open(t.TempDir(), Options{OffloadLoneFsyncs: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.writesAlone(c.lone); got != c.want {
			t.Errorf("OffloadLoneFsyncs %v, lone %v: writesAlone = %v, want %v", c.opt, c.lone, got, c.want)
		}
		if got := offloadFsync(2, 2, 1, func() bool { return w.writesAlone(c.lone) }); got != !c.want {
			t.Errorf("OffloadLoneFsyncs %v, lone %v: offload with 2 in flight on 2 Ps = %v, want %v", c.opt, c.lone, got, !c.want)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
