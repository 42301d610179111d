//go:build linux

package kv

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// waitForMapped runs collections until at most want slabs are mapped
// (cleanups run after the collection that finds their owner unreachable).
func waitForMapped(t *testing.T, want int64) {
	t.Helper()
	waitForUnmapped(t, &mappedSlabs, "slabs", want)
}

// waitForUnmapped runs collections until count (of mappings of one
// kind, named what) is at most want.
func waitForUnmapped(t *testing.T, count *atomic.Int64, what string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count.Load() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s still mapped, want at most %d", count.Load(), what, want)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestOffHeapSlabsLiveAsLongAsTheirReaders: full-size slabs are mapped
// outside the heap; a snapshot view keeps the slabs it captured mapped
// after the store dropped them (a restore, a compaction), through any
// number of collections, and reads them correctly; once nothing holds
// them they are unmapped.
func TestOffHeapSlabsLiveAsLongAsTheirReaders(t *testing.T) {
	defer func(f uint64) { compactFloor = f }(compactFloor)
	compactFloor = 1 << 20
	waitForMapped(t, 0) // other tests' stores
	s := NewStore()
	val := bytes.Repeat([]byte{'v'}, 200)
	const keys = 40_000 // ~8.6 MiB of records: several full-size slabs
	for i := range keys {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), val))
	}
	if mappedSlabs.Load() < 4 {
		t.Fatalf("%d slabs mapped outside the heap, want several", mappedSlabs.Load())
	}
	want := s.Snapshot()

	// A view, then every key rewritten with another length (garbage the
	// compaction reclaims once the view closes) and the store restored
	// to something else: the view's slabs are held by nothing but it.
	v := s.Capture()
	short := []byte("s")
	for i := range keys {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), short))
	}
	if err := s.Restore(encodeSnapshot(map[string][]byte{"other": []byte("state")})); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		runtime.GC()
	}
	var streamed bytes.Buffer
	if _, err := v.WriteTo(&streamed); err != nil {
		t.Fatal(err)
	}
	r := NewStore()
	if err := r.Restore(streamed.Bytes()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("the view read back other bytes than the state at its capture")
	}
	r = nil
	s = nil
	waitForMapped(t, 0)

	// Compaction drops emptied slabs; they are unmapped too.
	c := NewStore()
	for i := range keys {
		c.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), val))
	}
	peak := mappedSlabs.Load()
	for round := range 6 {
		for i := range keys {
			c.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), bytes.Repeat([]byte{'w'}, 150+50*(round%2))))
		}
	}
	waitForMapped(t, 3*peak)
	if got := mustResult(t, c.Query(EncodeRead([]byte("k0000007")))); len(got.Value) != 200 {
		t.Fatalf("k0000007 has %d bytes", len(got.Value))
	}
	runtime.KeepAlive(c)
}

// TestOffHeapIndexLivesAsLongAsItsReaders: an index array of a huge page
// or more is mapped outside the heap; a view sharing it keeps it mapped
// after the store dropped it (a restore), through collections, and reads
// it correctly (View.Encode walks the index); once nothing holds it, it
// is unmapped. A build whose index copies do not carry the arrays'
// owners unmaps the array under the view and crashes here.
func TestOffHeapIndexLivesAsLongAsItsReaders(t *testing.T) {
	waitForUnmapped(t, &mappedIndexArrays, "index arrays", 0) // other tests' stores
	s := NewStore()
	const keys = 100_000 // an index of 262,144 slots: 4 MiB
	for i := range keys {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), []byte("v")))
	}
	if mappedIndexArrays.Load() < 1 {
		t.Fatal("no index array mapped outside the heap")
	}
	v := s.Capture()
	want := s.Snapshot()
	if err := s.Restore(encodeSnapshot(map[string][]byte{"other": []byte("state")})); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		runtime.GC()
	}
	if !bytes.Equal(v.Encode(), want) {
		t.Fatal("the view read back other bytes than the state at its capture")
	}
	v.Release()
	v, s = nil, nil
	waitForUnmapped(t, &mappedIndexArrays, "index arrays", 0)
}

