package errorfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// segmentsIn lists the log's segment files.
func segmentsIn(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// within runs f on its own goroutine and fails the test if it has not
// returned after a generous bound (it would hang forever if the code
// under test waited for something the test holds).
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return: it waits for the held segment removal", what)
		return nil
	}
}

// TestSegmentRemovalOffTheCommitPath holds the removal of the segments a
// snapshot covers (a disk whose unlinks hang): the snapshot install
// returns, later writes are acknowledged and readable, and reads never
// touch a segment being removed. Close waits for the removal, which then
// has removed every covered segment and nothing else.
func TestSegmentRemovalOffTheCommitPath(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.New()
	w := open(t, dir, efs, false)
	if _, err := appendN(t, w, 1, 1000); err != nil {
		t.Fatal(err)
	}
	before := segmentsIn(t, dir)
	if len(before) < 4 {
		t.Fatalf("only %d segments: too few for the test", len(before))
	}
	hold := make(chan struct{})
	// A covered segment leaves the log by a rename (kept as a spare,
	// wal.Options.RecycleSegments) or an unlink: hold both.
	for _, op := range []errorfs.Op{errorfs.OpRemove, errorfs.OpRename} {
		efs.Inject(errorfs.Rule{Op: op, PathContains: string(filepath.Separator) + "log" + string(filepath.Separator), Hold: hold})
	}
	if err := within(t, "SaveSnapshot", func() error {
		return w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 900, Term: 1}, Data: []byte("state")})
	}); err != nil {
		t.Fatal(err)
	}
	var a *acks
	err := within(t, "Append", func() (err error) {
		a, err = appendN(t, w, 1001, 1040)
		return err
	})
	if err != nil || len(a.acked) != 40 {
		t.Fatalf("writes beside a held removal: %d acknowledged, %v", len(a.acked), err)
	}
	if w.FirstIndex() != 901 {
		t.Fatalf("first index %d after the snapshot at 900", w.FirstIndex())
	}
	es, err := w.Entries(901, 1041)
	if err != nil || len(es) != 140 {
		t.Fatalf("read beside a held removal: %d entries, %v", len(es), err)
	}
	for _, e := range es {
		if string(e.Data) != string(entry(e.Index).Data) {
			t.Fatalf("entry %d = %q", e.Index, e.Data)
		}
	}
	if _, err := w.Entries(900, 901); !errors.Is(err, wal.ErrCompacted) {
		t.Fatalf("read of a covered index: %v, want ErrCompacted", err)
	}
	// A second snapshot while the first removal is still held: its
	// removal queues behind the first, the install does not wait.
	if err := within(t, "a second SaveSnapshot", func() error {
		return w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 1030, Term: 1}, Data: []byte("state2")})
	}); err != nil {
		t.Fatal(err)
	}
	var a2 *acks
	if err := within(t, "Append", func() (err error) {
		a2, err = appendN(t, w, 1041, 1060)
		return err
	}); err != nil || len(a2.acked) != 20 {
		t.Fatalf("writes beside two held removals: %v", err)
	}
	for i := range a2.acked {
		a.acked[i] = true
	}
	if w.FirstIndex() != 1031 {
		t.Fatalf("first index %d after the snapshot at 1030", w.FirstIndex())
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a segment removal was still held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	after := segmentsIn(t, dir)
	if len(after) == 0 || len(after) >= len(before)/4 {
		t.Fatalf("segments %v after removal, before %v", after, before)
	}
	for k := range a.acked {
		if k <= 1030 {
			delete(a.acked, k)
		}
	}
	r := checkAckedFrom(t, dir, 1031, a.acked)
	if r.LastIndex() != 1060 {
		t.Fatalf("last index %d after reopen, want 1060", r.LastIndex())
	}
}

