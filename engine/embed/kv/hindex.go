package kv

// hindex is the table's index: key hash -> record location, one flat
// array of 16-byte slots with linear probing. A lookup in a large Go map
// follows three dependent pointers (directory, table, group), each a
// cache and TLB miss once the index outgrows the caches (~1 µs per
// lookup at a million keys on a loaded 2-core VM); here the slot is found
// at the hashed position or in the next few, usually within one cache
// line. Hash 0 marks an empty slot, so stored hashes are never 0
// (indexHash maps 0 to 1; a collision that makes is resolved by
// the key comparison, like any other). No pointers: the collector never
// scans it.
type hindex struct {
	slots []hslot // length a power of two, at most 3/4 full
	n     int
	shift uint // 64 - log2(len(slots))
}

type hslot struct{ h, loc uint64 }

const hindexMinSlots = 16

func newHindex(n int) hindex {
	size := hindexMinSlots
	for size*3 < n*4 {
		size *= 2
	}
	return hindex{slots: make([]hslot, size), shift: shiftFor(size)}
}

func shiftFor(size int) uint {
	s := uint(64)
	for ; size > 1; size >>= 1 {
		s--
	}
	return s
}

// home is h's first slot: the top bits of h times 2^64/phi (Fibonacci
// hashing), so a hash whose low bits are weak (FNV-1a's are a function
// of the bytes' low bits only) still spreads over the whole array.
func (x *hindex) home(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> x.shift }

func (x *hindex) len() int { return x.n }

func (x *hindex) get(h uint64) (uint64, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := x.home(h); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.h == h {
			return s.loc, true
		}
		if s.h == 0 {
			return 0, false
		}
	}
}

func (x *hindex) set(h, loc uint64) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(h); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.h == h {
			s.loc = loc
			return
		}
		if s.h == 0 {
			*s = hslot{h, loc}
			x.n++
			return
		}
	}
}

func (x *hindex) grow() {
	old := x.slots
	x.slots = make([]hslot, 2*len(old))
	x.shift = shiftFor(len(x.slots))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := x.home(s.h)
		for x.slots[i].h != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// clone copies the index (O(slots)).
func (x *hindex) clone() hindex {
	return hindex{slots: append([]hslot(nil), x.slots...), n: x.n, shift: x.shift}
}

// each calls f with every stored hash and location, in slot order.
func (x *hindex) each(f func(h, loc uint64)) {
	for _, s := range x.slots {
		if s.h != 0 {
			f(s.h, s.loc)
		}
	}
}

// memoryBytes is the index's size.
func (x *hindex) memoryBytes() uint64 { return 16 * uint64(len(x.slots)) }
