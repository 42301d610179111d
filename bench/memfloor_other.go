//go:build !unix

package bench

import "os"

func pageSize() int { return os.Getpagesize() }

// mapFresh allocates n bytes on the Go heap (no anonymous mappings here).
func mapFresh(n int) ([]byte, func(), error) { return make([]byte, n), func() {}, nil }
