//go:build linux

package bench

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTTY reports whether f is a terminal (a TCGETS ioctl succeeds).
func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
