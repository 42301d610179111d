package engine

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// The log is kept in blocks of up to logBlockLen entries on a grid of
// absolute indexes (entry i belongs to block (i-1)>>logBlockShift at grid
// position (i-1)&logBlockMask), not in one contiguous slice. Why: with a
// large state a snapshot takes seconds to write, so the log runs to 10^5
// entries past the last snapshot; a contiguous slice then regrows by
// doubling and every compaction copies the rest into a fresh array, each
// a multi-megabyte pointer-holding allocation made (and paid for as GC
// assist work) on the node's loop. With blocks an append fills the tail
// block or allocates one block, compaction drops whole blocks and copies
// the live part of at most one, and truncation copies at most one: the
// cost per entry does not grow with the log's length.
//
// logBlockShift is set in log_blocks.go (4096 entries, 192 KiB per
// block); the smalllogblocks build tag makes blocks of 8 entries so the
// simulator's and the core tests' short logs cross block boundaries all
// the time.
const (
	logBlockLen  = 1 << logBlockShift
	logBlockMask = logBlockLen - 1
	// logFirstBlockCap is the smallest capacity a block starts with: a
	// short log (a lightly loaded node, the simulator's thousands of
	// cores) grows its blocks by doubling instead of allocating whole
	// ones.
	logFirstBlockCap = 64
)

// raftLog is the core's in-memory copy of its whole uncompacted log plus
// the cursors that say how far each piece has travelled to the driver.
//
// Invariants (checked by check):
//
//	snapshotted <= offset <= applied <= applyHanded <= committed <= lastIndex
//	persisted <= handed <= lastIndex
//	len(blocks) == 0 exactly when lastIndex == offset; otherwise
//	blocks[0] is block number offset>>logBlockShift (base) and starts at
//	entry offset+1 (grid position offset&logBlockMask: it holds no
//	compacted entry), every other block starts at grid position 0, every
//	block but the last is full to the end of its grid block, and the last
//	ends at lastIndex
//
// Slices handed out (Ready.Entries, Ready.CommittedEntries, MsgApp
// entries) are capped at their length and never written again: appends
// only write past every handed-out length, truncation copies the block it
// cuts (copy on truncate), compaction copies the live part of the block
// it cuts. Blocks
// are therefore never reused either: a dropped block may still be
// referenced by a slice in flight, and becomes garbage when that dies.
type raftLog struct {
	offset     uint64 // first index - 1: covered by a snapshot or dropped once applied (Core.DropApplied)
	offsetTerm uint64 // term at offset
	// snapshotted is the index of the latest snapshot the log was
	// restarted from, compacted to or restored from (<= offset).
	snapshotted uint64
	last        uint64 // last index (offset when the log is empty)
	base        uint64 // block number of blocks[0]
	blocks      [][]raftpb.Entry
	// startCap is the capacity for the block an empty log starts next:
	// when a compaction emptied the log, the number of entries it held
	// (up to a block), since it will likely fill as far again before the
	// next (so it is not regrown by doubling each time); else 0
	// (logFirstBlockCap).
	startCap int

	committed   uint64 // highest index known committed (§5.3)
	persisted   uint64 // highest index the driver reported durable (Persisted)
	handed      uint64 // highest index handed out in Ready.Entries
	applyHanded uint64 // highest index handed out in Ready.CommittedEntries
	applied     uint64 // applyHanded as of the last Advance
}

func (l *raftLog) lastIndex() uint64 { return l.last }

func (l *raftLog) lastTerm() uint64 {
	if l.last == l.offset {
		return l.offsetTerm
	}
	return l.at(l.last).Term
}

// at returns entry i, which must be in (offset, lastIndex]. The entry is
// shared with slices handed out: read it, never write through it.
func (l *raftLog) at(i uint64) *raftpb.Entry {
	b, p := l.locate(i)
	return &l.blocks[b][p]
}

