//go:build amd64 || arm64

package kv

// prefetchLines asks the CPU to bring the n 64-byte cache lines from addr
// on into its caches (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64) and
// returns at once: unlike a load, a prefetch does not hold up the
// instructions after it until its line arrives, and it never faults, so
// addr may be any address.
//
//go:noescape
func prefetchLines(addr uintptr, n int)

// hardwarePrefetch: prefetchLines issues prefetch instructions here.
const hardwarePrefetch = true
