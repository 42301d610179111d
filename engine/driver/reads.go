package driver

// ReadQueue holds confirmed reads until the state machine has applied
// their read index (thesis §6.4: a read answered earlier could miss a
// write that completed before it started). R is the caller's handle for
// a read (the runtime's waiting clients, the simulator's request).
type ReadQueue[R any] struct {
	waiting []queuedRead[R]
	early   bool // BugReadBeforeApplied
}

type queuedRead[R any] struct {
	index uint64
	r     R
}

// NewReadQueue returns an empty queue; bugs may switch on
// BugReadBeforeApplied (-tags raftbugs only).
func NewReadQueue[R any](bugs []Bug) (*ReadQueue[R], error) {
	s, err := newBugSet(bugs)
	if err != nil {
		return nil, err
	}
	return &ReadQueue[R]{early: bugsBuild && s.has(BugReadBeforeApplied)}, nil
}

// Add queues r, whose read index is index.
func (q *ReadQueue[R]) Add(index uint64, r R) {
	q.waiting = append(q.waiting, queuedRead[R]{index: index, r: r})
}

// Len returns how many reads wait.
func (q *ReadQueue[R]) Len() int { return len(q.waiting) }

// Servable removes and passes to serve, in arrival order, every read
// whose index is at or below applied.
func (q *ReadQueue[R]) Servable(applied uint64, serve func(index uint64, r R)) {
	k := 0
	for _, w := range q.waiting {
		if w.index > applied && !q.early {
			q.waiting[k] = w
			k++
			continue
		}
		serve(w.index, w.r)
	}
	clear(q.waiting[k:])
	q.waiting = q.waiting[:k]
}

// Drain removes every waiting read and passes it to f (on shutdown or a
// leader change, to fail them).
func (q *ReadQueue[R]) Drain(f func(r R)) {
	for _, w := range q.waiting {
		f(w.r)
	}
	clear(q.waiting)
	q.waiting = q.waiting[:0]
}
