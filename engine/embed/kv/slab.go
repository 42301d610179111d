package kv

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
)

// slabBytes is the size of a full-grown slab (one transparent huge
// page's size: see mapAligned); a record larger than that gets a slab
// of its own.
const slabBytes = 2 << 20

// table is the store's layout: records "state | uvarint klen | uvarint
// vlen | key | value" appended to slabs (state: recordLive, or recordDead
// once a later record of the key replaced it), an index (hindex) from a
// 64-bit FNV-1a hash of the key to the record's location (slab<<32 |
// offset), and an overflow
// map for keys whose hash another key already owns. Neither the index
// nor the slabs list hold per-key pointers, so the collector's work does
// not grow with the number of keys.
//
// A snapshot view shares the index instead of copying it (a copy is
// O(keys) on the apply goroutine: ~70-90 ms of CPU at a million keys): while a view
// is open the index is not written, index changes go to pending, which
// lookups consult first, and once no view is open writes fold pending
// back a few entries at a time (foldStep, Store.set), so no single write
// pays for it.
//
// Garbage (records replaced while a view was open, or by values of
// another length) is reclaimed a few records per write (compactStep),
// never all at once: rewriting every live record in one write stalled
// the apply goroutine for 0.3-0.75 s at a million keys.
type table struct {
	// slabs are append-only and never moved or shrunk; compaction drops a
	// slab (nil) once its live records are all copied to the tail.
	slabs    [][]byte
	slabLive []uint64 // per slab: bytes of its records the index points to
	// mappings[i] owns slabs[i] when it lives outside the Go heap (nil
	// for a heap slab); whoever reads a slab holds its mapping.
	mappings []*offHeapMapping
	index    hindex
	pending  map[uint64]uint64 // index changes not yet in index
	toFold   []uint64          // pending's hashes, in the order they came (some may be folded already)
	// unmarked: records replaced while a view was open (it may still read
	// them as live), to be marked dead with the folding.
	unmarked []uint64
	overflow map[string]uint64
	keys     int    // distinct keys
	live     uint64 // bytes of records the index points to
	total    uint64 // bytes of all records in the slabs
	// compacting: garbage outgrew the live records and is being
	// reclaimed; victim is the slab being emptied (its records from
	// victimOff on not looked at yet), -1 when one is to be chosen.
	compacting bool
	victim     int
	victimOff  int
	looked     uint64 // records compaction has looked at (the per-write bound's test)
	// huge: full-size slabs ask for transparent huge pages
	// (Options.HugePages).
	huge bool
}

func newTable(huge bool) table { return table{index: newHindex(0, huge), huge: huge} }

// hashKey is the index's hash (a variable so tests can force collisions).
var hashKey = fnv1a

// indexHash is hashKey never 0 (hindex's empty mark).
func indexHash(k []byte) uint64 {
	if h := hashKey(k); h != 0 {
		return h
	}
	return 1
}

// A record's first byte says whether a later record of its key replaced
// it. A record is marked dead only while no view is open, and every
// replaced record is marked before the next view is captured (freeze),
// so a view's walk over the slabs (inSlabOrder) knows which records were
// live at its capture without asking the index.
const (
	recordLive byte = 0
	recordDead byte = 1
)

// foldStep is how many pending index changes each write folds back into
// the index once no view is open: more than one, so pending drains
// faster than writes fill it.
const foldStep = 16

// compactFloor: slabs below this size are never compacted (a variable
// so tests can reach compaction with little data).
var compactFloor uint64 = 64 << 20

// compactStepRecords is how many records each write looks at while a
// compaction runs. Garbage is only made while a view is open (or by a
// value changing length), at most one record per write, and the victims
// are the slabs with the least live data, so a few per write reclaim it
// faster than it comes.
const compactStepRecords = 8

