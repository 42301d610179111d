package wal

import (
	"io"
	"io/fs"
	"os"
)

// FS is the seam every file the WAL writes, syncs, renames or removes
// goes through, so tests and the chaos tools can make the disk fail
// (wal/errorfs). Reads (recovery's scan, the marker, hard state and
// snapshot files, the segments' records) use the os package directly:
// the faults that matter for durability are on the write path.
// Options.FS nil means OSFS. Segment appends are writes to a File opened
// here (O_APPEND); the truncations that tidwall/wal performs itself
// (see doc.go) bypass it, and the WAL reopens and fsyncs the tail
// segment through it afterwards.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove and Rename are os.Remove and os.Rename.
	Remove(name string) error
	Rename(oldpath, newpath string) error
	// MkdirAll is os.MkdirAll.
	MkdirAll(path string, perm fs.FileMode) error
}

// File is the part of *os.File the WAL uses.
type File interface {
	io.Writer
	io.Closer
	Name() string
	Sync() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
}

// OSFS is the real file system.
type OSFS struct{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a typed nil *os.File must not become a non-nil File
	}
	return f, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// WritebackFile is a File that can write a byte range of itself out to
// the disk without a full fsync (Linux: sync_file_range(2)). An FS whose
// files wrap others (wal/errorfs) implements it to pass the call on
// (with Writeback) or to fail it.
type WritebackFile interface {
	File
	// Writeback starts writing bytes [off, off+n) to the disk; with
	// wait it first waits for any writeback of that range already
	// running and then for the one it starts. It makes nothing durable
	// (no metadata, no disk cache flush): only Sync does. ok false
	// says the file cannot do it (the caller falls back to Sync).
	Writeback(off, n int64, wait bool) (ok bool, err error)
}

// Writeback writes f's bytes [off, off+n) out as WritebackFile
// describes, through f's own Writeback if it has one, else with
// sync_file_range on a real file on Linux. ok false: not possible here.
func Writeback(f File, off, n int64, wait bool) (ok bool, err error) {
	if wf, is := f.(WritebackFile); is {
		return wf.Writeback(off, n, wait)
	}
	return osWriteback(f, off, n, wait)
}
