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
//
// It grows by doubling, incrementally: a growth allocates the new array
// and keeps the old one (immutable from then on) beside it; each set (and
// each write of the store, Store.set) moves the next few old slots into
// the new array, so
// no one write pays for rehashing the whole index (that took 90-320 ms
// at 0.2-0.8 million keys on the loaded 2-core VM, a stall on the apply
// goroutine of every replica at about the same log index). Until the old
// array is all moved, get looks in the new array, then in the old one:
// nothing is ever deleted, and every set goes to the new array, so an
// entry found there is the newest.
type hindex struct {
	slots []hslot // length a power of two, at most 3/4 full
	n     int
	shift uint // 64 - log2(len(slots))
	// old is the array before the last growth while its entries are
	// being moved into slots; old[:moved] are moved. Never written.
	old   []hslot
	moved int
	// slotsMem and oldMem own slots and old where they are mapped
	// outside the heap (large arrays: newSlots), else nil. They travel
	// with the arrays (an index shared with a view is copied by value),
	// so an array stays mapped while any index holding it is reachable.
	slotsMem, oldMem *offHeapMapping
	// huge: arrays mapped outside the heap ask for transparent huge
	// pages (Options.HugePages).
	huge bool
}

type hslot struct{ h, loc uint64 }

const hindexMinSlots = 16

func newHindex(n int, huge bool) hindex {
	size := hindexMinSlots
	for size*3 < n*4 {
		size *= 2
	}
	slots, mem := newSlots(size, huge)
	return hindex{slots: slots, slotsMem: mem, shift: shiftFor(size), huge: huge}
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
	if loc, ok := probe(x.slots, x.shift, h); ok {
		return loc, true
	}
	if x.old != nil {
		return probe(x.old, x.shift+1, h)
	}
	return 0, false
}

// probe looks h up in one array whose shift is shift.
func probe(slots []hslot, shift uint, h uint64) (uint64, bool) {
	mask := uint64(len(slots) - 1)
	for i := (h * 0x9e3779b97f4a7c15) >> shift; ; i = (i + 1) & mask {
		s := &slots[i]
		if s.h == h {
			return s.loc, true
		}
		if s.h == 0 {
			return 0, false
		}
	}
}

// moveStep is how many old slots each set moves during a growth: the
// new array (3/8 full when it starts) must take them all before it is
// 3/4 full, which at least as many sets as old slots*3/4 take, so any
// step above 4/3 is enough; a few more keep the time with two arrays
// short.
const moveStep = 8

func (x *hindex) set(h, loc uint64) {
	if x.old != nil {
		x.move(moveStep)
	}
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
			if x.old != nil {
				if _, ok := probe(x.old, x.shift+1, h); ok {
					return // a newer location of an entry not moved yet
				}
			}
			x.n++
			return
		}
	}
}

// moving reports whether a growth is still moving old slots.
func (x *hindex) moving() bool { return x.old != nil }

// move moves up to n old slots (n < 0: all) into the new array; an entry
// already there (set since the growth) is newer and stays.
func (x *hindex) move(n int) {
	mask := uint64(len(x.slots) - 1)
	for ; n != 0 && x.moved < len(x.old); n-- {
		o := x.old[x.moved]
		x.moved++
		if o.h == 0 {
			continue
		}
		for i := x.home(o.h); ; i = (i + 1) & mask {
			s := &x.slots[i]
			if s.h == o.h {
				break
			}
			if s.h == 0 {
				*s = o
				break
			}
		}
	}
	if x.moved == len(x.old) {
		x.old, x.oldMem, x.moved = nil, nil, 0
	}
}

// grow doubles the array; the entries move over later (move).
func (x *hindex) grow() {
	x.move(-1) // a growth still moving finishes first
	x.old, x.oldMem = x.slots, x.slotsMem
	x.slots, x.slotsMem = newSlots(2*len(x.old), x.huge)
	x.shift = shiftFor(len(x.slots))
}

// clone copies the index (O(slots)); an old array still being moved is
// shared, as it is never written.
func (x *hindex) clone() hindex {
	c := *x
	c.slots, c.slotsMem = newSlots(len(x.slots), x.huge)
	copy(c.slots, x.slots)
	return c
}

// each calls f with every stored hash and location, in slot order (the
// new array's, then the old array's entries not in it yet).
func (x *hindex) each(f func(h, loc uint64)) {
	for _, s := range x.slots {
		if s.h != 0 {
			f(s.h, s.loc)
		}
	}
	for _, s := range x.old[x.moved:] {
		if s.h == 0 {
			continue
		}
		if _, ok := probe(x.slots, x.shift, s.h); !ok {
			f(s.h, s.loc)
		}
	}
}

// memoryBytes is the index's size.
func (x *hindex) memoryBytes() uint64 { return 16 * uint64(len(x.slots)+len(x.old)) }
