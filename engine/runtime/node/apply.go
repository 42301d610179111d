package node

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// applyItem is one Ready's worth of work for the apply goroutine.
type applyItem struct {
	batch    driver.Batch
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

// applier is the apply goroutine: it runs the driver's Applier (state
// machine, session table, configuration, snapshot policy) and its read
// queue, and answers the waiting clients.
type applier struct {
	n     *Node
	da    *driver.Applier
	reads *driver.ReadQueue[[]readReq]
	snap  *raftpb.Snapshot // recovered at Start, until handed to the core
	// savedBytes is the size of the last snapshot saved in the
	// background, for the size trigger (0: none since the last look).
	savedBytes atomic.Uint64
	// stateBytes is the snapshot size last published as the resident
	// log limit (Node.residentLog).
	stateBytes uint64
	expects    []expectation // sorted by index (stable)

	// per-batch state for the hooks
	commitAt, now time.Time
	settled       uint64 // waiters answered by Settled, added to the node's count once per batch
}

func newApplier(n *Node) (*applier, error) {
	da, err := driver.NewApplier(driver.ApplierConfig{
		ID: n.cfg.ID, Voters: n.cfg.Voters, Learners: n.cfg.Learners, StateMachine: n.sm,
		MaxSessions: n.cfg.MaxSessions, SnapshotEvery: n.cfg.SnapshotEvery,
		SnapshotLogRatio: n.cfg.SnapshotLogRatio, OpenSnapshot: n.openStoredFor(),
	})
	if err != nil {
		return nil, err
	}
	rq, err := driver.NewReadQueue[[]readReq](nil)
	if err != nil {
		return nil, err
	}
	return &applier{n: n, da: da, reads: rq}, nil
}

func (a *applier) run() {
	defer a.n.wg.Done()
	for {
		select {
		case it, ok := <-a.n.applyc:
			if !ok {
				a.failWaiting(ErrStopped)
				a.n.failConfWaits(indeterminate(ErrStopped))
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
	n := a.n
	if len(it.expects) > 0 {
		a.addExpects(it.expects)
	}
	if !it.batch.Empty() {
		a.commitAt, a.now = it.commitAt, time.Time{}
		var h driver.Hooks = a
		if !n.IsLeader() && n.waiters.empty() {
			// Settling answers waiters early, and a follower usually has
			// none (only proposals forwarded from it, or left from when
			// it led): skip the pass over the batch. Always safe: Applied
			// answers every waiter once its entry is applied.
			h = unsettledHooks{a}
			if !n.cfg.NoFollowerApplyYield {
				// Nobody waits on this batch (no waiter on this
				// node), while the leader's clients, loops and
				// flushers on the same Ps are each on some write's
				// critical path: a goroutine that yields goes to the
				// global run queue, which a busy P looks at only when
				// its own queue is empty (or every 61st turn), so
				// this batch applies after what was runnable. At 64
				// clients, 1M keys, a follower's batch of ~35 writes
				// held a P for tens of µs just as the leader's
				// applier woke its clients (results/compare/NOTES.md,
				// round 12). No wait beyond that: with nothing else
				// to run, Gosched returns at once.
				runtime.Gosched()
				n.stats.applyYields.Add(1)
			}
			if !n.cfg.NoFollowerApplyAfterLinger && n.readsInFlight.Load() == 0 {
				// The batch's commit index came with the next
				// entries (lazy commit), so this node's log is
				// usually lingering for the rest of them now: the
				// leader's clients just answered are proposing, and
				// the leader's and this node's loops pass their
				// entries on. A batch of a million-key store's
				// writes applied now takes a P from them for tens of
				// µs, on both followers; once the linger ends the
				// log writes and fsyncs, and the CPUs are idle until
				// the acks come. Measured, a small gain: throughput
				// up in 42 of 61 alternating pairs, geometric mean
				// 1.02x (results/compare/NOTES.md, round 35). Reads
				// waiting on this node would wait too: none may be
				// in flight. Bounded by the linger's limit
				// (wal.LingerLimit).
				if l, ok := n.log.(lingerAwaiter); ok && l.AwaitLinger() {
					n.stats.applyLingerWaits.Add(1)
				}
			}
		}
		err := a.da.Apply(&it.batch, h)
		if a.settled > 0 {
			n.stats.settled.Add(a.settled)
			a.settled = 0
		}
		if err != nil {
			return err
		}
		applied, _ := a.da.Applied()
		n.pub.applied.Store(applied)
		n.m.applied.Set(float64(applied))
		if !a.now.IsZero() {
			n.m.commitToApply.Observe(a.now.Sub(it.commitAt).Seconds())
		}
	}
	for _, sr := range it.reads {
		a.reads.Add(sr.index, sr.reads)
	}
	if a.reads.Len() > 0 {
		applied, _ := a.da.Applied()
		a.reads.Servable(applied, a.serve)
	}
	if b := a.savedBytes.Swap(0); b > 0 {
		a.da.SetSnapshotBytes(b)
	}
	if sb := a.da.StateBytes(); sb != a.stateBytes {
		a.stateBytes = sb
		n.residentLog.Store(uint64(n.cfg.ResidentLogRatio * float64(sb)))
	}
	if a.da.SnapshotDue() {
		a.snapshot()
	}
	return nil
}

// lingerAwaiter is a log that can say when it stops holding a group
// commit back for more records (*wal.WAL).
type lingerAwaiter interface{ AwaitLinger() bool }

// unsettledHooks are the applier's hooks without driver.SettleHooks.
type unsettledHooks struct{ a *applier }

func (u unsettledHooks) Applying(e *raftpb.Entry)          { u.a.Applying(e) }
func (u unsettledHooks) Applied(r *driver.Result)          { u.a.Applied(r) }
func (u unsettledHooks) Restored(meta raftpb.SnapshotMeta) { u.a.Restored(meta) }

// Applying is the driver's hook before each committed entry: it settles
// the proposals that entry proves dropped.
func (a *applier) Applying(e *raftpb.Entry) {
	if len(a.expects) > 0 && a.expects[0].index <= e.Index {
		a.checkExpects(e)
	}
}

// Restored is the driver's hook after a leader's snapshot replaced the
// state; the published applied index follows after the batch.
func (a *applier) Restored(meta raftpb.SnapshotMeta) {
	a.n.logger.Info("snapshot installed from the leader", "index", meta.Index, "term", meta.Term)
	a.n.setAppliedConf(meta.ConfState)
	a.n.settleConfWaitsCoveredBy(meta.Index)
}

// Applied is the driver's hook after each committed entry: it answers
// the proposal's waiter, if it is on this node.
func (a *applier) Applied(r *driver.Result) {
	n := a.n
	if r.Kind == driver.ConfChange {
		n.setAppliedConf(r.ConfState)
	}
	if n.conf.pending.Load() > 0 {
		n.settleConfWait(r.Index, r.Term, r.ConfState, r.Kind == driver.ConfChange)
	}
	var res result
	switch r.Kind {
	case driver.Applied:
		res.res = r.Output
	case driver.Duplicate:
		n.stats.duplicates.Add(1)
		if res.res = r.Output; r.Output == nil {
			res.err = indeterminate(ErrSessionExpired)
		}
	case driver.Expired:
		n.stats.duplicates.Add(1)
		res.err = indeterminate(ErrSessionExpired)
	case driver.Malformed:
		// Deterministic on every replica; logged, never applied.
		n.stats.malformed.Add(1)
		n.logger.Error("skipping malformed committed entry", "index", r.Index, "err", r.Err)
		return
	default:
		return
	}
	// Publish the applied index before answering, so a client that got
	// its result here never sees Applied() below its entry (a blind
	// command answered by Settled may, until this point).
	n.pub.applied.Store(r.Index)
	if a.now.IsZero() {
		a.now = n.clock.Now()
	}
	if r.Settled {
		return // answered by Settled
	}
	if w := n.waiters.take(waitKey{r.Client, r.Seq}); w != nil {
		if !w.start.IsZero() {
			n.m.proposeToCommit.Observe(a.commitAt.Sub(w.start).Seconds())
			n.m.proposeToApply.Observe(a.now.Sub(w.start).Seconds())
		}
		a.markAnswered(w)
		w.ch <- res
	}
}

// Settled is the driver's hook for a blind command the session table
// will apply, before its batch is applied (driver.SettleHooks): the
// entry is committed and its result cannot depend on the state, so its
// waiter is answered now. Reads still wait for applied >= their read
// index in this goroutine, so no read begun after this answer misses
// the entry; only Applied() may briefly lag the answered index.
func (a *applier) Settled(r *driver.Result) {
	n := a.n
	if a.now.IsZero() {
		a.now = n.clock.Now()
	}
	if w := n.waiters.take(waitKey{r.Client, r.Seq}); w != nil {
		a.settled++
		if !w.start.IsZero() {
			n.m.proposeToCommit.Observe(a.commitAt.Sub(w.start).Seconds())
		}
		a.markAnswered(w)
		w.ch <- result{res: r.Output}
	}
}

// markAnswered reports StageAnswered to the Probe, if any, for the
// proposal w waits on; before the answer, since once answered its client
// may reuse w.
func (a *applier) markAnswered(w *waiter) {
	if p := a.n.cfg.Probe; p != nil {
		if i := w.probeIndex.Load(); i != 0 {
			p.Mark(a.n.cfg.ID, StageAnswered, i, i, time.Now())
		}
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

// serve answers one read round whose index is applied.
func (a *applier) serve(_ uint64, reads []readReq) {
	if p := a.n.readProbe; p != nil && len(reads) > 0 {
		// Before the answers: a client that has its answer may reuse
		// its waiter.
		if round := reads[0].w.probeIndex.Load(); round != 0 {
			p.MarkRead(a.n.cfg.ID, round, ReadServed, time.Now())
		}
	}
	for _, r := range reads {
		r.w.ch <- result{res: a.n.sm.Query(r.query)}
	}
	a.n.readsInFlight.Add(-int64(len(reads)))
}

func (a *applier) failWaiting(err error) {
	a.reads.Drain(func(reads []readReq) { a.n.answerReads(reads, nil, err) })
}

// snapshot captures sessions + state machine at the applied index (the
// driver's policy says when, and which configuration it carries) and
// saves it on a background goroutine, so encoding, the file write and
// its fsyncs never stall applying (nor the WAL's log writes: the WAL
// only installs the finished file); at most one save runs at a time. A
// SnapshotStreamer on the node's own WAL is streamed into the snapshot
// file, never held encoded in memory; otherwise the state is encoded
// (in the background too for a SnapshotViewer) and saved whole. The core
// drops the covered log prefix once the snapshot is durable.
func (a *applier) snapshot() {
	n := a.n
	if n.stats.snapshotSaving.Load() {
		return
	}
	start := n.clock.Now()
	meta, sess := a.da.CaptureSnapshot()
	// save stores the snapshot; data is the image when it was held in
	// memory (nil when streamed).
	var save func() (saved bool, bytes uint64, data []byte, err error)
	if v, ok := n.sm.(SnapshotStreamer); ok && n.snapFiles != nil {
		size, writeTo, release := v.SnapshotViewStream()
		save = func() (bool, uint64, []byte, error) {
			saved, bytes, err := n.streamSnapshot(meta, sess, size, writeTo, release)
			return saved, bytes, nil, err
		}
	} else {
		var encode func() []byte
		switch v := n.sm.(type) {
		case SnapshotAppender:
			// The state is encoded straight after the sessions: one copy.
			appendTo, prefix := v.SnapshotViewAppend(), sess
			encode = func() []byte { return appendTo(prefix) }
			sess = nil
		case SnapshotViewer:
			encode = v.SnapshotView()
		default:
			state := n.sm.Snapshot()
			encode = func() []byte { return state }
		}
		prefix := sess
		save = func() (bool, uint64, []byte, error) {
			data := encode()
			if prefix != nil {
				data = append(append(make([]byte, 0, len(prefix)+len(data)), prefix...), data...)
			}
			saved, err := n.saveSnapshot(raftpb.Snapshot{Meta: meta, Data: data})
			return saved, uint64(len(data)), data, err
		}
	}
	n.stats.snapshotSaving.Store(true)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.stats.snapshotSaving.Store(false)
		saved, bytes, data, err := save()
		switch {
		case err != nil && !n.isStopped():
			n.fail(fmt.Errorf("%w: save snapshot at %d: %w", ErrStorage, meta.Index, err))
			return
		case err != nil || !saved:
			return // stopping, or a newer snapshot from the leader is stored
		}
		a.savedBytes.Store(bytes)
		n.stats.snapshots.Add(1)
		n.logger.Info("snapshot saved", "index", meta.Index, "bytes", bytes, "took", n.clock.Now().Sub(start))
		n.post(func() {
			if err := n.drv.Compact(n.coreSnapshot(meta, data)); err != nil {
				n.logger.Warn("core compaction refused", "index", meta.Index, "err", err)
			}
		})
	}()
}
