//go:build unix

package bench

import (
	"os"

	"golang.org/x/sys/unix"
)

func pageSize() int { return os.Getpagesize() }

// mapFresh maps n bytes of anonymous memory outside the Go heap (fresh
// pages, none touched yet) and returns it with its release.
func mapFresh(n int) ([]byte, func(), error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { _ = unix.Munmap(b) }, nil
}
