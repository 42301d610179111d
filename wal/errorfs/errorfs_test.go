package errorfs_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
	"github.com/raftbench/raftbench/wal/errorfs"
)

func entry(i uint64) raftpb.Entry {
	return raftpb.Entry{Index: i, Term: 1, Type: raftpb.EntryNormal, Data: []byte(fmt.Sprintf("value-%d", i))}
}

func open(t *testing.T, dir string, efs wal.FS, unsafe bool) *wal.WAL {
	t.Helper()
	return openWith(t, dir, wal.Options{FS: efs, SegmentBytes: 4 << 10, UnsafeNoFsync: unsafe})
}

func openWith(t *testing.T, dir string, opts wal.Options) *wal.WAL {
	t.Helper()
	w, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return w
}

// writer appends entries one Submit at a time from several goroutines
// (serialized on index order by a mutex), recording which were
// acknowledged, until the WAL fails or n entries were written.
type acks struct {
	mu    sync.Mutex
	acked map[uint64]bool
	errs  []error
}

func (a *acks) done(i uint64) func(error) {
	return func(err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if err == nil {
			a.acked[i] = true
		} else {
			a.errs = append(a.errs, err)
		}
	}
}

// appendN submits entries from..to (one per Submit, pipelined) and waits
// for every done callback. It returns the highest acknowledged index
// and the first error.
func appendN(t *testing.T, w *wal.WAL, from, to uint64) (*acks, error) {
	t.Helper()
	a := &acks{acked: map[uint64]bool{}}
	var wg sync.WaitGroup
	var submitErr error
	for i := from; i <= to; i++ {
		wg.Add(1)
		d := a.done(i)
		if err := w.Submit(wal.Write{Entries: []raftpb.Entry{entry(i)}}, func(err error) { d(err); wg.Done() }); err != nil {
			wg.Done()
			submitErr = err
			break
		}
	}
	wg.Wait()
	if submitErr != nil {
		return a, submitErr
	}
	if len(a.errs) > 0 {
		return a, a.errs[0]
	}
	return a, nil
}

// checkAcked reopens dir on the real file system and checks every
// acknowledged entry is there, intact, and that acknowledgements were a
// prefix (nothing acknowledged after a gap).
func checkAcked(t *testing.T, dir string, acked map[uint64]bool) *wal.WAL {
	t.Helper()
	w, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatalf("reopen after fault: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	var hi uint64
	for i := range acked {
		hi = max(hi, i)
	}
	for i := uint64(1); i <= hi; i++ {
		if !acked[i] {
			t.Fatalf("index %d acknowledged out of order: %d was not, %d was", hi, i, hi)
		}
	}
	if hi == 0 {
		return w
	}
	if w.LastIndex() < hi {
		t.Fatalf("lost acknowledged entries: last index %d after restart, %d acknowledged", w.LastIndex(), hi)
	}
	es, err := w.Entries(1, hi+1)
	if err != nil {
		t.Fatalf("read acknowledged entries: %v", err)
	}
	for _, e := range es {
		if string(e.Data) != string(entry(e.Index).Data) {
			t.Fatalf("entry %d = %q after restart", e.Index, e.Data)
		}
	}
	return w
}

// TestFaultsNeverLoseAcknowledged runs each disk fault against the real
// WAL: writes before the fault are acknowledged, the fault fails the
// WAL (sticky: later writes get the error, none is acknowledged), and
// after a power cut (unsynced data gone) and a reopen on a healthy disk
// every acknowledged entry is there.
func TestFaultsNeverLoseAcknowledged(t *testing.T) {
	cases := []struct {
		name string
		rule errorfs.Rule
		is   error
	}{
		{"fsync-EIO", errorfs.Rule{Op: errorfs.OpSync, PathContains: "/log/", Err: errorfs.EIO}, syscall.EIO},
		{"segment-write-EIO", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.EIO}, syscall.EIO},
		{"segment-ENOSPC", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.ENOSPC}, syscall.ENOSPC},
		{"segment-short-write", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.EIO, Short: true}, syscall.EIO},
		{"hardstate-ENOSPC", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "hardstate", Err: errorfs.ENOSPC}, syscall.ENOSPC},
		{"hardstate-fsync-EIO", errorfs.Rule{Op: errorfs.OpSync, PathContains: "hardstate", Err: errorfs.EIO}, syscall.EIO},
		{"rename-EIO", errorfs.Rule{Op: errorfs.OpRename, Err: errorfs.EIO}, syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := errorfs.New()
			w := open(t, dir, efs, false)
			a, err := appendN(t, w, 1, 40)
			if err != nil {
				t.Fatalf("healthy disk: %v", err)
			}
			if err := w.SaveHardState(raftpb.HardState{Term: 1, Vote: 1, Commit: 10}); err != nil {
				t.Fatal(err)
			}
			efs.Inject(tc.rule)
			b, err := appendN(t, w, 41, 80)
			if err == nil && strings.Contains(tc.rule.PathContains, "hardstate") || tc.rule.Op == errorfs.OpRename {
				err = w.SaveHardState(raftpb.HardState{Term: 2, Vote: 1, Commit: 40})
			}
			if err == nil {
				t.Fatalf("fault %v: no error", tc.rule)
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("fault %v: error %v does not wrap %v", tc.rule, err, tc.is)
			}
			// Sticky: the disk is healthy again, the WAL still refuses.
			efs.Clear()
			if _, err := appendN(t, w, w.LastIndex()+1, w.LastIndex()+1); err == nil {
				t.Fatal("write accepted after a failed write: the WAL must stay failed")
			} else if !strings.Contains(err.Error(), "reopen to recover") {
				t.Fatalf("sticky error is not clear: %v", err)
			}
			if err := w.Close(); !errors.Is(err, tc.is) {
				t.Fatalf("close: %v, want the sticky %v", err, tc.is)
			}
			if err := efs.PowerCut(); err != nil {
				t.Fatal(err)
			}
			for i := range b.acked {
				a.acked[i] = true
			}
			r := checkAcked(t, dir, a.acked)
			if hs := r.HardState(); hs.Term < 1 || hs.Commit < 10 {
				t.Fatalf("acknowledged hard state lost: %+v", hs)
			}
			if st := efs.Stats(); st.Failed[tc.rule.Op] == 0 {
				t.Fatalf("fault not counted: %+v", st)
			}
		})
	}
}

