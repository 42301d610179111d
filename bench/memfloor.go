package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"
	"unsafe"
)

// MemoryFloor is what this machine's memory costs a state of a given
// size, measured without the engine, as DiskFloor measures the disk
// without it. A state machine that outgrows the caches pays, on every
// write, for reads that miss them (a key's index slot, its record) and,
// while the state grows, for the first write to each fresh page. How much
// that is depends on the machine far more than on the engine: a dependent
// read that misses every cache costs about 100 ns on a typical server,
// several times that on a virtual machine whose host maps the guest's
// memory through shadow page tables; a page's first write costs well under
// a microsecond on bare metal and over ten on such a guest. Held beside a
// state-size ratio (throughput with many keys over few), it says how much
// of the ratio is the machine.
type MemoryFloor struct {
	// Bytes is the region the random reads ran over (the state's size).
	Bytes int64 `json:"bytes"`
	// RandomReadNs is the mean latency of a read that depends on the one
	// before, each to a random cache line of Bytes: a cache miss (and,
	// beyond the TLB's reach, a page walk) each time.
	RandomReadNs float64 `json:"random_read_ns"`
	// CachedReadNs is the same over CachedBytes, small enough to stay in
	// a core's caches: what those reads cost when the state is small.
	CachedReadNs float64 `json:"cached_read_ns"`
	CachedBytes  int64   `json:"cached_bytes"`
	// FirstWriteUsPerPage is the cost of the first write to each page of
	// freshly mapped memory, page by page (each a page fault), over
	// FirstWriteBytes; PopulatedUsPerPage the cost per page of having the
	// kernel map a fresh range in one call (MADV_POPULATE_WRITE, Linux
	// 5.14+; 0 where unavailable), as the KV store maps its slabs, and
	// then writing each page once: under a hypervisor that builds its own
	// page tables for the guest the first write still costs the
	// hypervisor's work after the guest kernel has mapped the page.
	FirstWriteUsPerPage float64 `json:"first_write_us_per_page"`
	PopulatedUsPerPage  float64 `json:"populated_us_per_page,omitempty"`
	FirstWriteBytes     int64   `json:"first_write_bytes"`
	PageBytes           int     `json:"page_bytes"`
	// Reads is how many random reads RandomReadNs averages.
	Reads int `json:"reads"`
}

// MinMemoryFloorBytes is the smallest region MeasureMemoryFloor takes
// (a smaller state is measured at this size); the largest is
// maxMemoryFloorBytes, so a mistaken size cannot exhaust the machine.
const (
	MinMemoryFloorBytes = 1 << 20
	maxMemoryFloorBytes = 64 << 30
	// memoryFloorCachedBytes is the small region's size: inside every
	// current server core's L2 cache.
	memoryFloorCachedBytes = 256 << 10
	// memoryFloorFirstWriteBytes caps the region whose pages are faulted
	// in one by one (the rest is mapped in one call), so a large state's
	// floor does not take a page fault per page of it.
	memoryFloorFirstWriteBytes = 64 << 20
	// memoryFloorChainLines caps the lines the random reads visit: one
	// random line in each of this many equal strata of the region, so
	// the chain spans every part of it (and misses every cache: 64 MiB of
	// lines) while it takes little time to build.
	memoryFloorChainLines = 1 << 20
	// memoryFloorReads is how many dependent reads each chase makes.
	memoryFloorReads = 2_000_000
)

// MeasureMemoryFloor measures the memory floor for a state of bytes
// bytes (see MemoryFloor). It maps, writes and unmaps up to bytes of
// memory and takes about a second per gigabyte plus the reads' time
// (memoryFloorReads at RandomReadNs each).
func MeasureMemoryFloor(bytes int64) (MemoryFloor, error) {
	if bytes < MinMemoryFloorBytes || bytes > maxMemoryFloorBytes || bytes > math.MaxInt {
		return MemoryFloor{}, fmt.Errorf("memory floor over %d bytes: want %d to %d", bytes, int64(MinMemoryFloorBytes), int64(maxMemoryFloorBytes))
	}
	page := pageSize()
	f := MemoryFloor{Bytes: bytes, CachedBytes: memoryFloorCachedBytes, PageBytes: page, Reads: memoryFloorReads}
	region, release, err := mapFresh(int(bytes))
	if err != nil {
		return MemoryFloor{}, fmt.Errorf("memory floor: map %d bytes: %w", bytes, err)
	}
	defer release()
	// The first pages are written one by one (each a fault); the rest
	// are mapped in one call where the kernel can, else written too.
	first := min(len(region), memoryFloorFirstWriteBytes)
	f.FirstWriteBytes = int64(first)
	start := time.Now()
	touchPages(region[:first], page)
	f.FirstWriteUsPerPage = perPage(time.Since(start), first, page)
	if rest := region[first:]; len(rest) >= page {
		start = time.Now()
		ok := populated(rest)
		touchPages(rest, page)
		if ok {
			f.PopulatedUsPerPage = perPage(time.Since(start), len(rest), page)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(bytes), 0x6d656d666c6f6f72))
	f.RandomReadNs = chase(region, memoryFloorChainLines, rng)

	small, releaseSmall, err := mapFresh(memoryFloorCachedBytes)
	if err != nil {
		return MemoryFloor{}, fmt.Errorf("memory floor: map %d bytes: %w", memoryFloorCachedBytes, err)
	}
	defer releaseSmall()
	touchPages(small, page)
	f.CachedReadNs = chase(small, memoryFloorChainLines, rng)
	return f, nil
}

func perPage(d time.Duration, n, page int) float64 {
	return float64(d.Nanoseconds()) / 1e3 / float64(max(1, n/page))
}

// touchPages writes one byte of every page of b.
func touchPages(b []byte, page int) {
	for i := 0; i < len(b); i += page {
		b[i] = 1
	}
}

// chase links up to maxLines cache lines of region into one cycle in
// random order, a random line from each of as many equal strata, and
// follows the links memoryFloorReads times: each read's address comes
// from the read before, so the CPU cannot overlap the misses. It returns
// the mean nanoseconds per read.
func chase(region []byte, maxLines int, rng *rand.Rand) float64 {
	const line = 64
	total := len(region) / line
	if total == 0 {
		return 0 // no line to read (MeasureMemoryFloor's regions are at least MinMemoryFloorBytes)
	}
	n := min(total, maxLines)
	stride := total / n // lines per stratum
	at := make([]uint64, n)
	for i := range at {
		at[i] = uint64(i*stride+rng.IntN(stride)) * line
	}
	// Sattolo's shuffle: one cycle through every chosen line.
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i)
		at[i], at[j] = at[j], at[i]
	}
	base := unsafe.Pointer(unsafe.SliceData(region))
	for i, off := range at {
		*(*uint64)(unsafe.Add(base, off)) = at[(i+1)%n]
	}
	p := at[0]
	start := time.Now()
	for range memoryFloorReads {
		p = *(*uint64)(unsafe.Add(base, p))
	}
	d := time.Since(start)
	runtime.KeepAlive(p) // the reads must not be dropped as unused
	return float64(d.Nanoseconds()) / memoryFloorReads
}
