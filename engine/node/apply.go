package node

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// applyItem is one Ready's worth of work for the apply goroutine.
type applyItem struct {
	snap     *raftpb.Snapshot // restore before applying entries
	entries  []raftpb.Entry
	commitAt time.Time
	reads    []servableRead
	expects  []expectation
}

// expectation: the leader appended session key's entry at (index, term).
type expectation struct {
	index, term uint64
	key         waitKey
	w           *waiter // only this waiter, in generation gen, may be failed (a retry re-registers the key)
	gen         uint64
}

// servableRead is a read round whose index the leader confirmed.
type servableRead struct {
	index uint64
	reads []readReq
}

// applier owns the state machine and the session table.
type applier struct {
	n        *Node
	sessions *sessionTable
	applied  uint64
	term     uint64           // term of the entry at applied
	snapDue  uint64           // applied index at which the next snapshot is taken
	waiting  []servableRead   // read rounds whose index is not applied yet
	snap     *raftpb.Snapshot // recovered at Start, until handed to the core
	saving   atomic.Bool      // a snapshot save is in flight
	expects  []expectation    // sorted by index (stable)
}

func newApplier(n *Node) *applier {
	a := &applier{n: n, sessions: newSessionTable(n.cfg.MaxSessions)}
	a.snapDue = n.cfg.SnapshotEvery - snapshotStagger(n.cfg.ID, n.cfg.Voters, n.cfg.SnapshotEvery)
	return a
}

// snapshotStagger is how much earlier than every SnapshotEvery entries
// this node takes its first snapshot after a start or a restore: voters
// are spread evenly over the interval, so they do not all stall on
// encoding and writing a snapshot at the same index (the rest of the
// cluster keeps committing while one node does).
func snapshotStagger(id uint64, voters []uint64, every uint64) uint64 {
	sorted := slices.Clone(voters)
	slices.Sort(sorted)
	pos, _ := slices.BinarySearch(sorted, id)
	if len(sorted) == 0 {
		return 0
	}
	return uint64(pos) * (every / uint64(len(sorted)))
}

func (a *applier) run() {
	defer a.n.wg.Done()
	for {
		select {
		case it, ok := <-a.n.applyc:
			if !ok {
				a.failWaiting(ErrStopped)
				return
			}
			if err := a.handle(&it); err != nil {
				a.n.fail(err)
				a.failWaiting(ErrStopped)
				return
			}
		case <-a.n.stopc:
			a.failWaiting(ErrStopped)
			return
		}
	}
}

func (a *applier) handle(it *applyItem) error {
	if it.snap != nil && it.snap.Meta.Index > a.applied {
		if err := a.restore(*it.snap); err != nil {
			return err
		}
	}
	if len(it.expects) > 0 {
		a.addExpects(it.expects)
	}
	if len(it.entries) > 0 {
		a.applyEntries(it)
	}
	if len(it.reads) > 0 {
		a.waiting = append(a.waiting, it.reads...)
	}
	if len(a.waiting) > 0 {
		a.serveReads()
	}
	if a.applied >= a.snapDue {
		return a.snapshot()
	}
	return nil
}

// applyEntries applies committed entries in order, answering waiters.
func (a *applier) applyEntries(it *applyItem) {
	n := a.n
	var now time.Time
	for i := range it.entries {
		e := &it.entries[i]
		if e.Index <= a.applied {
			continue // already covered by a restored snapshot
		}
		if e.Index != a.applied+1 {
			panic(fmt.Sprintf("node %d: applying entry %d after %d: committed entries must be contiguous", n.cfg.ID, e.Index, a.applied))
		}
		if len(a.expects) > 0 && a.expects[0].index <= e.Index {
			a.checkExpects(e)
		}
		if e.Type == raftpb.EntryNormal && len(e.Data) > 0 {
			if now.IsZero() {
				now = n.clock.Now()
			}
			a.applyOne(e, it.commitAt, now)
		}
		a.applied, a.term = e.Index, e.Term
	}
	n.pub.applied.Store(a.applied)
	n.m.applied.Set(float64(a.applied))
	if !now.IsZero() {
		n.m.commitToApply.Observe(now.Sub(it.commitAt).Seconds())
	}
}

func (a *applier) addExpects(x []expectation) {
	outOfOrder := len(a.expects) > 0 && x[0].index < a.expects[len(a.expects)-1].index
	a.expects = append(a.expects, x...)
	if outOfOrder {
		// A new term's leader reuses lower indexes: keep index order,
		// older expectations first at equal index.
		slices.SortStableFunc(a.expects, func(p, q expectation) int { return cmp.Compare(p.index, q.index) })
	}
}

// checkExpects settles the expectations at or below e's index. Another
// term in the slot proves the expected entry can never commit (a log
// index holds one committed entry, and entries never move).
func (a *applier) checkExpects(e *raftpb.Entry) {
	k := 0
	for ; k < len(a.expects) && a.expects[k].index <= e.Index; k++ {
		x := a.expects[k]
		if x.index == e.Index && x.term != e.Term {
			if a.n.waiters.takeIf(x.key, x.w, x.gen) {
				x.w.ch <- result{err: ErrProposalDropped}
			}
		}
	}
	a.expects = a.expects[:copy(a.expects, a.expects[k:])]
}

