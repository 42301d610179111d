package kv

import "unsafe"

// Fresh slabs and index arrays are written a record or a slot at a
// time, in arbitrary order, and each first write to a 4 KiB page is a
// page fault. Measured on the 2-core VM the project's figures come from
// (BenchmarkFreshPages, CPU time): 11.7-12.4 µs per page faulted in one
// by one, 6.9 µs when the kernel maps the range in one call first (the
// call itself ~1 µs per page; the rest is the host backing a fresh guest
// page, which stays). At a million keys while the key space fills,
// first writes to slabs and index arrays were half of the process's page
// faults. So new arrays are mapped up front; the largest (full-size slabs,
// index arrays of a huge page or more) are also mapped outside the heap
// on huge-page boundaries (mapAligned). With transparent huge pages the
// same test costs 0.26-0.41 µs per 4 KiB page against 5.7-7.6 µs for
// populated small pages (results/snapshots/kv-memory/hugepage-ab), but
// the store asks for them only with Options.HugePages (offheap_linux.go). Populating only maps pages:
// the array's contents do not change, so it may run beside writes to
// the array.
const (
	// prefaultMinBytes: smaller arrays are not worth a system call (a
	// store's first slabs, a small index).
	prefaultMinBytes = 64 << 10
	// prefaultSyncMaxBytes: larger arrays (a grown index: 32 MiB at a
	// million keys, about 8 ms to map) are mapped on a goroutine of their
	// own, so no single write waits for them; pages written before it
	// gets there fault in as before.
	prefaultSyncMaxBytes = 1 << 20
)

// prefault maps the pages of b's backing array (see above).
func prefault(b []byte) {
	b = b[:cap(b)]
	switch {
	case len(b) < prefaultMinBytes:
	case len(b) <= prefaultSyncMaxBytes:
		populate(b)
	default:
		go populate(b)
	}
}

// newSlots allocates a zeroed index array, its pages mapped up front:
// outside the heap if it is at least a huge page (mapIndexArray; then
// with the mapping that owns it), else on the heap (owner nil).
func newSlots(n int, huge bool) ([]hslot, *offHeapMapping) {
	size := n * int(unsafe.Sizeof(hslot{}))
	if b, m := mapIndexArray(size, huge); m != nil {
		return unsafe.Slice((*hslot)(unsafe.Pointer(unsafe.SliceData(b))), n), m
	}
	s := make([]hslot, n)
	prefault(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size))
	return s, nil
}
