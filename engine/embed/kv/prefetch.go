package kv

import "encoding/binary"

// Applying a command to a large store costs two dependent cache (and
// TLB) misses: the key's index slot, then its record, whose key is
// compared and whose value is read or overwritten in place. Neither can
// be skipped: the index holds 64-bit hashes, and two keys may share one,
// so the key must be compared, and an overwrite writes the record anyway.
// One command at a time, the CPU waits for each miss in turn. Given the
// next few commands (a Raft batch commits many at once), the loads of
// all their slots can be issued back to back, then the loads of all
// their records: independent loads the CPU keeps in flight together
// (group prefetching, as in hash joins), so the applies that follow
// find both in the cache. Prefetch and ApplyBatch do this; neither
// changes what a command does.

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
			results = append(results, encodeResult(s.applyLocked(c)))
		}
		s.mu.Unlock()
	}
	return results
}

// commandKey is the key of an encoded command, or false if the command
// cannot be a valid one (DecodeCommand decides the rest when it is
// applied).
func commandKey(cmd []byte) ([]byte, bool) {
	if len(cmd) < 3 {
		return nil, false
	}
	n, k := binary.Uvarint(cmd[2:])
	if k <= 0 || n > uint64(len(cmd)-2-k) {
		return nil, false
	}
	return cmd[2+k : 2+k+int(n)], true
}

// touch loads the index slots, then the records, of cmds' keys, a group
// of PrefetchGroup at a time, and returns a sum of what it read so the
// compiler keeps the loads (it is never inlined, so the result counts as
// used).
//
//go:noinline
func (t *table) touch(cmds [][]byte) uint64 {
	if t.total+t.index.memoryBytes() < prefetchFloor {
		return 0
	}
	var hs [PrefetchGroup]uint64
	var sum uint64
	slots := t.index.slots
	for len(cmds) > 0 {
		g := cmds[:min(len(cmds), PrefetchGroup)]
		cmds = cmds[len(g):]
		n := 0
		for _, cmd := range g {
			if key, ok := commandKey(cmd); ok {
				hs[n] = indexHash(key)
				n++
			}
		}
		// The home slots: independent loads, issued back to back.
		for _, h := range hs[:n] {
			sum += slots[t.index.home(h)].h
		}
		// The records: each needs its slot (now cached), then its
		// first line, then (from the lengths there) its other lines;
		// the records do not depend on each other.
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