// applyOne applies one client command at most once per session.
func (a *applier) applyOne(e *raftpb.Entry, commitAt, now time.Time) {
	n := a.n
	clientID, seq, cmd, err := parseEntry(e.Data)
	if err != nil {
		// Deterministic on every replica; logged, never applied.
		n.stats.malformed.Add(1)
		n.logger.Error("skipping malformed committed entry", "index", e.Index, "err", err)
		return
	}
	var r result
	switch v, res := a.sessions.check(clientID, seq); v {
	case verdictApply:
		r.res = n.sm.Apply(cmd)
		a.sessions.record(clientID, seq, e.Index, r.res)
	case verdictDuplicate:
		n.stats.duplicates.Add(1)
		if r.res = res; res == nil {
			r.err = indeterminate(ErrSessionExpired)
		}
	case verdictStale:
		n.stats.duplicates.Add(1)
		r.err = indeterminate(ErrSessionExpired)
	}
	// Publish the applied index before answering, so a client that got
	// its result never sees Applied() below its entry.
	n.pub.applied.Store(e.Index)
	if w := n.waiters.take(waitKey{clientID, seq}); w != nil {
		if !w.start.IsZero() {
			n.m.proposeToCommit.Observe(commitAt.Sub(w.start).Seconds())
			n.m.proposeToApply.Observe(now.Sub(w.start).Seconds())
		}
		w.ch <- r
	}
}

// serveReads answers every read round whose index is applied.
func (a *applier) serveReads() {
	k := 0
	for _, sr := range a.waiting {
		if sr.index > a.applied {
			a.waiting[k] = sr
			k++
			continue
		}
		for _, r := range sr.reads {
			r.w.ch <- result{res: a.n.sm.Query(r.query)}
		}
		a.n.readsInFlight.Add(-int64(len(sr.reads)))
	}
	clear(a.waiting[k:])
	a.waiting = a.waiting[:k]
}

func (a *applier) failWaiting(err error) {
	for _, sr := range a.waiting {
		a.n.answerReads(sr.reads, nil, err)
	}
	a.waiting = nil
}

// restore replaces sessions and state machine with a snapshot's.
func (a *applier) restore(s raftpb.Snapshot) error {
	rest, err := a.sessions.restoreSnapshot(s.Data)
	if err != nil {
		return fmt.Errorf("node %d: snapshot %d: %w", a.n.cfg.ID, s.Meta.Index, err)
	}
	if err := a.n.sm.Restore(rest); err != nil {
		return fmt.Errorf("node %d: restore state machine from snapshot %d: %w", a.n.cfg.ID, s.Meta.Index, err)
	}
	a.applied, a.term = s.Meta.Index, s.Meta.Term
	a.snapDue = s.Meta.Index + a.n.cfg.SnapshotEvery - snapshotStagger(a.n.cfg.ID, a.n.cfg.Voters, a.n.cfg.SnapshotEvery)
	a.n.pub.applied.Store(a.applied)
	return nil
}

// snapshot captures sessions + state machine at the applied index and
// saves it on a background goroutine, so the WAL's file write and fsyncs
// never stall applying; at most one save runs at a time. A state machine
// with SnapshotView is only captured here and encoded in the background
// too. The core drops the covered log prefix once the snapshot is durable.
func (a *applier) snapshot() error {
	n := a.n
	if a.saving.Load() {
		return nil
	}
	start := n.clock.Now()
	sess := a.sessions.appendSnapshot(nil)
	var encode func() []byte
	if v, ok := n.sm.(SnapshotViewer); ok {
		encode = v.SnapshotView()
	} else {
		state := n.sm.Snapshot()
		encode = func() []byte { return state }
	}
	meta := raftpb.SnapshotMeta{Index: a.applied, Term: a.term, Voters: append([]uint64(nil), n.cfg.Voters...)}
	a.snapDue = a.applied + n.cfg.SnapshotEvery
	a.saving.Store(true)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer a.saving.Store(false)
		state := encode()
		data := make([]byte, 0, len(sess)+len(state)) // one copy of the state, not a growing one
		data = append(append(data, sess...), state...)
		snap := raftpb.Snapshot{Meta: meta, Data: data}
		saved, err := n.saveSnapshot(snap)
		switch {
		case err != nil && !n.isStopped():
			n.fail(fmt.Errorf("%w: save snapshot at %d: %w", ErrStorage, snap.Meta.Index, err))
			return
		case err != nil || !saved:
			return // stopping, or a newer snapshot from the leader is stored
		}
		n.stats.snapshots.Add(1)
		n.logger.Info("snapshot saved", "index", snap.Meta.Index, "bytes", len(data), "took", n.clock.Now().Sub(start))
		n.post(func() {
			if err := n.core.Compact(snap); err != nil {
				n.logger.Warn("core compaction refused", "index", snap.Meta.Index, "err", err)
			}
		})
	}()
	return nil
}
