package kv

import (
	"encoding/binary"
	"unsafe"
)

// Applying a command to a large store costs two dependent cache (and
// TLB) misses: the key's index slot, then its record, whose key is
// compared and whose value is read or overwritten in place. Neither can
// be skipped: the index holds 64-bit hashes, and two keys may share one,
// so the key must be compared, and an overwrite writes the record anyway.
// One command at a time, the CPU waits for each miss in turn. Given the
// next few commands (a Raft batch commits many at once), the fetches of
// all their slots can be issued back to back, then the fetches of all
// their records: independent misses the CPU keeps in flight together
// (group prefetching, as in hash joins), so the applies that follow
// find both in the cache. Prefetch and ApplyBatch do this; neither
// changes what a command does. Where the CPU has prefetch instructions
// (amd64, arm64) the records are asked for with them rather than loaded:
// a load that misses holds up what follows it until its line arrives, so
// only the misses within the CPU's reorder window overlapped.
// BenchmarkApplyBatchKeySpace, 1M keys: 204-278 ns per write with
// prefetch instructions, 303-367 with loads, 711-829 without either.

// PrefetchGroup is how many commands Prefetch touches together: enough to
// keep the CPU's outstanding misses busy, few enough that what the first
// one brought in is still cached when it is applied.
const PrefetchGroup = 32

// prefetchFloor: a store whose slabs and index together are smaller
// than a core's L2 cache (the simulator's, a test's) skips the touching,
// which costs ~25 ns per write when everything is cached. Above it,
// touching pays even for 10,000 keys (1.5 MB of records): in a running
// node the replicas, the WAL and the network share the caches, and a
// CPU profile of a 10,000-key write-only run showed the lookup at ~0.7 µs
// per write per replica without it. A variable so tests reach the
// touching code with small stores.
var prefetchFloor uint64 = 256 << 10

// Prefetch is told the commands about to be applied, in order, and loads
// the index slots and records they will touch, a group at a time. It is
// only a hint: it changes nothing (a read lock), skips what it cannot
// decode, and the results of the Apply calls that follow are the same
// with or without it. A caller applying many commands calls it on up to
// PrefetchGroup of them before applying those.
func (s *Store) Prefetch(cmds [][]byte) {
	if len(cmds) == 0 {
		return
	}
	s.mu.RLock()
	s.t.touch(cmds)
	s.mu.RUnlock()
}

// ApplyBatch applies cmds in order, exactly as Apply on each in turn
// would (a command sees every earlier one's effect, a key repeated in
// the batch included), and returns their results appended to results.
// It prefetches each group of commands (see Prefetch) and holds the
// lock once per group.
func (s *Store) ApplyBatch(cmds [][]byte, results [][]byte) [][]byte {
	for len(cmds) > 0 {
		g := cmds[:min(len(cmds), PrefetchGroup)]
		cmds = cmds[len(g):]
		s.mu.Lock()
		s.t.touch(g)
		for _, cmd := range g {
			c, err := DecodeCommand(cmd)
			if err != nil {
				results = append(results, encodeResult(Result{Status: StatusBadCommand}))
				continue
			}
			results = append(results, s.encodeResult(s.applyLocked(c)))
		}
		s.mu.Unlock()
	}
	return results
}

// commandShape is the key of an encoded command, or false if the command
// cannot be a valid one (DecodeCommand decides the rest when it is
// applied), and the length of the value the key's record holds if the
// command finds one, as far as the command tells: a write's new value
// (the old one usually has its length), a cas's expected value, 0 for a
// read.
func commandShape(cmd []byte) (key []byte, valueLen int, ok bool) {
	if len(cmd) < 3 {
		return nil, 0, false
	}
	n, k := binary.Uvarint(cmd[2:])
	if k <= 0 || n > uint64(len(cmd)-2-k) {
		return nil, 0, false
	}
	end := 2 + k + int(n)
	key = cmd[2+k : end]
	if Op(cmd[0]) != OpRead {
		if v, k := binary.Uvarint(cmd[end:]); k > 0 && v <= uint64(len(cmd)-end-k) {
			valueLen = int(v)
		}
	}
	return key, valueLen, true
}

