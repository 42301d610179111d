//go:build linux

package kv

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts the whole pages of b's backing array that are
// mapped (mincore), and how many whole pages it has.
func residentPages(t *testing.T, b []byte) (resident, pages int) {
	t.Helper()
	b = b[:cap(b)]
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	page := uintptr(unix.Getpagesize())
	start := (base + page - 1) &^ (page - 1)
	end := (base + uintptr(len(b))) &^ (page - 1)
	vec := make([]byte, (end-start)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, start, end-start, uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec)
}

// TestNewArraysAreMappedUpFront: a store's full-size slab and a grown
// index are mapped when they are allocated, before anything is written
// to most of their pages (mincore). Skipped where the kernel cannot
// (MADV_POPULATE_WRITE is Linux 5.14+) or where the test cannot tell
// (memory the runtime handed out already mapped).
func TestNewArraysAreMappedUpFront(t *testing.T) {
	probe := make([]byte, 1<<20)
	if r, _ := residentPages(t, probe); r > 8 {
		t.Skipf("fresh memory already has %d resident pages: cannot tell", r)
	}
	populate(probe)
	if r, n := residentPages(t, probe); r < n {
		t.Skipf("populate mapped %d of %d pages: kernel before 5.14?", r, n)
	}

	var tbl table
	tbl.index = newHindex(0, false)
	val := bytes.Repeat([]byte{7}, 128)
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%015d", i)) }
	i := 0
	for len(tbl.slabs) == 0 || cap(tbl.slabs[len(tbl.slabs)-1]) < slabBytes {
		tbl.put(key(i), 0, false, val, true)
		i++
	}
	// The last put opened a full-size slab with one record in it.
	if r, n := residentPages(t, tbl.slabs[len(tbl.slabs)-1]); r < n {
		t.Errorf("a new %d-page slab has %d pages mapped, want all", n, r)
	}
	// An index array above the synchronous size is mapped on its own
	// goroutine: wait for it rather than time it.
	grown, mem := newSlots(4<<20/int(unsafe.Sizeof(hslot{})), false)
	defer runtime.KeepAlive(mem) // mapped while this reads it
	asBytes := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(grown))), len(grown)*int(unsafe.Sizeof(hslot{})))
	for tries := 0; ; tries++ {
		r, n := residentPages(t, asBytes)
		if r == n {
			break
		}
		if tries == 2000 {
			t.Fatalf("a new 4 MiB index array has %d of %d pages mapped after 2 s, want all", r, n)
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
	for j := 0; j < i; j++ {
		loc, ok := tbl.find(key(j))
		if !ok || !bytes.Equal(tbl.value(loc), val) {
			t.Fatalf("key %d lost", j)
		}
	}
}

// cpuTime is the CPU time (user and system) of the calling thread
// (unix.RUSAGE_THREAD) or of the whole process (unix.RUSAGE_SELF): on a
// shared machine wall-clock time mostly measures who else ran.
func cpuTime(b *testing.B, who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreshPages is the cost prefault saves, in CPU time per 4 KiB
// page of fresh anonymous memory: "touch" writes one byte per page (a
// page fault each), "populate" maps the range in one call and then
// writes the same bytes, "huge-pages" does the same in a range aligned
// as slabs are that asks for transparent huge pages (mapAligned with
// huge; the store itself does only with Options.HugePages). Each iteration maps 64 MiB of its own so every
// page is fresh. On a virtual machine part of the first-write cost is
// the host's (backing a guest page it has not backed yet) and stays.
func BenchmarkFreshPages(b *testing.B) {
	const size = 64 << 20
	page := unix.Getpagesize()
	for _, mode := range []string{"touch", "populate", "huge-pages"} {
		b.Run(mode, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			for range b.N {
				var m []byte
				if mode == "huge-pages" {
					// As slabs and large index arrays are mapped.
					if m = mapAligned(size, true); m == nil {
						b.Fatal("mapAligned refused")
					}
				} else {
					var err error
					if m, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err != nil {
						b.Fatal(err)
					}
				}
				start := cpuTime(b, unix.RUSAGE_THREAD)
				if mode != "touch" {
					populate(m)
				}
				for i := 0; i < size; i += page {
					m[i] = 1
				}
				cpu += cpuTime(b, unix.RUSAGE_THREAD) - start
				if mode == "huge-pages" {
					unmap(mappedRegion{m, new(atomic.Int64)})
				} else if err := unix.Munmap(m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*size/page), "cpu-ns/page")
		})
	}
}

// BenchmarkPrefetchFill fills an empty store with 1,000,000 new keys in
// random order (16-byte keys, 128-byte values), a group of PrefetchGroup
// at a time with Prefetch before each group, as the node's applier does
// while a key space fills: every write appends a record at a slab's
// tail and inserts an index slot. Each group's commands are encoded just
// before it (as a node's entries arrive shortly before their apply), so
// they are in the cache. ns/write is per new key, encoding included;
// cpu-ns/write the process's CPU time per new key (the index arrays are
// mapped on goroutines of their own), the figure to compare on a shared
// machine.
func BenchmarkPrefetchFill(b *testing.B) {
	const n = 1_000_000
	val := bytes.Repeat([]byte{1}, 128)
	perm := make([]uint64, n)
	for i := range perm {
		perm[i] = uint64(i)
	}
	x := uint64(88172645463325252)
	for i := n - 1; i > 0; i-- {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		j := int(x % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	key := []byte("k000000000000000")
	grp := make([][]byte, PrefetchGroup)
	cpu0 := cpuTime(b, unix.RUSAGE_SELF)
	for b.Loop() {
		s := NewStore()
		for g := perm; len(g) > 0; {
			m := min(len(g), PrefetchGroup)
			for i, k := range g[:m] {
				for d := len(key) - 1; d > 0; d-- {
					key[d] = byte('0' + k%10)
					k /= 10
				}
				grp[i] = EncodeWrite(key, val)
			}
			g = g[m:]
			s.Prefetch(grp[:m])
			for _, c := range grp[:m] {
				s.Apply(c)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/write")
	b.ReportMetric(float64((cpuTime(b, unix.RUSAGE_SELF)-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/write")
}
