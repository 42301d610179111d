//go:build linux

package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// osWriteback is Writeback for a real file on Linux: sync_file_range(2).
// It returns false when f is not an *os.File (the caller falls back).
func osWriteback(f File, off, n int64, wait bool) (bool, error) {
	osf, ok := f.(*os.File)
	if !ok {
		return false, nil
	}
	flags := unix.SYNC_FILE_RANGE_WRITE
	if wait {
		flags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	}
	for {
		err := unix.SyncFileRange(int(osf.Fd()), off, n, flags)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.ESPIPE {
			// Not supported here (some file systems, some sandboxes):
			// the caller falls back to fdatasync.
			return false, nil
		}
		if err != nil {
			return true, &os.PathError{Op: "sync_file_range", Path: osf.Name(), Err: err}
		}
		return true, nil
	}
}
