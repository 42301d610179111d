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
