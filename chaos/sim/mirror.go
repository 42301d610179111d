package sim

// logMirror is the checker's copy of one log (a node's in-memory log or
// its durable log): the metadata of the entries after a snapshot point.
// Entries at or below offset are covered by a snapshot of committed
// state; only the term at offset itself is known.
type logMirror struct {
	offset  uint64 // index covered by the latest snapshot (0: none)
	offTerm uint64 // term at offset
	ents    []entryMeta
}

func (l *logMirror) last() uint64 { return l.offset + uint64(len(l.ents)) }

// at returns the entry at i, if the mirror holds it (not compacted).
func (l *logMirror) at(i uint64) (entryMeta, bool) {
	if i <= l.offset || i > l.last() {
		return entryMeta{}, false
	}
	return l.ents[i-l.offset-1], true
}

// termAt returns the term at i, including the snapshot point.
func (l *logMirror) termAt(i uint64) (uint64, bool) {
	if i == l.offset {
		return l.offTerm, true
	}
	m, ok := l.at(i)
	return m.term, ok
}

// holds reports whether the log has entry m at i, or a snapshot that
// covers i (a snapshot only covers committed, applied state, whose
// equality across nodes the state hash checks).
func (l *logMirror) holds(i uint64, m entryMeta) bool {
	if i <= l.offset {
		return true
	}
	got, ok := l.at(i)
	return ok && got == m
}

// truncateFrom drops entries at from and after (from > offset).
func (l *logMirror) truncateFrom(from uint64) {
	if from <= l.offset {
		l.ents = l.ents[:0]
		return
	}
	if from <= l.last() {
		l.ents = l.ents[:from-l.offset-1]
	}
}

func (l *logMirror) push(m entryMeta) { l.ents = append(l.ents, m) }

// compact drops entries up to index (a snapshot at index, term); if the
// log does not reach index with that term, it restarts after it.
func (l *logMirror) compact(index, term uint64) {
	if index <= l.offset {
		return
	}
	if t, ok := l.termAt(index); !ok || t != term {
		l.reset(index, term)
		return
	}
	l.ents = append([]entryMeta(nil), l.ents[index-l.offset:]...)
	l.offset, l.offTerm = index, term
}

// reset empties the log and sets the snapshot point.
func (l *logMirror) reset(index, term uint64) {
	l.ents = l.ents[:0]
	l.offset, l.offTerm = index, term
}