func fnv1a(k []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range k {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// offHeapMapping owns memory mapped outside the Go heap: a slab
// (mapSlab) or an index array (newSlots). The mapping is released once
// nothing holds this: every table, view and index that uses the memory
// keeps its owner beside it.
type offHeapMapping struct{ size int }

// record returns the key and value of the record at loc (aliasing the slab).
func recordAt(slabs [][]byte, loc uint64) (key, value []byte) {
	b := slabs[loc>>32][uint32(loc)+1:]
	kl, n1 := binary.Uvarint(b)
	vl, n2 := binary.Uvarint(b[n1:])
	h := n1 + n2
	return b[h : h+int(kl)], b[h+int(kl) : h+int(kl)+int(vl)]
}

func (t *table) value(loc uint64) []byte {
	_, v := recordAt(t.slabs, loc)
	return v
}

// find returns key's record location. When the key is absent, loc says
// where put must record it: 0 for the index, 1 for the overflow map.
func (t *table) find(key []byte) (loc uint64, ok bool) {
	if len(t.overflow) > 0 {
		if l, ok := t.overflow[string(key)]; ok {
			return l, true
		}
	}
	l, ok := t.lookup(indexHash(key))
	if !ok {
		return 0, false
	}
	if k, _ := recordAt(t.slabs, l); bytes.Equal(k, key) {
		return l, true
	}
	return 1, false // the hash belongs to another key
}

func (t *table) lookup(h uint64) (uint64, bool) {
	if len(t.pending) > 0 {
		if l, ok := t.pending[h]; ok {
			return l, true
		}
	}
	return t.index.get(h)
}

// setIndex points h at loc: in the index if no view shares it (free),
// else in pending.
func (t *table) setIndex(h, loc uint64, free bool) {
	if !free {
		if t.pending == nil {
			t.pending = make(map[uint64]uint64)
		}
		if _, ok := t.pending[h]; !ok {
			t.toFold = append(t.toFold, h)
		}
		t.pending[h] = loc
		return
	}
	t.index.set(h, loc)
	if len(t.pending) > 0 {
		delete(t.pending, h)
	}
}

// fold moves pending changes into the index and marks replaced records
// dead, looking at n of each (n < 0: all). Only when no view is open.
func (t *table) fold(n int) {
	for i := n; i != 0 && len(t.unmarked) > 0; i-- {
		t.markDead(t.unmarked[len(t.unmarked)-1])
		t.unmarked = t.unmarked[:len(t.unmarked)-1]
	}
	if len(t.unmarked) == 0 {
		t.unmarked = nil
	}
	for ; n != 0 && len(t.toFold) > 0; n-- {
		h := t.toFold[len(t.toFold)-1]
		t.toFold = t.toFold[:len(t.toFold)-1]
		if l, ok := t.pending[h]; ok {
			t.index.set(h, l)
			delete(t.pending, h)
		}
	}
	if len(t.toFold) == 0 {
		t.pending, t.toFold = nil, nil // the map does not shrink: drop it
	}
}

// put appends a record of key and value and points the index at it.
// ok and loc are find's answer. free says no view is open: the index
// may be written and the slabs compacted when garbage outweighs live
// records (a view would keep the old slabs alive beside the new ones).
func (t *table) put(key []byte, loc uint64, ok bool, value []byte, free bool) {
	if ok {
		k, v := recordAt(t.slabs, loc)
		t.live -= recordLen(len(k), len(v))
		t.slabLive[loc>>32] -= recordLen(len(k), len(v))
		if free {
			t.markDead(loc)
		} else {
			t.unmarked = append(t.unmarked, loc)
		}
	} else {
		t.keys++
	}
	nl := t.appendRecord(key, value)
	t.live += recordLen(len(key), len(value))
	t.slabLive[nl>>32] += recordLen(len(key), len(value))
	switch {
	case ok && len(t.overflow) > 0 && t.inOverflow(key):
		t.overflow[string(key)] = nl
	case ok || loc == 0:
		t.setIndex(indexHash(key), nl, free)
	default: // a new key whose hash another key owns
		if t.overflow == nil {
			t.overflow = make(map[string]uint64)
		}
		t.overflow[string(key)] = nl
	}
	if free && !t.compacting && t.total > compactFloor && t.total > 2*t.live {
		t.compacting, t.victim = true, -1
	}
}

func (t *table) inOverflow(key []byte) bool {
	_, ok := t.overflow[string(key)]
	return ok
}

func (t *table) markDead(loc uint64) { t.slabs[loc>>32][uint32(loc)] = recordDead }

// recordLen is a record's size in the slabs: its state byte and its pair.
func recordLen(kl, vl int) uint64 { return 1 + pairLen(kl, vl) }

// pairLen is a key/value pair's size in the snapshot encoding.
func pairLen(kl, vl int) uint64 {
	return uint64(uvarintLen(kl) + uvarintLen(vl) + kl + vl)
}

func (t *table) appendRecord(key, value []byte) uint64 {
	n := int(recordLen(len(key), len(value)))
	last := len(t.slabs) - 1
	if last < 0 || cap(t.slabs[last])-len(t.slabs[last]) < n {
		// Slabs grow from 4 KiB to slabBytes, so a small store (the
		// simulator's, a fresh restore) does not cost a megabyte.
		size := 4 << 10
		if last >= 0 {
			size = min(slabBytes, 2*cap(t.slabs[last]))
		}
		var slab []byte
		var m *offHeapMapping
		if size == slabBytes && n <= size {
			slab, m = mapSlab(size, t.huge)
		}
		if m == nil {
			slab = make([]byte, 0, max(size, n))
			prefault(slab)
		}
		t.slabs = append(t.slabs, slab)
		t.slabLive = append(t.slabLive, 0)
		t.mappings = append(t.mappings, m)
		last++
	}
	s := t.slabs[last]
	off := len(s)
	s = append(s, recordLive)
	s = binary.AppendUvarint(s, uint64(len(key)))
	s = binary.AppendUvarint(s, uint64(len(value)))
	s = append(append(s, key...), value...)
	t.slabs[last] = s
	t.total += uint64(n)
	return uint64(last)<<32 | uint64(off)
}

// compactStep looks at up to n records of the victim slab (choosing one
// if none is chosen): a live one is copied to the tail and the index
// pointed at the copy, a dead one skipped; an emptied victim is dropped.
// The compaction ends once garbage is at most half the live bytes (so a
// new one starts only after as much garbage again). Only when no view is
// open: it writes the index and marks records dead; and only once the
// records replaced while a view was open are all marked (fold), as a
// dropped slab must not hold one still to be marked.
func (t *table) compactStep(n int) {
	if len(t.unmarked) > 0 {
		return
	}
	for ; n > 0 && t.compacting; n-- {
		if t.total <= t.live+t.live/2 {
			t.compacting = false
			return
		}
		if t.victim < 0 && !t.chooseVictim() {
			t.compacting = false
			return
		}
		s := t.slabs[t.victim]
		if t.victimOff >= len(s) {
			t.total -= uint64(len(s))
			t.slabs[t.victim], t.mappings[t.victim], t.victim = nil, nil, -1
			continue
		}
		loc := uint64(t.victim)<<32 | uint64(t.victimOff)
		k, v := recordAt(t.slabs, loc)
		rl := recordLen(len(k), len(v))
		t.victimOff += int(rl)
		t.looked++
		if s[uint32(loc)] == recordDead || !t.pointsAt(k, loc) {
			continue
		}
		nl := t.appendRecord(k, v) // k and v alias the victim, never the tail
		t.markDead(loc)
		t.slabLive[t.victim] -= rl
		t.slabLive[nl>>32] += rl
		if len(t.overflow) > 0 && t.inOverflow(k) {
			t.overflow[string(k)] = nl
		} else {
			t.setIndex(indexHash(k), nl, true)
		}
	}
}

// pointsAt reports whether key's current record is the one at loc.
func (t *table) pointsAt(key []byte, loc uint64) bool {
	l, ok := t.find(key)
	return ok && l == loc
}

// chooseVictim picks the slab, other than the tail, with the smallest
// share of live bytes, if any holds garbage.
func (t *table) chooseVictim() bool {
	best, bestShare := -1, 1.0
	for i, s := range t.slabs[:max(len(t.slabs)-1, 0)] {
		if len(s) == 0 {
			continue
		}
		if share := float64(t.slabLive[i]) / float64(len(s)); share < bestShare {
			best, bestShare = i, share
		}
	}
	if best < 0 {
		return false
	}
	t.victim, t.victimOff = best, 0
	return true
}

func (t *table) len() int { return t.keys }

func (t *table) memoryBytes() uint64 {
	var n uint64
	for _, s := range t.slabs {
		n += uint64(cap(s))
	}
	// A Swiss-table entry of two uint64s plus control byte and load
	// factor: about 20 bytes.
	return n + t.index.memoryBytes() + 20*uint64(len(t.pending)) + 64*uint64(len(t.overflow)) + 8*uint64(len(t.unmarked))
}

// frozenTable is a table as of a capture: the index (shared with the
// table, or a copy), its own copy of the slab list and of the overflow
// map (the slabs' bytes below their captured lengths never change while
// a view is open, see Store.set), and the live bytes.
type frozenTable struct {
	slabs    [][]byte
	mappings []*offHeapMapping // keeps the slabs mapped while the view reads them
	index    hindex
	overflow map[string]uint64
	live     uint64
	// exact: every record replaced before the capture is marked dead, so
	// the walk needs no index lookups.
	exact bool
}

// freeze captures the table for a view, under the store's write lock.
// The first view open shares the index (after folding what is pending:
// the changes made while the previous view was open, at most that many);
// a view opened while another is open gets a copy with the pending
// changes applied.
func (t *table) freeze(viewsOpen bool) *frozenTable {
	if viewsOpen {
		return t.frozenCopy()
	}
	t.fold(-1)
	f := t.frozenWith(t.index)
	f.exact = true
	return f
}

// frozenCopy captures the table without changing it (under the read
// lock): an O(keys) copy of the index.
func (t *table) frozenCopy() *frozenTable {
	index := t.index.clone()
	for h, l := range t.pending {
		index.set(h, l)
	}
	return t.frozenWith(index)
}

func (t *table) frozenWith(index hindex) *frozenTable {
	f := &frozenTable{slabs: slices.Clone(t.slabs), mappings: slices.Clone(t.mappings), index: index,
		overflow: maps.Clone(t.overflow), live: t.live}
	for i := range f.slabs {
		f.slabs[i] = f.slabs[i][:len(f.slabs[i]):len(f.slabs[i])]
	}
	return f
}

func (f *frozenTable) len() int { return f.index.len() + len(f.overflow) }

// streamSize is the exact size of the snapshot encoding, without a pass
// over the records: a pair is encoded "uvarint klen | key | uvarint vlen
// | value", as many bytes as the slab record "state | uvarint klen |
// uvarint vlen | key | value" less its state byte, so the pairs together
// are the table's live bytes less one per key.
func (f *frozenTable) streamSize() int {
	return len(snapshotMagic) + uvarintLen(f.len()) + int(f.live) - f.len()
}

// inSlabOrder yields the location of every live record, walking the
// slabs from the first byte to the last: memory is read in order (no
// sort, no random access). A record is live unless marked dead (exact
// views); a view captured while another was open asks the index. The
// walk also steps over garbage (records of overwritten values), which
// compaction keeps below the live bytes (Store.set) except while views
// are open.
func (f *frozenTable) inSlabOrder() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for si, s := range f.slabs {
			for off := 0; off < len(s); {
				state := s[off]
				kl, n1 := binary.Uvarint(s[off+1:])
				vl, n2 := binary.Uvarint(s[off+1+n1:])
				h := off + 1 + n1 + n2
				key := s[h : h+int(kl)]
				loc := uint64(si)<<32 | uint64(off)
				off = h + int(kl) + int(vl)
				if state == recordDead {
					continue
				}
				if f.exact {
					if !yield(loc) {
						return
					}
					continue
				}
				if l, ok := f.index.get(indexHash(key)); ok && l == loc {
					if !yield(loc) {
						return
					}
					continue
				}
				if len(f.overflow) > 0 {
					if l, ok := f.overflow[string(key)]; ok && l == loc {
						if !yield(loc) {
							return
						}
					}
				}
			}
		}
	}
}