// TestPowerCutLosesUnsynced is the seam's own teeth: with fsync off the
// WAL acknowledges unsynced writes, and PowerCut must lose them (if it
// did not, the test above would prove nothing).
func TestPowerCutLosesUnsynced(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.New()
	w := open(t, dir, efs, false)
	if _, err := appendN(t, w, 1, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, efs, true) // UnsafeNoFsync: acknowledges without fsync
	a, err := appendN(t, w, 11, 60)
	if err != nil || len(a.acked) != 50 {
		t.Fatalf("unsafe appends: %v, %d acked", err, len(a.acked))
	}
	_ = w.Close()
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	r, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.LastIndex() >= 60 {
		t.Fatalf("PowerCut kept unsynced writes: last index %d", r.LastIndex())
	}
	if r.LastIndex() < 10 {
		t.Fatalf("PowerCut lost synced writes: last index %d", r.LastIndex())
	}
	if st := efs.Stats(); st.TruncatedBytes == 0 && st.RemovedFiles == 0 {
		t.Fatalf("nothing cut: %+v", st)
	}
}

// TestSlowDiskStillCorrect: added latency slows commits but loses and
// fails nothing.
func TestSlowDiskStillCorrect(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.New()
	w := open(t, dir, efs, false)
	efs.Inject(errorfs.Rule{Op: errorfs.OpSync | errorfs.OpWrite, Delay: 2 * time.Millisecond, Times: 20})
	a, err := appendN(t, w, 1, 200)
	if err != nil || len(a.acked) != 200 {
		t.Fatalf("slow disk: %v, %d acked", err, len(a.acked))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st := efs.Stats(); st.Delayed == 0 {
		t.Fatalf("no delay injected: %+v", st)
	}
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, dir, a.acked)
}

// TestFaultAcrossSegmentRotation fails an fsync after several segment
// rotations (4 KiB segments): segments tidwall fsynced on rotation keep
// their data through the power cut, and so does every acknowledged entry.
func TestFaultAcrossSegmentRotation(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.New()
	w := open(t, dir, efs, false)
	efs.Inject(errorfs.Rule{Op: errorfs.OpSync, PathContains: "/log/", Err: errorfs.EIO, After: 60})
	all := map[uint64]bool{}
	var err error
	for i := uint64(1); i <= 4000 && err == nil; i += 20 {
		var a *acks
		a, err = appendN(t, w, i, i+19)
		for k := range a.acked {
			all[k] = true
		}
	}
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("want EIO after 60 fsyncs, got %v (acked %d)", err, len(all))
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "log", "0*")); len(segs) < 3 {
		t.Fatalf("only %d segments: the test must cross rotations", len(segs))
	}
	_ = w.Close()
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, dir, all)
}

