package bench

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

func TestMeasureMemoryFloor(t *testing.T) {
	f, err := MeasureMemoryFloor(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if f.Bytes != 4<<20 || f.CachedBytes != memoryFloorCachedBytes || f.PageBytes <= 0 || f.Reads != memoryFloorReads {
		t.Errorf("floor %+v: sizes not recorded", f)
	}
	if f.FirstWriteBytes != 4<<20 {
		t.Errorf("first-write region %d bytes, want the whole 4 MiB (below the cap)", f.FirstWriteBytes)
	}
	for name, v := range map[string]float64{"random read": f.RandomReadNs, "cached read": f.CachedReadNs, "first write": f.FirstWriteUsPerPage} {
		if v <= 0 {
			t.Errorf("%s: %v, want a positive time", name, v)
		}
	}
	t.Logf("%+v", f)
}

func TestMeasureMemoryFloorRejectsSizes(t *testing.T) {
	for _, n := range []int64{-1, 0, MinMemoryFloorBytes - 1, maxMemoryFloorBytes + 1} {
		if _, err := MeasureMemoryFloor(n); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("MeasureMemoryFloor(%d): %v, want a clear error", n, err)
		}
	}
}

// The chase visits every chosen line once per cycle: a chain broken into
// shorter cycles would keep a few lines hot and read as a fast memory.
func TestChaseIsOneCycle(t *testing.T) {
	region := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	const lines = 1024
	chase(region, lines, rng)
	stride := len(region) / 64 / lines
	seen := map[uint64]bool{}
	// Start at any chosen line: the one the chain's nonzero links lead
	// from first (at most one link is 0, the one to offset 0).
	p := uint64(0)
	for off := 0; off < len(region); off += 64 {
		if link(region, uint64(off)) != 0 {
			p = uint64(off)
			break
		}
	}
	for i := 0; i < lines; i++ {
		if seen[p] {
			t.Fatalf("line %d revisited after %d steps: the chain is not one cycle of %d", p/64, i, lines)
		}
		seen[p] = true
		if int(p/64)/stride >= lines {
			t.Fatalf("line %d outside every stratum", p/64)
		}
		p = link(region, p)
	}
	if len(seen) != lines {
		t.Errorf("visited %d lines, want %d", len(seen), lines)
	}
}

// link reads the chase's link at off as chase wrote it.
func link(region []byte, off uint64) uint64 {
	return *(*uint64)(unsafe.Pointer(&region[off]))
}
