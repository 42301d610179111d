package errorfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftbench/raftbench/wal"
)

// Op is a kind of file operation a rule can match.
type Op uint8

// Operation kinds. OpWrite covers File.Write, segment appends included;
// OpSync covers File.Sync and range writeback (wal.WritebackFile).
const (
	OpWrite Op = 1 << iota
	OpSync
	OpCreate // OpenFile with O_CREATE
	OpRename
	OpRemove
	OpAll = OpWrite | OpSync | OpCreate | OpRename | OpRemove
)

func (o Op) String() string {
	var parts []string
	for _, p := range []struct {
		op   Op
		name string
	}{{OpWrite, "write"}, {OpSync, "sync"}, {OpCreate, "create"}, {OpRename, "rename"}, {OpRemove, "remove"}} {
		if o&p.op != 0 {
			parts = append(parts, p.name)
		}
	}
	return strings.Join(parts, "|")
}

// The errors a failing disk returns.
var (
	EIO    error = syscall.EIO
	ENOSPC error = syscall.ENOSPC
)

// Rule says which operations to disturb and how. The zero Rule matches
// nothing (Op is required).
type Rule struct {
	Op Op // operations it applies to (a mask)
	// PathContains restricts it to paths containing this string.
	PathContains string
	// Err is returned instead of doing the operation (nil: do it).
	Err error
	// Short, on OpWrite with Err set: write the first half of the bytes,
	// then fail with Err (a torn write that reached the file).
	Short bool
	// Delay is slept before the operation (a slow disk).
	Delay time.Duration
	// Hold, if not nil, blocks the operation until it is closed (a disk
	// that hangs; tests use it to stop an operation at a known point).
	Hold <-chan struct{}
	// After skips that many matching operations before the rule fires;
	// Times bounds how often it fires (0: no bound).
	After, Times int

	seen, fired int
}

// Stats counts what the FS injected.
type Stats struct {
	Failed  map[Op]uint64 // failed operations by kind
	Short   uint64        // writes cut short
	Delayed uint64        // operations delayed
	// PowerCuts, TruncatedBytes, ZeroedBytes and RemovedFiles count
	// PowerCut's work.
	PowerCuts, TruncatedBytes, ZeroedBytes, RemovedFiles uint64
}

// FS is the fault-injecting file system. The zero value is not usable;
// call New.
type FS struct {
	inner wal.FS

	mu      sync.Mutex
	rules   []*Rule
	synced  map[string]int64 // size at the last successful fsync
	created map[string]bool  // created since its directory was last fsynced
	// overwritten: byte ranges [from, to) below the synced size written
	// since the file's last successful fsync (files not opened O_APPEND)
	overwritten map[string][][2]int64
	st          Stats
}

var _ wal.FS = (*FS)(nil)

// New returns an FS over the real file system with no rules.
func New() *FS {
	return &FS{inner: wal.OSFS{}, synced: map[string]int64{}, created: map[string]bool{},
		overwritten: map[string][][2]int64{}, st: Stats{Failed: map[Op]uint64{}}}
}

// Inject adds a rule; rules are tried in the order added, first match wins.
func (f *FS) Inject(r Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rc := r
	f.rules = append(f.rules, &rc)
}

// Clear removes every rule (the disk is healthy again).
func (f *FS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Stats returns a copy of the counters.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.Failed = make(map[Op]uint64, len(f.st.Failed))
	for k, v := range f.st.Failed {
		s.Failed[k] = v
	}
	return s
}

// match finds the rule for op on path, counts it, and returns it (nil:
// none). The delay is slept outside the lock by the caller.
func (f *FS) match(op Op, path string) *Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Op&op == 0 || (r.PathContains != "" && !strings.Contains(path, r.PathContains)) {
			continue
		}
		if r.Times > 0 && r.fired >= r.Times {
			continue
		}
		r.seen++
		if r.seen <= r.After {
			continue
		}
		r.fired++
		if r.Delay > 0 {
			f.st.Delayed++
		}
		if r.Err != nil {
			if r.Short && op == OpWrite {
				f.st.Short++
			}
			f.st.Failed[op]++
		}
		cp := *r
		return &cp
	}
	return nil
}

