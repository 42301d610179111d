//go:build linux

package kv

import (
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// mapSlab maps a full-size slab outside the Go heap (anonymous memory,
// its pages mapped up front) and returns it empty with the mapping that
// owns it; nil if the kernel refuses (the caller then allocates on the
// heap).
//
// Why outside the heap: the collector sizes its next cycle's heap to the
// live heap times (1 + GOGC/100), slabs included although it never scans
// them, so a large store made the process grow that much fresh garbage
// memory too, and each fresh page costs a page fault (see prefault.go).
// At a million keys that headroom was most of the run's page faults.
//
// The mapping is unmapped by a cleanup once no table and no snapshot view
// holds it (each keeps its slabs' mappings beside the slabs): a record's
// bytes are read only through a table or view that holds its slab.
func mapSlab(size int) ([]byte, *slabMapping) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil
	}
	m := &slabMapping{size: size}
	mappedSlabs.Add(1)
	runtime.AddCleanup(m, unmapSlab, b)
	return b[:0], m
}

func unmapSlab(b []byte) {
	if err := unix.Munmap(b); err != nil {
		// Only if b was not a mapping: a bug in this file, not a state
		// the store can be in.
		panic("kv: unmapping a slab: " + err.Error())
	}
	mappedSlabs.Add(-1)
}

// mappedSlabs counts slabs mapped and not yet unmapped (tests).
var mappedSlabs atomic.Int64