// A snapshot whose write or fsync fails is not installed: the stored
// snapshot and the log stay as they were (the log is truncated only
// after a snapshot is durable), the log keeps taking writes, and after a
// power cut the old snapshot and every acknowledged entry are there. A
// failed install (the rename, on the flusher) stops the WAL like any
// failed log operation, with the same guarantee after reopening.
func TestSnapshotFaultsKeepOldSnapshot(t *testing.T) {
	cases := []struct {
		name   string
		rule   errorfs.Rule
		sticky bool
	}{
		{"write-ENOSPC", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "snapshot.", Err: errorfs.ENOSPC, After: 2}, false},
		{"fsync-EIO", errorfs.Rule{Op: errorfs.OpSync, PathContains: "snapshot.", Err: errorfs.EIO}, false},
		{"rename-EIO", errorfs.Rule{Op: errorfs.OpRename, PathContains: "snapshot.", Err: errorfs.EIO}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := errorfs.New()
			w := open(t, dir, efs, false)
			a, err := appendN(t, w, 1, 60)
			if err != nil {
				t.Fatal(err)
			}
			old := raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 10, Term: 1}, Data: []byte("old")}
			if err := w.SaveSnapshot(old); err != nil {
				t.Fatal(err)
			}
			efs.Inject(tc.rule)
			f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 50, Term: 1}, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 512<<10)
			for i := 0; i < 8 && err == nil; i++ {
				_, err = f.Write(chunk)
			}
			if err == nil {
				err = f.Commit()
			} else {
				f.Abort()
			}
			if !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("snapshot under %v: %v", tc.rule, err)
			}
			efs.Clear()
			if !tc.sticky {
				if w.FirstIndex() != 11 {
					t.Fatalf("log compacted to %d by a snapshot that failed", w.FirstIndex())
				}
				b, err := appendN(t, w, 61, 70)
				if err != nil {
					t.Fatalf("log write after a failed snapshot: %v", err)
				}
				for i := range b.acked {
					a.acked[i] = true
				}
			}
			_ = w.Close()
			if err := efs.PowerCut(); err != nil {
				t.Fatal(err)
			}
			r, err := wal.Open(dir, wal.Options{})
			if err != nil {
				t.Fatalf("reopen after fault: %v", err)
			}
			defer r.Close()
			var hi uint64
			for i := range a.acked {
				hi = max(hi, i)
			}
			if r.FirstIndex() != 11 || r.LastIndex() < hi {
				t.Fatalf("log [%d, %d] after the fault, want [11, >= %d]", r.FirstIndex(), r.LastIndex(), hi)
			}
			es, err := r.Entries(11, hi+1)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if string(e.Data) != string(entry(e.Index).Data) {
					t.Fatalf("entry %d = %q after the fault", e.Index, e.Data)
				}
			}
			if s, err := r.Snapshot(); err != nil || s.Meta.Index != 10 || string(s.Data) != "old" {
				t.Fatalf("snapshot after the fault: %+v %q %v", s.Meta, s.Data, err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "snapshot.*.tmp")); len(left) != 0 {
				t.Fatalf("unfinished snapshot files left: %v", left)
			}
		})
	}
}

// TestFaultAtEveryStepOfRotation fails, in turn, every file operation of
// a run of writes that rotates through several segments (appends, the
// fsync of each segment left behind, the creation of the next one, the
// directory's fsync, short writes), then cuts the power: the log opens
// without any corruption error and holds every acknowledged entry.
func TestFaultAtEveryStepOfRotation(t *testing.T) {
	for _, short := range []bool{false, true} {
		op := errorfs.OpAll
		if short {
			op = errorfs.OpWrite
		}
		for after := 0; ; after++ {
			dir := t.TempDir()
			efs := errorfs.New()
			w := open(t, dir, efs, false) // 4 KiB segments
			efs.Inject(errorfs.Rule{Op: op, PathContains: "/log", Err: errorfs.EIO, Short: short, After: after, Times: 1})
			var acked *acks
			var err error
			// ~40 bytes per frame: 300 entries cross 2 segment boundaries.
			for from := uint64(1); from <= 300 && err == nil; from += 50 {
				var a *acks
				a, err = appendN(t, w, from, from+49)
				if acked == nil {
					acked = a
				} else {
					for i := range a.acked {
						acked.acked[i] = true
					}
				}
			}
			_ = w.Close()
			fired := false
			for _, n := range efs.Stats().Failed {
				fired = fired || n > 0
			}
			if fired && err == nil {
				t.Fatalf("fault after %d operations (short %v) fired but every write succeeded", after, short)
			}
			if err := efs.PowerCut(); err != nil {
				t.Fatal(err)
			}
			r := checkAcked(t, dir, acked.acked)
			if !fired {
				if r.LastIndex() != 300 {
					t.Fatalf("no fault: last index %d", r.LastIndex())
				}
				t.Logf("faults at %d positions (short %v), every acknowledged entry kept", after, short)
				break
			}
		}
	}
}
