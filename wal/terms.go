package wal

// termIndex describes a contiguous run of log indexes [first, last] and
// the term of each, compressed into runs of equal term. Raft terms only
// grow along a log, so a log has one run per leader term it saw: Term()
// is answered from memory, without touching the disk.
//
// Invariants: runs[i].first < runs[i+1].first, runs[0].first == first
// when the index is non-empty, and last >= first-1.
type termIndex struct {
	first, last uint64
	runs        []termRun
}

type termRun struct{ first, term uint64 }

// resetTo empties the index so that the next entry is next.
func (t *termIndex) resetTo(next uint64) {
	t.first, t.last, t.runs = next, next-1, t.runs[:0]
}

func (t *termIndex) empty() bool { return t.last < t.first }

// append adds the entry at t.last+1. Callers check contiguity first.
func (t *termIndex) append(index, term uint64) {
	if index != t.last+1 {
		panic("wal: termIndex.append: non-contiguous index (caller bug)")
	}
	if len(t.runs) == 0 || t.runs[len(t.runs)-1].term != term {
		t.runs = append(t.runs, termRun{index, term})
	}
	t.last = index
}

// truncateFrom removes every index >= from.
func (t *termIndex) truncateFrom(from uint64) {
	if from > t.last {
		return
	}
	if from < t.first {
		from = t.first
	}
	t.last = from - 1
	for len(t.runs) > 0 && t.runs[len(t.runs)-1].first >= from {
		t.runs = t.runs[:len(t.runs)-1]
	}
}

// compactTo removes every index <= upTo; if upTo is past the end, the
// index becomes empty and restarts after upTo.
func (t *termIndex) compactTo(upTo uint64) {
	if upTo < t.first {
		return
	}
	if upTo >= t.last {
		t.resetTo(upTo + 1)
		return
	}
	i := t.find(upTo + 1)
	t.runs = append(t.runs[:0], t.runs[i:]...)
	t.runs[0].first = upTo + 1
	t.first = upTo + 1
}

// term returns the term at index, or false if index is outside [first, last].
func (t *termIndex) term(index uint64) (uint64, bool) {
	if index < t.first || index > t.last {
		return 0, false
	}
	return t.runs[t.find(index)].term, true
}

// find returns the run holding index (which must be in range).
func (t *termIndex) find(index uint64) int {
	lo, hi := 0, len(t.runs)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if t.runs[mid].first <= index {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// clone returns an independent copy.
func (t *termIndex) clone() termIndex {
	c := *t
	c.runs = append([]termRun(nil), t.runs...)
	return c
}
