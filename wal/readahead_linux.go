//go:build linux

package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// readAhead asks the kernel to bring f's pages into the page cache in
// the background (posix_fadvise WILLNEED); a hint, so errors are
// ignored, and files that are not *os.File are left alone.
func readAhead(f File) {
	if osf, ok := f.(*os.File); ok {
		_ = unix.Fadvise(int(osf.Fd()), 0, 0, unix.FADV_WILLNEED)
	}
}