// groupShapes takes the next group of up to PrefetchGroup commands off
// *cmds and puts the index hash of each decodable one's key in hs and the
// size of the record it expects (commandShape) in sizes; it returns how
// many it put.
func groupShapes(cmds *[][]byte, hs, sizes *[PrefetchGroup]uint64) int {
	g := (*cmds)[:min(len(*cmds), PrefetchGroup)]
	*cmds = (*cmds)[len(g):]
	n := 0
	for _, cmd := range g {
		if key, vl, ok := commandShape(cmd); ok {
			hs[n], sizes[n] = indexHash(key), recordLen(len(key), vl)
			n++
		}
	}
	return n
}

// recordPrefetchLines caps how many cache lines of one record touch asks
// for: the header, the key and the start of the value; the CPU's own
// stream prefetcher follows a longer value's copy.
const recordPrefetchLines = 8

// touch brings the index slots, then the records, of cmds' keys into the
// caches, a group of PrefetchGroup at a time. With prefetch instructions
// (hardwarePrefetch) nothing waits for a record: the slots are asked for
// back to back, then each record's lines (the slot's location and the
// record's expected size), and the CPU fetches them all together while
// touch returns and the applies begin. Only the slot reads wait (the
// first for its line, the rest mostly found arrived). Without them, the
// same is done with loads (touchByLoads). It returns a sum of what it
// read so the compiler keeps the loads (it is never inlined, so the
// result counts as used).
//
//go:noinline
func (t *table) touch(cmds [][]byte) uint64 {
	if t.total+t.index.memoryBytes() < prefetchFloor {
		return 0
	}
	if !hardwarePrefetch {
		return t.touchByLoads(cmds)
	}
	var hs, sizes [PrefetchGroup]uint64
	slots := t.index.slots
	for len(cmds) > 0 {
		n := groupShapes(&cmds, &hs, &sizes)
		for _, h := range hs[:n] {
			prefetchLines(uintptr(unsafe.Pointer(&slots[t.index.home(h)])), 1)
		}
		for i, h := range hs[:n] {
			loc, ok := t.lookup(h)
			if !ok {
				continue
			}
			start := uintptr(unsafe.Pointer(unsafe.SliceData(t.slabs[loc>>32]))) + uintptr(uint32(loc))
			first, last := start&^63, (start+uintptr(sizes[i])-1)&^63
			prefetchLines(first, min(int((last-first)/64)+1, recordPrefetchLines))
		}
	}
	return 0
}

// touchByLoads is touch with loads, where there is no prefetch
// instruction: the home slots' loads are independent and issued back to
// back; each record needs its slot (now cached), then its first line,
// then (from the lengths there) its other lines, but the records do not
// depend on each other, so the CPU overlaps what its reorder window holds.
func (t *table) touchByLoads(cmds [][]byte) uint64 {
	var hs, sizes [PrefetchGroup]uint64
	var sum uint64
	slots := t.index.slots
	for len(cmds) > 0 {
		n := groupShapes(&cmds, &hs, &sizes)
		for _, h := range hs[:n] {
			sum += slots[t.index.home(h)].h
		}
		for _, h := range hs[:n] {
			loc, ok := t.lookup(h)
			if !ok {
				continue
			}
			s := t.slabs[loc>>32]
			off := int(uint32(loc))
			b := s[off+1:]
			kl, n1 := binary.Uvarint(b)
			vl, n2 := binary.Uvarint(b[n1:])
			end := off + 1 + n1 + n2 + int(kl) + int(vl)
			for i := off + 64; i < end; i += 64 {
				sum += uint64(s[i])
			}
			sum += uint64(s[end-1])
		}
	}
	return sum
}