// disturb applies a matched rule's delay and returns its error.
func (f *FS) disturb(op Op, path string) (*Rule, error) {
	r := f.match(op, path)
	if r == nil {
		return nil, nil
	}
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	if r.Hold != nil {
		<-r.Hold
	}
	if r.Err == nil {
		return r, nil
	}
	return r, &fs.PathError{Op: "errorfs " + op.String(), Path: path, Err: r.Err}
}

// OpenFile implements wal.FS.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (wal.File, error) {
	if flag&os.O_CREATE != 0 {
		if _, err := f.disturb(OpCreate, name); err != nil {
			return nil, err
		}
	}
	_, statErr := os.Stat(name)
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if errors.Is(statErr, fs.ErrNotExist) {
		f.created[name] = true
		f.synced[name] = 0
	} else if flag&os.O_TRUNC != 0 {
		f.synced[name] = 0
	}
	f.mu.Unlock()
	return &file{File: inner, fs: f, appending: flag&os.O_APPEND != 0}, nil
}

// Remove implements wal.FS.
func (f *FS) Remove(name string) error {
	if _, err := f.disturb(OpRemove, name); err != nil {
		return err
	}
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.synced, name)
	delete(f.created, name)
	delete(f.overwritten, name)
	f.mu.Unlock()
	return nil
}

// Rename implements wal.FS.
func (f *FS) Rename(oldpath, newpath string) error {
	if _, err := f.disturb(OpRename, oldpath); err != nil {
		return err
	}
	if err := f.inner.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.mu.Lock()
	if n, ok := f.synced[oldpath]; ok {
		f.synced[newpath] = n
	} else {
		delete(f.synced, newpath)
	}
	delete(f.synced, oldpath)
	delete(f.created, oldpath)
	delete(f.created, newpath)
	if r, ok := f.overwritten[oldpath]; ok {
		f.overwritten[newpath] = r
	} else {
		delete(f.overwritten, newpath)
	}
	delete(f.overwritten, oldpath)
	f.mu.Unlock()
	return nil
}

// MkdirAll implements wal.FS.
func (f *FS) MkdirAll(path string, perm fs.FileMode) error {
	if _, err := f.disturb(OpCreate, path); err != nil {
		return err
	}
	return f.inner.MkdirAll(path, perm)
}

// PowerCut makes the files look as after a power failure: every file
// the FS saw is cut back to its size at its last successful fsync, the
// bytes written over its synced part since then are zeroed (lost: what
// a preallocated segment held before: wal/prealloc.go),
// and files created since their directory's last fsync are removed.
// Call it with the WAL closed or abandoned (its flusher stopped).
func (f *FS) PowerCut() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.PowerCuts++
	var errs []error
	for path := range f.created {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		} else if err == nil {
			f.st.RemovedFiles++
		}
		delete(f.synced, path)
	}
	clear(f.created)
	for path, ranges := range f.overwritten {
		if err := zeroRanges(path, ranges, f.synced[path]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		for _, r := range ranges {
			f.st.ZeroedBytes += uint64(min(r[1], f.synced[path]) - r[0])
		}
	}
	clear(f.overwritten)
	for path, size := range f.synced {
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Size() > size {
			if err := os.Truncate(path, size); err != nil {
				errs = append(errs, err)
				continue
			}
			f.st.TruncatedBytes += uint64(st.Size() - size)
		}
	}
	return errors.Join(errs...)
}

// zeroRanges writes zeros over ranges of path below size.
func zeroRanges(path string, ranges [][2]int64, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for _, r := range ranges {
		if n := min(r[1], size) - r[0]; n > 0 {
			if _, err := f.WriteAt(make([]byte, n), r[0]); err != nil {
				_ = f.Close()
				return err
			}
		}
	}
	return f.Close()
}

