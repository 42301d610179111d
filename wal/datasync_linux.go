//go:build linux

package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable without the metadata a size-keeping
// overwrite leaves unchanged.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
