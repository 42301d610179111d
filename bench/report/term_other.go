//go:build !linux

package report

import "os"

// isTTY approximates a terminal check: a character device.
func isTTY(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func termWidth(*os.File) int { return 0 }
