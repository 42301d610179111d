//go:build linux

package kv

import (
	"runtime"
	"sync/atomic"
	"unsafe"

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
func mapSlab(size int, huge bool) ([]byte, *offHeapMapping) {
	b := mapAligned(size, huge)
	if b == nil {
		return nil, nil
	}
	populate(b)
	m := &offHeapMapping{size: size}
	mappedSlabs.Add(1)
	runtime.AddCleanup(m, unmap, mappedRegion{b, &mappedSlabs})
	return b[:0], m
}

// mapIndexArray maps a zeroed index array of size bytes outside the Go
// heap, for the same reason as slabs (and the collector would otherwise
// zero it: tens of megabytes at a million keys), with the mapping that
// owns it; nil below a huge page (those stay on the heap) or if the
// kernel refuses. Its pages are mapped on a goroutine of its own (see
// prefaultSyncMaxBytes).
func mapIndexArray(size int, huge bool) ([]byte, *offHeapMapping) {
	if size < hugePageBytes {
		return nil, nil
	}
	size = (size + hugePageBytes - 1) &^ (hugePageBytes - 1)
	b := mapAligned(size, huge)
	if b == nil {
		return nil, nil
	}
	m := &offHeapMapping{size: size}
	mappedIndexArrays.Add(1)
	runtime.AddCleanup(m, unmap, mappedRegion{b, &mappedIndexArrays})
	go func() {
		populate(b)
		runtime.KeepAlive(m) // b stays mapped while this touches it
	}()
	return b, m
}

// hugePageBytes is the size of a transparent huge page on amd64 and
// arm64 (with 4 KiB base pages), the alignment mapAligned gives.
const hugePageBytes = 2 << 20

// By default (Options.HugePages false) the store's mappings do not ask
// for transparent huge pages (MADV_HUGEPAGE). They make filling a key
// space cheaper per insert (BenchmarkPrefetchFill: 0.58-0.68x the CPU),
// but in the 3-node cluster at a million keys, four alternating pairs
// with huge pages on and off (same binary, the system's THP setting
// switched) showed no direction in throughput, CPU per write or p99.9,
// and a higher maximum latency with them in 4 of 4 (49-79 ms against
// 26-50): a huge page's first fault zeroes 2 MiB on the writer's path.
// The mappings stay aligned, so a kernel set to use huge pages always
// still can.

// mapAligned maps size bytes of anonymous memory starting on a
// hugePageBytes boundary, with huge asking for transparent huge pages
// there; nil if the kernel refuses the mapping. Why huge pages: measured on the
// 2-core VM the project's figures come from (BenchmarkFreshPages), each
// fresh 4 KiB page costs microseconds at its first write even when
// populated up front (the host backing a fresh guest page), while a
// 2 MiB huge page costs about as much as a few small ones: mapping and
// filling a 2 MiB slab took about 0.13 ms instead of 3-4 ms. Where huge
// pages are off or none is free, the kernel uses small pages and
// nothing else changes. (On a host whose memory is too fragmented to
// have a free huge page, the kernel's THP defrag settings "always",
// "defer+madvise" and "madvise" make it compact memory synchronously
// for an madvised range: that cost falls on the write that opens a
// slab.)
func mapAligned(size int, huge bool) []byte {
	// Map a huge page more than asked, then unmap the unaligned head
	// and the tail: what is left starts on a boundary.
	span := uintptr(size) + hugePageBytes
	p, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	base := uintptr(p)
	start := (base + hugePageBytes - 1) &^ (hugePageBytes - 1)
	if head := start - base; head > 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := base + span - (start + uintptr(size)); tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(p, start-base+uintptr(size)), tail)
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, start-base)), size)
	if huge {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	}
	return b
}

// mappedRegion is what a mapping's cleanup unmaps, and the count of live
// mappings of its kind it decrements.
type mappedRegion struct {
	b     []byte
	count *atomic.Int64
}

func unmap(r mappedRegion) {
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(r.b)), uintptr(len(r.b))); err != nil {
		// Only if b was not a mapping: a bug in this file, not a state
		// the store can be in.
		panic("kv: unmapping memory: " + err.Error())
	}
	r.count.Add(-1)
}

// mappedSlabs and mappedIndexArrays count mappings not yet unmapped
// (tests).
var mappedSlabs, mappedIndexArrays atomic.Int64