// TestSegmentRemovalFaultStopsWAL fails the background removal of
// covered segments (an unlink, or the rename that keeps one for reuse):
// the failure is reported (logged, then every later
// write and Close get it), writes acknowledged before stay durable
// across a power cut, and a reopen on a healthy disk finishes the
// removal.
func TestSegmentRemovalFaultStopsWAL(t *testing.T) {
	inLog := string(filepath.Separator) + "log" + string(filepath.Separator)
	for _, tc := range []struct {
		name, says string
		rule       errorfs.Rule
		recycle    int // wal.Options.RecycleSegments
	}{
		// Without recycling every covered segment is unlinked; with it
		// (the default) they are renamed out of the log to be reused.
		{"remove-EIO", "compact log up to index 900", errorfs.Rule{Op: errorfs.OpRemove, PathContains: inLog, Err: errorfs.EIO, After: 1}, -1},
		{"recycle-rename-EIO", "compact log up to index 900", errorfs.Rule{Op: errorfs.OpRename, PathContains: inLog, Err: errorfs.EIO, After: 1}, 0},
		{"dir-fsync-EIO", "fsync directory", errorfs.Rule{Op: errorfs.OpSync, PathContains: string(filepath.Separator) + "log", Err: errorfs.EIO, Times: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := errorfs.New()
			w := openWith(t, dir, wal.Options{FS: efs, SegmentBytes: 4 << 10, RecycleSegments: tc.recycle})
			a, err := appendN(t, w, 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			// The snapshot file is fsynced before the rule is armed for
			// the log directory's fsync; its install fsyncs only dir.
			f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 900, Term: 1}, 5)
			if err == nil {
				_, err = f.Write([]byte("state"))
			}
			if err == nil {
				err = f.Finish()
			}
			if err != nil {
				t.Fatal(err)
			}
			efs.Inject(tc.rule)
			if err := f.Install(); err != nil {
				t.Fatalf("install: %v (the snapshot is committed before the removal)", err)
			}
			// The removal fails in the background (no log write runs
			// until it has: only the remover syncs the log directory);
			// writes after it fail.
			for deadline := time.Now().Add(10 * time.Second); efs.Stats().Failed[tc.rule.Op] == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the background removal never ran into the fault")
				}
			}
			var werr error
			for i, deadline := uint64(1001), time.Now().Add(10*time.Second); werr == nil && time.Now().Before(deadline); i++ {
				werr = w.Append([]raftpb.Entry{entry(i)})
				if werr == nil {
					a.acked[i] = true
				}
			}
			if !errors.Is(werr, syscall.EIO) || !strings.Contains(werr.Error(), tc.says) {
				t.Fatalf("write after a failed removal: %v, want the sticky EIO", werr)
			}
			if err := w.Close(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("close after a failed removal: %v, want EIO", err)
			}
			efs.Clear()
			if err := efs.PowerCut(); err != nil {
				t.Fatal(err)
			}
			r := checkAckedFrom(t, dir, 901, a.acked)
			if s, err := r.Snapshot(); err != nil || s.Meta.Index != 900 || string(s.Data) != "state" {
				t.Fatalf("snapshot after reopen: %+v %q %v", s.Meta, s.Data, err)
			}
		})
	}
}

// checkAckedFrom reopens dir on a healthy disk and checks that every
// acknowledged entry from first on is there, intact.
func checkAckedFrom(t *testing.T, dir string, first uint64, acked map[uint64]bool) *wal.WAL {
	t.Helper()
	r, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	var hi uint64
	for i := range acked {
		hi = max(hi, i)
	}
	if r.FirstIndex() != first || r.LastIndex() < hi {
		t.Fatalf("log [%d, %d] after reopen, want [%d, >= %d]", r.FirstIndex(), r.LastIndex(), first, hi)
	}
	es, err := r.Entries(first, hi+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if string(e.Data) != string(entry(e.Index).Data) {
			t.Fatalf("entry %d = %q after reopen", e.Index, e.Data)
		}
	}
	return r
}

// TestSnapshotWritebackFaultAtEveryStep fails, in turn, each sync of a
// snapshot file that is written back as it grows (every range writeback
// started, every one waited for, the final write-out and the fsync):
// each failure reaches the writer as a clear error naming the snapshot,
// the old snapshot and the whole log stay, the log keeps taking writes,
// and after a power cut everything acknowledged is there.
func TestSnapshotWritebackFaultAtEveryStep(t *testing.T) {
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
	const size = 4 << 20
	chunk := make([]byte, 64<<10)
	next := uint64(61)
	faults := 0
	for after := 0; ; after++ {
		efs.Inject(errorfs.Rule{Op: errorfs.OpSync, PathContains: "snapshot.", Err: errorfs.EIO, After: after, Times: 1})
		f, err := w.CreateSnapshot(raftpb.SnapshotMeta{Index: 50, Term: 1}, size)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < size && err == nil; n += len(chunk) {
			_, err = f.Write(chunk)
		}
		if err == nil {
			err = f.Finish()
		} else {
			f.Abort()
		}
		fired := efs.Stats().Failed[errorfs.OpSync] > uint64(faults)
		efs.Clear()
		if !fired {
			if err != nil {
				t.Fatalf("snapshot with no fault: %v", err)
			}
			f.Abort() // finished, not installed: the old snapshot stays
			break
		}
		faults++
		if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "snapshot 50") {
			t.Fatalf("sync fault %d: %v, want EIO naming snapshot 50", after, err)
		}
		if w.FirstIndex() != 11 {
			t.Fatalf("log compacted to %d by a snapshot that failed", w.FirstIndex())
		}
		b, err := appendN(t, w, next, next+4)
		if err != nil {
			t.Fatalf("log write after a failed snapshot: %v", err)
		}
		for i := range b.acked {
			a.acked[i] = true
		}
		next += 5
	}
	// 4 MiB in 1 MiB steps: starts and waits along the way, then the
	// final write-out and the fsync.
	if faults < 5 {
		t.Fatalf("only %d syncs of a 4 MiB snapshot file: no writeback as it grows", faults)
	}
	_ = w.Close()
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	r := checkAckedFrom(t, dir, 11, a.acked)
	if s, err := r.Snapshot(); err != nil || s.Meta.Index != 10 || string(s.Data) != "old" {
		t.Fatalf("snapshot after the faults: %+v %q %v", s.Meta, s.Data, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "snapshot.*.tmp")); len(left) != 0 {
		t.Fatalf("unfinished snapshot files left: %v", left)
	}
}
