//go:build linux

package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// Fdatasync makes f's data durable (fdatasync(2)): without the metadata a
// write inside the file's size leaves unchanged. The WAL's preallocated
// segments use it, and so does the disk floor that measures them.
func Fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