// file wraps one open file: it applies write and sync rules and records
// the size reached by each successful fsync, and what was written over
// the synced part since (appending: opened O_APPEND, so never).
type file struct {
	wal.File
	fs        *FS
	appending bool
}

func (w *file) Write(p []byte) (int, error) {
	var off int64 = -1
	if sk, ok := w.File.(io.Seeker); ok && !w.appending {
		if o, err := sk.Seek(0, io.SeekCurrent); err == nil {
			off = o
		}
	}
	r, err := w.fs.disturb(OpWrite, w.Name())
	var n int
	if err == nil {
		n, err = w.File.Write(p)
	} else if r.Short {
		var werr error
		if n, werr = w.File.Write(p[:len(p)/2]); werr != nil {
			err = werr
		}
	}
	if off >= 0 && n > 0 {
		w.fs.noteOverwrite(w.Name(), off, off+int64(n))
	}
	return n, err
}

// noteOverwrite records that [from, to) of name was written; the part
// below the synced size is lost by a power cut until the next fsync.
func (f *FS) noteOverwrite(name string, from, to int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if synced := f.synced[name]; from < synced {
		f.overwritten[name] = append(f.overwritten[name], [2]int64{from, min(to, synced)})
	}
}

// Truncate passes the cut on and lowers the file's synced size to it:
// whatever lay past it is gone, and a power cut before the next fsync
// must not bring back bytes written there since (the model keeps the
// smaller size; the WAL never relies on a cut it did not fsync).
func (w *file) Truncate(size int64) error {
	if err := w.File.Truncate(size); err != nil {
		return err
	}
	name := w.Name()
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if n, ok := w.fs.synced[name]; ok && n > size {
		w.fs.synced[name] = size
	}
	kept := w.fs.overwritten[name][:0]
	for _, r := range w.fs.overwritten[name] {
		if r[0] < size {
			kept = append(kept, [2]int64{r[0], min(r[1], size)})
		}
	}
	w.fs.overwritten[name] = kept
	return nil
}

// Datasync is fdatasync as the WAL uses it (wal's datasyncer): in this
// model the same as Sync (data and size both durable).
func (w *file) Datasync() error { return w.Sync() }

func (w *file) Sync() error {
	if _, err := w.fs.disturb(OpSync, w.Name()); err != nil {
		return err
	}
	if err := w.File.Sync(); err != nil {
		return err
	}
	st, err := w.File.Stat()
	if err != nil {
		return err
	}
	name := w.Name()
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if st.IsDir() {
		for p := range w.fs.created {
			if filepath.Dir(p) == filepath.Clean(name) {
				delete(w.fs.created, p)
			}
		}
		return nil
	}
	w.fs.synced[name] = st.Size()
	delete(w.fs.overwritten, name)
	return nil
}

// Writeback implements wal.WritebackFile: OpSync rules apply to it (it
// is the first half of a sync), and it makes nothing durable, so
// PowerCut still cuts the file back to its last fsync.
func (w *file) Writeback(off, n int64, wait bool) (bool, error) {
	if _, err := w.fs.disturb(OpSync, w.Name()); err != nil {
		return true, err
	}
	return wal.Writeback(w.File, off, n, wait)
}

// String describes a rule for logs and summaries.
func (r Rule) String() string {
	s := r.Op.String()
	if r.PathContains != "" {
		s += " on *" + r.PathContains + "*"
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
		if r.Short {
			s += " (short write)"
		}
	}
	if r.Delay > 0 {
		s += fmt.Sprintf(" +%v", r.Delay)
	}
	if r.Hold != nil {
		s += " (held)"
	}
	return s
}

var (
	_ io.Writer         = (*file)(nil)
	_ wal.WritebackFile = (*file)(nil)
)
