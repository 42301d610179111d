package wal

import "os"

// FsyncRing fsyncs files through an io_uring, as a WAL does when other
// WALs share its process (see "Fsync offload" in doc.go): the caller
// parks in Go's netpoller while the kernel syncs, leaving its P to other
// goroutines, instead of holding it in a blocking syscall. One fsync at a
// time per ring. Exported for the bench package's floor target, whose
// logs stand in for WALs and must not be slowed by what the WAL avoids.
type FsyncRing struct{ r *ringSyncer }

// NewFsyncRing sets up a ring; it fails where io_uring is missing or
// forbidden (FsyncOffloadAvailable says which).
func NewFsyncRing() (*FsyncRing, error) {
	r, err := newRingSyncer()
	if err != nil {
		return nil, err
	}
	return &FsyncRing{r: r}, nil
}

// Sync fsyncs f (fdatasync if datasync) and returns the kernel's result,
// as os.File.Sync would.
func (f *FsyncRing) Sync(file *os.File, datasync bool) error { return f.r.Sync(file, datasync) }

// Close releases the ring. Safe to call more than once.
func (f *FsyncRing) Close() error { return f.r.Close() }
