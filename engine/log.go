package engine

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// raftLog is the core's in-memory copy of its whole uncompacted log plus
// the cursors that say how far each piece has travelled to the driver.
//
// Invariants (checked by check):
//
//	offset <= applied <= applyHanded <= committed <= lastIndex
//	persisted <= handed <= lastIndex
//	ents[i].Index == offset+1+i
//
// Slices handed out (Ready.Entries, Ready.CommittedEntries, MsgApp
// entries) are capped at their length and never written again: appends
// only write past every handed-out length, truncation copies (copy on
// truncate), compaction copies.
type raftLog struct {
	offset     uint64 // index covered by the latest snapshot (first index - 1)
	offsetTerm uint64 // term at offset
	ents       []raftpb.Entry

	committed   uint64 // highest index known committed (§5.3)
	persisted   uint64 // highest index the driver reported durable (Persisted)
	handed      uint64 // highest index handed out in Ready.Entries
	applyHanded uint64 // highest index handed out in Ready.CommittedEntries
	applied     uint64 // applyHanded as of the last Advance
}

func (l *raftLog) lastIndex() uint64 { return l.offset + uint64(len(l.ents)) }

func (l *raftLog) lastTerm() uint64 {
	if len(l.ents) == 0 {
		return l.offsetTerm
	}
	return l.ents[len(l.ents)-1].Term
}

// term returns the term of entry i; ok is false if i is compacted away or
// beyond the log.
func (l *raftLog) term(i uint64) (t uint64, ok bool) {
	switch {
	case i == l.offset:
		return l.offsetTerm, true
	case i < l.offset || i > l.lastIndex():
		return 0, false
	}
	return l.ents[i-l.offset-1].Term, true
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
// once maxBytes of payload are reached but always returning at least one
// entry when lo < hi. The result is capped so appends cannot alias it.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]raftpb.Entry, uint64) {
	if lo <= l.offset || hi > l.lastIndex()+1 || lo > hi {
		panic(fmt.Sprintf("engine: slice [%d,%d) outside log (%d,%d]", lo, hi, l.offset, l.lastIndex()))
	}
	a, b := lo-l.offset-1, hi-l.offset-1
	var size uint64
	for i := a; i < b; i++ {
		n := uint64(len(l.ents[i].Data))
		if i > a && size+n > maxBytes {
			b = i
			break
		}
		size += n
	}
	return l.ents[a:b:b], size
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

// append adds entries at the end of the log.
func (l *raftLog) append(ents ...raftpb.Entry) {
	if len(ents) > 0 && ents[0].Index != l.lastIndex()+1 {
		panic(fmt.Sprintf("engine: append of index %d after last index %d", ents[0].Index, l.lastIndex()))
	}
	l.ents = append(l.ents, ents...)
}

// truncateAndAppend replaces the suffix starting at ents[0].Index. The
// kept prefix is copied into a fresh array so no handed-out slice changes.
func (l *raftLog) truncateAndAppend(ents []raftpb.Entry) {
	first := ents[0].Index
	switch {
	case first == l.lastIndex()+1:
		l.ents = append(l.ents, ents...)
		return
	case first <= l.committed:
		panic(fmt.Sprintf("engine: truncating committed entry %d (commit %d)", first, l.committed))
	case first <= l.offset || first > l.lastIndex()+1:
		panic(fmt.Sprintf("engine: truncate at %d outside log (%d,%d]", first, l.offset, l.lastIndex()))
	}
	keep := first - l.offset - 1
	l.ents = append(l.ents[:keep:keep], ents...)
	l.handed = min(l.handed, first-1)
	l.persisted = min(l.persisted, first-1)
}

// truncateAfter drops entries after index (only used by a bug switch).
func (l *raftLog) truncateAfter(index uint64) {
	if index >= l.lastIndex() {
		return
	}
	keep := index - l.offset
	l.ents = l.ents[:keep:keep]
	l.handed = min(l.handed, index)
	l.persisted = min(l.persisted, index)
}

func (l *raftLog) commitTo(i uint64) bool {
	if i <= l.committed {
		return false
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("engine: commit %d beyond last index %d", i, l.lastIndex()))
	}
	l.committed = i
	return true
}

// compact drops entries up to and including index, copying the rest.
func (l *raftLog) compact(index, term uint64) {
	rest := l.ents[index-l.offset:]
	// Keep the old capacity: a log compacted periodically then refills
	// without re-growing by doubling (each doubling is a large, copied,
	// GC-scanned allocation). The old array cannot be reused in place:
	// handed-out slices still point into it.
	l.ents = append(make([]raftpb.Entry, 0, max(cap(l.ents), 2*len(rest))), rest...)
	l.offset, l.offsetTerm = index, term
}

// restore replaces the whole log by a snapshot's position (§7).
func (l *raftLog) restore(index, term uint64) {
	l.ents = nil
	l.offset, l.offsetTerm = index, term
	l.committed, l.persisted, l.handed = index, index, index
	l.applyHanded, l.applied = index, index
}

// check panics on a broken cursor invariant.
func (l *raftLog) check() {
	last := l.lastIndex()
	if !(l.offset <= l.applied && l.applied <= l.applyHanded && l.applyHanded <= l.committed && l.committed <= last) {
		panic(fmt.Sprintf("engine: log invariant broken: offset=%d applied=%d applyHanded=%d commit=%d last=%d",
			l.offset, l.applied, l.applyHanded, l.committed, last))
	}
	if l.persisted > l.handed || l.handed > last {
		panic(fmt.Sprintf("engine: log invariant broken: persisted=%d handed=%d last=%d", l.persisted, l.handed, last))
	}
}