// locate returns where entry i (offset < i <= lastIndex) sits:
// blocks[b][p]. blocks[0] starts at entry offset+1, not at its grid
// block's start, so that a compaction copies only the live entries of
// the block it cuts (and a log starting mid-block allocates no prefix).
func (l *raftLog) locate(i uint64) (b, p int) {
	b = int((i-1)>>logBlockShift - l.base)
	p = int((i - 1) & logBlockMask)
	if b == 0 {
		p -= int(l.offset & logBlockMask)
	}
	return b, p
}

// term returns the term of entry i; ok is false if i is compacted away or
// beyond the log.
func (l *raftLog) term(i uint64) (t uint64, ok bool) {
	switch {
	case i == l.offset:
		return l.offsetTerm, true
	case i < l.offset || i > l.last:
		return 0, false
	}
	return l.at(i).Term, true
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, ok := l.term(i)
	return ok && lt == t
}

// isUpToDate is the §5.4.1 election restriction: a log with a later last
// term, or the same last term and at least as long, is as up to date.
func (l *raftLog) isUpToDate(index, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && index >= l.lastIndex())
}

// slice returns entries [lo, hi) (both inside the log), stopping early
// once maxBytes of payload are reached or at the end of lo's block, but
// always returning at least one entry when lo < hi. It never copies: the
// callers (MsgApp building, CommittedEntries) take fewer entries than
// asked and come back for the rest. The result is capped so appends
// cannot alias it.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]raftpb.Entry, uint64) {
	l.checkRange(lo, hi)
	if lo == hi {
		return nil, 0
	}
	bi, a := l.locate(lo)
	blk := l.blocks[bi]
	b := a + int(min(hi-lo, uint64(len(blk)-a)))
	var size uint64
	for i := a; i < b; i++ {
		n := uint64(len(blk[i].Data))
		if i > a && size+n > maxBytes {
			b = i
			break
		}
		size += n
	}
	return blk[a:b:b], size
}

// entries returns all of [lo, hi) (both inside the log), for a caller
// that must take them at once (Ready.Entries: one write per Ready). It
// shares the block when the range lies in one and copies only when the
// range spans blocks (for a range of n entries, about n/logBlockLen of
// the time). The result is capped so appends cannot alias it.
func (l *raftLog) entries(lo, hi uint64) []raftpb.Entry {
	l.checkRange(lo, hi)
	if lo == hi {
		return nil
	}
	if (lo-1)>>logBlockShift == (hi-2)>>logBlockShift {
		bi, a := l.locate(lo)
		b := a + int(hi-lo)
		return l.blocks[bi][a:b:b]
	}
	out := make([]raftpb.Entry, 0, hi-lo)
	for lo < hi {
		bi, a := l.locate(lo)
		blk := l.blocks[bi]
		b := a + int(min(hi-lo, uint64(len(blk)-a)))
		out = append(out, blk[a:b]...)
		lo += uint64(b - a)
	}
	return out
}

func (l *raftLog) checkRange(lo, hi uint64) {
	if lo <= l.offset || hi > l.last+1 || lo > hi {
		panic(fmt.Sprintf("engine: slice [%d,%d) outside log (%d,%d]", lo, hi, l.offset, l.last))
	}
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, and that term: the fast-backtracking hint of §5.3 ("the follower
// can include the term of the conflicting entry ..."). It stops at the
// snapshot boundary.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	if li := l.lastIndex(); index > li {
		index = li
	}
	for index > l.offset {
		t, _ := l.term(index)
		if t <= term {
			return index, t
		}
		index--
	}
	return l.offset, l.offsetTerm
}

// append adds entries at the end of the log; the first must follow the
// last index.
func (l *raftLog) append(ents ...raftpb.Entry) {
	if len(ents) > 0 && ents[0].Index != l.last+1 {
		panic(fmt.Sprintf("engine: append of index %d after last index %d", ents[0].Index, l.last))
	}
	for len(ents) > 0 {
		tail := l.tailWithRoom()
		n := min(len(ents), cap(*tail)-len(*tail))
		*tail = append(*tail, ents[:n]...)
		l.last += uint64(n)
		ents = ents[n:]
	}
}

