package errorfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/raftbench/raftbench/wal"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// TestPowerCutLosesUnsyncedOverwrites is the model's teeth for
// preallocated segments: bytes written over a file's fsynced part and
// not fsynced since are zeros after PowerCut; after an fsync (or the
// WAL's Datasync) they stay.
func TestPowerCutLosesUnsyncedOverwrites(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.New()
	path := filepath.Join(dir, "f")
	f, err := efs.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := efs.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil { // the file's name is durable
		t.Fatal(err)
	}
	d.Close()
	f, err = efs.OpenFile(path, os.O_WRONLY, 0) // not O_APPEND: writes from offset 0
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{'a'}, 40)); err != nil {
		t.Fatal(err)
	}
	if err := f.(interface{ Datasync() error }).Datasync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{'b'}, 40)); err != nil { // bytes 40..80, never synced
		t.Fatal(err)
	}
	f.Close()
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{'a'}, 40), make([]byte, 60)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("after PowerCut: %q, want 40 a's then zeros", got)
	}
	if st := efs.Stats(); st.ZeroedBytes != 40 {
		t.Fatalf("zeroed %d bytes, want 40", st.ZeroedBytes)
	}
}

// TestPreallocatedSegmentsNeverLoseAcknowledged: the WAL with
// preallocated segments under a failing fsync or segment write, then a
// power cut: every acknowledged entry is there after a reopen, whether
// the log's tail was a preallocated segment or not.
func TestPreallocatedSegmentsNeverLoseAcknowledged(t *testing.T) {
	for _, rule := range []errorfs.Rule{
		{Op: errorfs.OpSync, PathContains: "/log/", Err: errorfs.EIO, After: 30},
		{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.EIO, After: 20},
		{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.EIO, Short: true, After: 15},
	} {
		t.Run(rule.String(), func(t *testing.T) {
			dir := t.TempDir()
			efs := errorfs.New()
			w := openWith(t, dir, wal.Options{FS: efs, SegmentBytes: 4 << 10})
			acked := map[uint64]bool{}
			efs.Inject(rule)
			var failed error
			for i := uint64(1); i <= 400 && failed == nil; i += 10 {
				a, err := appendN(t, w, i, i+9)
				for k := range a.acked {
					acked[k] = true
				}
				failed = err
				time.Sleep(time.Millisecond) // spares get written between rotations
			}
			if !errors.Is(failed, syscall.EIO) {
				t.Fatalf("fault %v: error %v", rule, failed)
			}
			if w.Stats().PreallocatedSegments == 0 {
				t.Fatal("no preallocated segment was used before the fault")
			}
			_ = w.Close()
			if err := efs.PowerCut(); err != nil {
				t.Fatal(err)
			}
			checkAcked(t, dir, acked).Close()
		})
	}
}