// TestMappedMemoryIsHugePageAligned: slabs and large index arrays start
// on a huge-page boundary (so the kernel can back them with huge pages)
// and are fully usable.
func TestMappedMemoryIsHugePageAligned(t *testing.T) {
	for _, size := range []int{slabBytes, 3 * hugePageBytes} {
		b := mapAligned(size, size == slabBytes)
		if b == nil {
			t.Skip("the kernel refused an anonymous mapping")
		}
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); p%hugePageBytes != 0 || len(b) != size {
			t.Fatalf("mapAligned(%d) = %d bytes at %#x, want %d at a multiple of %d", size, len(b), p, size, hugePageBytes)
		}
		for i := 0; i < len(b); i += 4096 {
			b[i] = byte(i >> 12)
		}
		for i := 0; i < len(b); i += 4096 {
			if b[i] != byte(i>>12) {
				t.Fatalf("byte %d reads %d", i, b[i])
			}
		}
		unmap(mappedRegion{b, new(atomic.Int64)})
	}
}

// TestHugePagesOption: with Options.HugePages a store's full-size slabs
// and its large index arrays are mapped asking for transparent huge pages
// (their mappings carry the kernel's "hg" flag in /proc/self/smaps), and
// without it none of them is; either way the store reads back what it
// was given, a restore included.
func TestHugePagesOption(t *testing.T) {
	val := bytes.Repeat([]byte{7}, 128)
	for _, huge := range []bool{false, true} {
		s := NewStoreWith(Options{HugePages: huge})
		const n = 200_000 // 28 MiB of records, an index array over 2 MiB
		for i := range n {
			s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), val))
		}
		s.mu.RLock()
		var regions [][]byte
		for _, slab := range s.t.slabs {
			if cap(slab) == slabBytes {
				regions = append(regions, slab[:1])
			}
		}
		slots := s.t.index.slots
		if s.t.index.slotsMem != nil {
			regions = append(regions, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(slots))), 1))
		}
		s.mu.RUnlock()
		if len(regions) < 3 || s.t.index.slotsMem == nil {
			t.Fatalf("huge=%v: %d regions, index outside the heap %v: want full-size slabs and a mapped index", huge, len(regions), s.t.index.slotsMem != nil)
		}
		for _, r := range regions {
			flagged, err := mappingAsksHugePages(uintptr(unsafe.Pointer(unsafe.SliceData(r))))
			if err != nil {
				t.Fatal(err)
			}
			if flagged != huge {
				t.Fatalf("huge=%v: a mapping at %p asks for huge pages: %v", huge, unsafe.SliceData(r), flagged)
			}
		}
		restored := NewStoreWith(Options{HugePages: huge})
		if err := restored.Restore(s.Snapshot()); err != nil {
			t.Fatal(err)
		}
		if restored.t.huge != huge || restored.t.index.huge != huge {
			t.Fatalf("huge=%v: a restored table asks %v, its index %v", huge, restored.t.huge, restored.t.index.huge)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			r, err := DecodeResult(restored.Query(EncodeRead([]byte(fmt.Sprintf("k%07d", i)))))
			if err != nil || r.Status != StatusOK || !bytes.Equal(r.Value, val) {
				t.Fatalf("huge=%v: key %d after restore: %+v %v", huge, i, r, err)
			}
		}
		runtime.KeepAlive(s)
	}
}

// mappingAsksHugePages reports whether the mapping holding addr has the
// "hg" (MADV_HUGEPAGE) flag in /proc/self/smaps.
func mappingAsksHugePages(addr uintptr) (bool, error) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	inside := false
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line[:strings.IndexByte(line, ' ')], "-") {
			inside = lo <= addr && addr < hi
			continue
		}
		if inside && strings.HasPrefix(line, "VmFlags:") {
			return slices.Contains(strings.Fields(line)[1:], "hg"), nil
		}
	}
	return false, fmt.Errorf("no mapping in /proc/self/smaps holds %#x", addr)
}