// appendOne adds e, whose Index must be lastIndex+1 (the leader's
// proposal path: no variadic slice per entry).
func (l *raftLog) appendOne(e raftpb.Entry) {
	if e.Index != l.last+1 {
		panic(fmt.Sprintf("engine: append of index %d after last index %d", e.Index, l.last))
	}
	tail := l.tailWithRoom()
	*tail = append(*tail, e)
	l.last++
}

// tailWithRoom returns the block that index lastIndex+1 goes in, with
// capacity for at least one more entry: a new block when the tail is
// full or the log is empty. A block that starts small grows by doubling,
// up to the end of its grid block.
func (l *raftLog) tailWithRoom() *[]raftpb.Entry {
	next := l.last + 1
	pos := int((next - 1) & logBlockMask)
	if len(l.blocks) == 0 {
		l.base = (next - 1) >> logBlockShift
		l.blocks = append(l.blocks, make([]raftpb.Entry, 0, min(logBlockLen-pos, max(l.startCap, logFirstBlockCap))))
		l.startCap = 0
	} else if pos == 0 {
		// Sized to the log's length so far: a log as long as a block gets
		// whole blocks, a short one that just crosses a grid boundary
		// does not allocate a whole block for a few entries.
		l.blocks = append(l.blocks, make([]raftpb.Entry, 0, int(min(logBlockLen, max(logFirstBlockCap, 2*(l.last-l.offset))))))
	}
	tail := &l.blocks[len(l.blocks)-1]
	if len(*tail) == cap(*tail) {
		// Grow the first block by doubling, up to the end of its grid
		// block. The old array is dropped, not written, so slices handed
		// out from it stay valid.
		room := logBlockLen
		if len(l.blocks) == 1 {
			room -= int(l.offset & logBlockMask)
		}
		grown := make([]raftpb.Entry, len(*tail), min(room, 2*cap(*tail)))
		copy(grown, *tail)
		*tail = grown
	}
	return tail
}

// truncateAndAppend replaces the suffix starting at ents[0].Index. The
// kept part of the block cut is copied into a fresh block so no
// handed-out slice changes.
func (l *raftLog) truncateAndAppend(ents []raftpb.Entry) {
	first := ents[0].Index
	switch {
	case first == l.last+1:
		l.append(ents...)
		return
	case first <= l.committed:
		panic(fmt.Sprintf("engine: truncating committed entry %d (commit %d)", first, l.committed))
	case first <= l.offset || first > l.last+1:
		panic(fmt.Sprintf("engine: truncate at %d outside log (%d,%d]", first, l.offset, l.last))
	}
	l.cut(first - 1)
	l.append(ents...)
	l.handed = min(l.handed, first-1)
	l.persisted = min(l.persisted, first-1)
}

// truncateAfter drops entries after index (only used by a bug switch).
func (l *raftLog) truncateAfter(index uint64) {
	if index >= l.last {
		return
	}
	l.cut(index)
	l.handed = min(l.handed, index)
	l.persisted = min(l.persisted, index)
}

// cut drops the entries after index (offset <= index < lastIndex). The
// blocks wholly after it go; the block it falls in is copied up to index
// (copy on truncate), so the next appends write into a fresh array.
func (l *raftLog) cut(index uint64) {
	keep := 0 // blocks kept unchanged
	var part []raftpb.Entry
	if index > l.offset {
		b, p := l.locate(index)
		if index&logBlockMask == 0 {
			keep = b + 1 // index ends its block: keep the whole block as it is
		} else {
			// Keep that block's entries up to index, in a fresh array of
			// the same capacity.
			keep = b
			part = make([]raftpb.Entry, p+1, cap(l.blocks[b]))
			copy(part, l.blocks[b])
		}
	}
	clear(l.blocks[keep:])
	l.blocks = l.blocks[:keep]
	if part != nil {
		l.blocks = append(l.blocks, part)
	}
	l.last = index
}