// sortKey orders records by a 16-byte big-endian key prefix held beside
// each location (no slab access, so no cache miss, for keys that differ
// there), then by the full keys.
type sortKey struct{ hi, lo, loc uint64 }

// sorted returns the records in key order and the exact size of the
// snapshot encoding. The sort is what the format needs: equal states
// must encode to equal bytes (replicas' snapshots and the simulator's
// state digests compare them), and a hash index has no order.
func (f *frozenTable) sorted() ([]sortKey, int) {
	keys := make([]sortKey, 0, f.len())
	size := 0
	add := func(l uint64) {
		k, v := recordAt(f.slabs, l)
		var p [16]byte
		copy(p[:], k)
		keys = append(keys, sortKey{binary.BigEndian.Uint64(p[:8]), binary.BigEndian.Uint64(p[8:]), l})
		size += int(pairLen(len(k), len(v)))
	}
	f.index.each(func(_, l uint64) { add(l) })
	for _, l := range f.overflow {
		add(l)
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		ka, _ := recordAt(f.slabs, a.loc)
		kb, _ := recordAt(f.slabs, b.loc)
		return bytes.Compare(ka, kb)
	})
	return keys, size + len(snapshotMagic) + uvarintLen(len(keys))
}

// appendSnapshot appends the snapshot encoding to prefix: magic, count,
// then key/value pairs in key order.
func (f *frozenTable) appendSnapshot(prefix []byte) []byte {
	keys, size := f.sorted()
	b := append(make([]byte, 0, len(prefix)+size), prefix...)
	b = appendSnapshotHead(b, len(keys))
	for _, sk := range keys {
		b = f.appendPair(b, sk.loc)
	}
	return b
}

