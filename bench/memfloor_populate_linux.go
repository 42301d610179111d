//go:build linux

package bench

import "golang.org/x/sys/unix"

// populated has the kernel map every page of b in one call
// (MADV_POPULATE_WRITE, Linux 5.14+); false if it cannot.
func populated(b []byte) bool {
	return unix.Madvise(b, unix.MADV_POPULATE_WRITE) == nil
}