func (l *raftLog) commitTo(i uint64) bool {
	if i <= l.committed {
		return false
	}
	if i > l.last {
		panic(fmt.Sprintf("engine: commit %d beyond last index %d", i, l.last))
	}
	l.committed = i
	return true
}

// compact drops entries up to and including index (offset < index <=
// lastIndex). Whole blocks before index are dropped; the entries after
// index in its own block are copied into a fresh, smaller block so the
// dropped entries' Data can be collected. The old block cannot be cleared
// in place: handed-out slices (a MsgApp still queued, a batch being
// written) may still read it. The rest of the log is not touched:
// compaction copies at most the live part of one block whatever the
// log's length.
func (l *raftLog) compact(index, term uint64) {
	if index >= l.last {
		l.startCap = int(min(l.last-l.offset, logBlockLen))
		clear(l.blocks)
		l.blocks = l.blocks[:0]
		l.offset, l.offsetTerm = index, term
		return
	}
	drop := int(index>>logBlockShift - l.base) // blocks wholly at or before index
	start := 0                                 // grid position of the new blocks[0][0]
	if drop == 0 {
		start = int(l.offset & logBlockMask)
	}
	n := copy(l.blocks, l.blocks[drop:])
	clear(l.blocks[n:])
	l.blocks = l.blocks[:n]
	l.base = index >> logBlockShift
	if dead := int(index&logBlockMask) - start; dead > 0 {
		live := l.blocks[0][dead:]
		c := len(live)
		if n == 1 { // also the tail: leave room for appends, grown by doubling
			c = min(logBlockLen-int(index&logBlockMask), max(2*len(live), logFirstBlockCap))
		}
		head := make([]raftpb.Entry, len(live), c)
		copy(head, live)
		l.blocks[0] = head
	}
	l.offset, l.offsetTerm = index, term
}

// restore replaces the whole log by a snapshot's position (§7).
func (l *raftLog) restore(index, term uint64) {
	l.blocks, l.startCap = nil, 0
	l.offset, l.offsetTerm, l.last, l.snapshotted = index, term, index, index
	l.committed, l.persisted, l.handed = index, index, index
	l.applyHanded, l.applied = index, index
}

// check panics on a broken cursor invariant.
func (l *raftLog) check() {
	last := l.lastIndex()
	if !(l.snapshotted <= l.offset && l.offset <= l.applied && l.applied <= l.applyHanded && l.applyHanded <= l.committed && l.committed <= last) {
		panic(fmt.Sprintf("engine: log invariant broken: snapshotted=%d offset=%d applied=%d applyHanded=%d commit=%d last=%d",
			l.snapshotted, l.offset, l.applied, l.applyHanded, l.committed, last))
	}
	if l.persisted > l.handed || l.handed > last {
		panic(fmt.Sprintf("engine: log invariant broken: persisted=%d handed=%d last=%d", l.persisted, l.handed, last))
	}
	l.checkBlocks()
}

// checkBlocks panics on broken block bookkeeping (the head and tail
// blocks only: check runs on every Ready, so it stays O(1)).
func (l *raftLog) checkBlocks() {
	n := len(l.blocks)
	if (n == 0) != (l.last == l.offset) {
		panic(fmt.Sprintf("engine: log blocks broken: %d blocks for (%d,%d]", n, l.offset, l.last))
	}
	if n == 0 {
		return
	}
	start := int(l.offset & logBlockMask) // grid position of blocks[0][0]
	tailStart := 0
	if n == 1 {
		tailStart = start
	}
	tail := l.blocks[n-1]
	if l.base != l.offset>>logBlockShift || l.base+uint64(n-1) != (l.last-1)>>logBlockShift ||
		len(tail) != int((l.last-1)&logBlockMask)+1-tailStart || cap(tail) > logBlockLen-tailStart ||
		(n > 1 && len(l.blocks[0]) != logBlockLen-start) {
		panic(fmt.Sprintf("engine: log blocks broken: base=%d blocks=%d tail=%d for (%d,%d]",
			l.base, n, len(l.blocks[n-1]), l.offset, l.last))
	}
}
