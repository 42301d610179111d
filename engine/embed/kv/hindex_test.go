package kv

import (
	"math/rand/v2"
	"testing"
)

// TestHindexMatchesMap: random sets (new hashes and overwrites, many
// sharing low or high bits) through several growths agree with a Go map
// on every get, present or absent, and on the count; a clone is
// independent of later sets.
func TestHindexMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x, want := newHindex(0, false), map[uint64]uint64{}
	draw := func() uint64 {
		switch r.IntN(3) {
		case 0:
			return 1 + r.Uint64N(5000) // small: shared high bits
		case 1:
			return (1 + r.Uint64N(5000)) << 40 // shared low bits
		}
		return r.Uint64() | 1
	}
	var snap hindex
	var snapWant map[uint64]uint64
	for i := range 60_000 {
		h, loc := draw(), r.Uint64()
		x.set(h, loc)
		want[h] = loc
		if i == 30_000 {
			snap, snapWant = x.clone(), map[uint64]uint64{}
			for k, v := range want {
				snapWant[k] = v
			}
		}
	}
	check := func(x *hindex, want map[uint64]uint64) {
		t.Helper()
		checkHindex(t, x, want, draw)
	}
	check(&x, want)
	check(&snap, snapWant)
	if len(x.slots)*3 < x.len()*4 {
		t.Fatalf("%d slots for %d entries: over 3/4 full", len(x.slots), x.len())
	}
}

func checkHindex(t *testing.T, x *hindex, want map[uint64]uint64, draw func() uint64) {
	t.Helper()
	{
		if x.len() != len(want) {
			t.Fatalf("len %d, want %d", x.len(), len(want))
		}
		for h, loc := range want {
			if got, ok := x.get(h); !ok || got != loc {
				t.Fatalf("get(%#x) = %d, %v; want %d", h, got, ok, loc)
			}
		}
		for range 10_000 {
			h := draw()
			_, in := want[h]
			if _, ok := x.get(h); ok != in {
				t.Fatalf("get(%#x) present %v, want %v", h, ok, in)
			}
		}
		n := 0
		x.each(func(h, loc uint64) {
			n++
			if want[h] != loc {
				t.Fatalf("each: %#x -> %d, want %d", h, loc, want[h])
			}
		})
		if n != len(want) {
			t.Fatalf("each visited %d, want %d", n, len(want))
		}
	}
}

// TestHindexGrowsIncrementally: a growth moves only a few entries per
// set, and while entries sit in the old array, gets, each, len and a
// clone are right, overwrites of entries not moved yet are found (not
// their old location) and not counted twice; plain move calls (the
// store's in-place writes) finish a growth with no more sets.
func TestHindexGrowsIncrementally(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	draw := func() uint64 { return r.Uint64() | 1 }
	x, want := newHindex(0, false), map[uint64]uint64{}
	var keys []uint64
	growths := 0
	for len(keys) < 40_000 {
		wasMoving := x.moving()
		h := draw()
		x.set(h, 1)
		want[h] = 1
		keys = append(keys, h)
		if x.moving() && !wasMoving {
			growths++
			if x.moved > moveStep {
				t.Fatalf("growth to %d slots moved %d entries at once", len(x.slots), x.moved)
			}
			// Overwrite entries that are probably still in the old array
			// (few enough that the growth is still moving).
			for _, k := range keys[:len(x.old)/(2*moveStep)] {
				want[k] = 2
				x.set(k, 2)
			}
			if !x.moving() {
				t.Fatalf("growth finished early")
			}
			checkHindex(t, &x, want, draw)
			c := x.clone()
			checkHindex(t, &c, want, draw)
		}
	}
	if growths < 8 {
		t.Fatalf("%d growths", growths)
	}
	for x.moving() {
		x.move(moveStep)
	}
	checkHindex(t, &x, want, draw)
}

// A key whose hash is 0 (hindex's empty mark) is stored under 1 and
// still found; a key really hashing to 1 then collides and goes to the
// overflow map.
func TestZeroHash(t *testing.T) {
	defer func(h func([]byte) uint64) { hashKey = h }(hashKey)
	hashKey = func(k []byte) uint64 { return uint64(len(k) - 1) } // "a" -> 0, "bb" -> 1
	s := NewStore()
	s.Apply(EncodeWrite([]byte("a"), []byte("1")))
	s.Apply(EncodeWrite([]byte("bb"), []byte("2")))
	for k, v := range map[string]string{"a": "1", "bb": "2"} {
		if r := mustResult(t, s.Query(EncodeRead([]byte(k)))); string(r.Value) != v {
			t.Fatalf("%s = %q, want %s", k, r.Value, v)
		}
	}
	if s.Len() != 2 || len(s.t.overflow) != 1 {
		t.Fatalf("len %d, overflow %d", s.Len(), len(s.t.overflow))
	}
}