func appendSnapshotHead(b []byte, count int) []byte {
	b = append(b, snapshotMagic...)
	return binary.AppendUvarint(b, uint64(count))
}

func (f *frozenTable) appendPair(b []byte, loc uint64) []byte {
	k, v := recordAt(f.slabs, loc)
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// writeSnapshot writes the encoding of the count records at locs to w
// through a small buffer: the image is never held in memory. It fails
// if locs yields another number of records than count (the size the
// header and the caller's file were given).
func (f *frozenTable) writeSnapshot(w io.Writer, count int, locs iter.Seq[uint64]) (int64, error) {
	const bufBytes = 256 << 10
	buf := appendSnapshotHead(make([]byte, 0, bufBytes+binary.MaxVarintLen64), count)
	var written int64
	flush := func() error {
		n, err := w.Write(buf)
		written += int64(n)
		buf = buf[:0]
		return err
	}
	records := 0
	for loc := range locs {
		records++
		k, v := recordAt(f.slabs, loc)
		if len(buf)+int(pairLen(len(k), len(v))) > bufBytes && len(buf) > 0 {
			if err := flush(); err != nil {
				return written, err
			}
		}
		if int(pairLen(len(k), len(v))) > bufBytes {
			// A record larger than the buffer goes out in its parts.
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			if err := flush(); err != nil {
				return written, err
			}
			n, err := w.Write(v)
			written += int64(n)
			if err != nil {
				return written, err
			}
			continue
		}
		buf = f.appendPair(buf, loc)
	}
	if records != count {
		return written, fmt.Errorf("kv: snapshot view yielded %d records, its index holds %d", records, count)
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return written, err
		}
	}
	return written, nil
}
