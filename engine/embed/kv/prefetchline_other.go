//go:build !amd64 && !arm64

package kv

// prefetchLines does nothing where the store has no prefetch
// instruction; touch loads the lines instead (hardwarePrefetch false).
func prefetchLines(uintptr, int) {}

const hardwarePrefetch = false
