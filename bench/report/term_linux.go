//go:build linux

package report

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTTY reports whether f is a terminal (a TCGETS ioctl succeeds).
func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termWidth is f's terminal width in columns, 0 if unknown.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
