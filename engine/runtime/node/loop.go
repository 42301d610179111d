package node

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// Loop limits.
const (
	applyQueueLen    = 1024 // apply items (each one Ready's committed entries)
	maxTicksPerTurn  = 8    // a stalled loop catches up at most this many ticks at once
	readExpiryFactor = 4    // a read round unanswered for this many election timeouts fails
)

// loopState is owned by the loop goroutine.
type loopState struct {
	ticker Ticker
	tickc  chan struct{} // the ticker's ticks, forwarded (forwardTicks)
	ticks  uint64
	// start is when the loop began: with lease reads the core's lease
	// clock is the node's clock since then (leaseClock).
	start time.Time

	// props and friends are the inbox slices swapped out for this turn;
	// reusing them keeps the steady state allocation-free.
	props []proposal
	msgs  []raftpb.Message
	reads []readReq
	ctrl  []func()
	datas [][]byte

	// read rounds sent to the core, keyed by their context.
	readSeq    uint64
	readRounds map[uint64]readRound

	// Slabs the per-turn slices handed to the apply goroutine are carved
	// from (carve): a round's reads, the reads a Ready confirms, a
	// Ready's expectations.
	readSlab   []readReq
	servSlab   []servableRead
	expectSlab []expectation

	role engine.Role
	lead uint64

	// expectKeys are the sessions this leader appended in this turn; the
	// next Ready's last len(expectKeys) entries are theirs.
	expectKeys []proposal

	// batchEnds holds the last index of each proposal batch this leader
	// appended that is not yet known committed, oldest first; heldAt is
	// the tick at which the proposals now queued began to wait.
	batchEnds []uint64
	heldAt    uint64
}

// carve returns n zeroed elements of *slab, starting a new slab when it
// has no room, or a slice of their own above a quarter of a slab. The
// loop hands such slices to the apply goroutine each turn; one allocation
// per slab instead of one per turn keeps the loop, whose every turn some
// answer waits for, out of the garbage collector's mark assists (a
// goroutine allocating while a collection marks must mark 64 KiB or wait
// for credit first). Each slice has cap == n, so an append copies. A slab
// lives while any slice of it does, and its elements hold whatever they
// pointed to (waiters, which are recycled anyway) until then.
func carve[T any](slab *[]T, n int) []T {
	if n > slabLen/4 {
		return make([]T, n)
	}
	if cap(*slab)-len(*slab) < n {
		*slab = make([]T, 0, slabLen)
	}
	k := len(*slab)
	*slab = (*slab)[:k+n]
	return (*slab)[k : k+n : k+n]
}

// slabLen is the elements of one carve slab.
const slabLen = 1024

// readRound is one batch of reads sharing a ReadIndex request.
type readRound struct {
	reads []readReq
	tick  uint64
}

// run is the loop: the only goroutine that touches the core.
func (n *Node) run() {
	defer n.wg.Done()
	defer close(n.applyc)
	ls := &loopState{ticker: n.clock.NewTicker(n.cfg.TickInterval), tickc: make(chan struct{}, 1),
		readRounds: make(map[uint64]readRound), start: n.clock.Now()}
	defer ls.ticker.Stop()
	loopDone := make(chan struct{})
	defer close(loopDone)
	n.wg.Add(1)
	go n.forwardTicks(ls.ticker, ls.tickc, loopDone)
	defer n.failReadRounds(ls, ErrStopped)
	for {
		if !n.core.HasReady() {
			select {
			case <-n.wake:
				if n.yieldsToClients(ls) {
					runtime.Gosched()
				}
			case <-n.persistWake:
			case <-ls.tickc:
				n.tick(ls)
			case <-n.stopc:
				return
			}
		} else if n.isStopped() {
			return
		}
		n.drainTicks(ls)
		n.leaseClock(ls)
		if !n.completeDurable(ls) {
			return
		}
		n.drainInbox(ls)
		if n.core.HasReady() {
			if err := n.handleReady(ls); err != nil {
				if !errors.Is(err, ErrStopped) {
					n.fail(err)
				}
				return
			}
		}
	}
}

// yieldsToClients says whether the loop, just woken by n.wake, lets the
// other runnable goroutines run before its turn: on a leader, when
// nothing but client requests (proposals, reads) is queued. Clients
// answered together (one apply batch wakes dozens) send their next
// requests together, but the first one's notify makes the loop runnable
// ahead of the rest (a goroutine woken last runs first), so without the
// yield each proposal took a loop turn, a Ready and an AppendEntries to
// every follower of its own: 1.4 entries per append at 64 clients. The
// yield (runtime.Gosched: the loop goes behind the goroutines already
// runnable, which are the answered clients) lets the burst queue first
// and share one turn: 4 (default mix) to 11 (writes only) entries per
// append at 64 clients with fsync on, and about 10% less CPU per
// operation (results/compare/NOTES.md, round 10). No timer and no wait
// beyond what was already runnable: with nothing else to run, Gosched
// returns at once. Peer messages (acks, appends, votes) and control
// requests never wait for it: they are on a write's critical path.
func (n *Node) yieldsToClients(ls *loopState) bool {
	if n.cfg.NoYieldToClients || ls.role != engine.Leader {
		return false
	}
	n.inMu.Lock()
	defer n.inMu.Unlock()
	return onlyClientRequests(len(n.msgs), len(n.ctrl))
}

// onlyClientRequests says the inbox holds no peer message and no control
// request (proposals and reads are queued apart from both).
func onlyClientRequests(msgs, ctrl int) bool {
	return msgs == 0 && ctrl == 0
}

// forwardTicks hands the ticker's ticks to the loop on a plain channel,
// dropping one the loop has not taken yet as the ticker itself does. A
// timer's channel among the loop's select cases costs a timer-heap
// insertion and removal at every park of the loop (the runtime arms the
// timer only while someone waits on it), and the loop parks several
// times per write at low concurrency (2.4% of the CPU at one client);
// this goroutine parks on the timer once per tick.
func (n *Node) forwardTicks(t Ticker, ticks chan<- struct{}, done <-chan struct{}) {
	defer n.wg.Done()
	for {
		select {
		case <-t.C():
			select {
			case ticks <- struct{}{}:
			default:
			}
		case <-done:
			return
		}
	}
}

func (n *Node) drainTicks(ls *loopState) {
	for i := 0; i < maxTicksPerTurn; i++ {
		select {
		case <-ls.tickc:
			n.tick(ls)
		default:
			return
		}
	}
}

// leaseClock (lease reads only) reports to the core how many ticks of
// the node's clock have passed since the loop started (Core.ClockTicks):
// the ticker drops ticks while the loop is stalled, and a leader's lease,
// counted in ticks, would then last longer in real time than the
// followers' election timeout it relies on. Reported before the inbox is
// drained, so a read is never judged by a clock that fell behind.
// Elections still count the ticker's ticks (falling behind only delays
// them), so a stalled node does not campaign or step down on waking.
func (n *Node) leaseClock(ls *loopState) {
	if !n.cfg.Engine.LeaseReads {
		return
	}
	n.core.ClockTicks(uint64(n.clock.Now().Sub(ls.start) / n.cfg.TickInterval))
}

func (n *Node) tick(ls *loopState) {
	ls.ticks++
	n.drv.Tick()
	if ls.ticks%readExpiryCheck == 0 {
		n.expireReads(ls)
	}
	if ls.ticks%metricsTicks == 0 {
		n.updateProgressMetrics()
	}
}

const (
	readExpiryCheck = 5
	metricsTicks    = 10
)

// fail stops the node after an unrecoverable error (storage).
func (n *Node) fail(err error) {
	n.walErr.CompareAndSwap(nil, &err)
	n.logger.Error("node failed, stopping", "err", err)
	go n.Stop()
}

// Limits on proposals a leader holds back (holdProposals): past them
// the queue goes out at once.
const (
	maxHeldProposals = 1024
	maxHeldBytes     = 1 << 20
)

// heldFull says a held proposal queue is big enough to go anyway.
func heldFull(props, bytes int) bool {
	return props >= maxHeldProposals || bytes >= maxHeldBytes
}

// drainInbox hands every queued proposal, message, read and control
// request to the core. Everything queued so far shares the next Ready.
func (n *Node) drainInbox(ls *loopState) {
	n.inMu.Lock()
	ls.msgs, n.msgs = n.msgs, ls.msgs[:0]
	ls.reads, n.reads = n.reads, ls.reads[:0]
	ls.ctrl, n.ctrl = n.ctrl, ls.ctrl[:0]
	n.inMu.Unlock()

	for i := range ls.msgs {
		n.step(&ls.msgs[i])
		ls.msgs[i] = raftpb.Message{} // drop references for the GC
	}
	// Proposals are drained after the messages were stepped: a proposal
	// that raced with this turn's messages is still proposed in this
	// turn, and the acks just stepped decide whether proposals wait.
	n.propMu.Lock()
	if n.holdProposals(ls) {
		if !n.propHeld {
			n.propHeld, ls.heldAt = true, ls.ticks
		}
		ls.props = ls.props[:0]
	} else {
		n.propHeld = false
		ls.props, n.props = n.props, ls.props[:0]
		n.propBytes = 0
	}
	n.propMu.Unlock()
	if len(ls.props) > 0 {
		n.proposeBatch(ls)
	}
	if len(ls.reads) > 0 {
		n.readBatch(ls)
	}
	for i, f := range ls.ctrl {
		f()
		ls.ctrl[i] = nil
	}
}

// holdProposals says whether the queued proposals wait for a commit
// (Config.ProposalBatchesInFlight, off unless positive): only on a leader
// that already has that many batches appended and uncommitted, and never
// past a tick of the clock or a full queue. Caller holds propMu.
//
// What it buys: a request that arrives alone is otherwise proposed alone
// and crosses the leader's loop, every follower's loop and log, and the
// acks back, by itself. What it costs: the commit that releases a held
// batch was made by an ack sent as a follower began its next fsync, so
// the batch reaches the follower too late for that fsync; under a full
// pipeline held proposals wait one flush cycle more than they would in
// the follower's queue. Measured in results/compare/NOTES.md (round 6).
func (n *Node) holdProposals(ls *loopState) bool {
	limit := n.cfg.ProposalBatchesInFlight
	if limit <= 0 || len(n.props) == 0 {
		return false
	}
	if n.core.Role() != engine.Leader {
		ls.batchEnds = ls.batchEnds[:0]
		return false
	}
	committed := n.core.Committed()
	k := 0
	for k < len(ls.batchEnds) && ls.batchEnds[k] <= committed {
		k++
	}
	if k > 0 {
		ls.batchEnds = append(ls.batchEnds[:0], ls.batchEnds[k:]...)
	}
	if len(ls.batchEnds) < limit || heldFull(len(n.props), n.propBytes) {
		return false
	}
	return !n.propHeld || ls.ticks == ls.heldAt
}

func (n *Node) step(m *raftpb.Message) {
	n.m.recv[msgIdx(m.Type)].Inc()
	if err := n.drv.Step(*m); err != nil {
		n.stats.stepErrors.Add(1)
		if errors.Is(err, driver.ErrSnapshotTransfer) {
			n.logger.Warn("snapshot chunk refused", "from", m.From, "err", err)
		} else {
			n.logger.Debug("step rejected", "msg", m.String(), "err", err)
		}
	}
	if p := n.cfg.Probe; p != nil {
		n.probeMessage(p, m, true)
	}
}

// proposeBatch proposes every drained command in one core call, so they
// become one batch of entries and one AppendEntries per follower.
func (n *Node) proposeBatch(ls *loopState) {
	ls.datas = ls.datas[:0]
	for i := range ls.props {
		ls.datas = append(ls.datas, ls.props[i].data)
	}
	n.stats.proposals.Add(uint64(len(ls.props)))
	n.m.proposals.Add(float64(len(ls.props)))
	err := n.core.Propose(ls.datas...)
	if err == nil && n.core.Role() == engine.Leader {
		for i := range ls.props {
			ls.expectKeys = append(ls.expectKeys, proposal{key: ls.props[i].key, w: ls.props[i].w, gen: ls.props[i].gen})
		}
		if n.cfg.ProposalBatchesInFlight > 0 {
			_, last := n.core.LogBounds()
			ls.batchEnds = append(ls.batchEnds, last)
		}
		if p := n.cfg.Probe; p != nil {
			n.probeProposed(p, ls.props)
		}
	}
	if err != nil {
		var nl *engine.NotLeaderError
		if errors.As(err, &nl) || errors.Is(err, engine.ErrProposalBackpressure) || errors.Is(err, engine.ErrTransferInProgress) {
			n.stats.rejected.Add(uint64(len(ls.props)))
		}
		for i := range ls.props {
			if w := n.waiters.take(ls.props[i].key); w != nil {
				w.ch <- result{err: err}
			}
		}
	}
	for i := range ls.props {
		ls.props[i] = proposal{}
	}
	for i := range ls.datas {
		ls.datas[i] = nil
	}
}

// readBatch sends one ReadIndex request for every read drained this turn.
func (n *Node) readBatch(ls *loopState) {
	ls.readSeq++
	reads := carve(&ls.readSlab, len(ls.reads))
	copy(reads, ls.reads)
	for i := range ls.reads {
		ls.reads[i] = readReq{}
	}
	if err := n.drv.ReadIndex(ls.readSeq); err != nil {
		n.answerReads(reads, nil, err)
		return
	}
	if p := n.readProbe; p != nil {
		n.probeReadIssued(p, ls.readSeq, reads)
	}
	ls.readRounds[ls.readSeq] = readRound{reads: reads, tick: ls.ticks}
}

func (n *Node) answerReads(reads []readReq, res []byte, err error) {
	for _, r := range reads {
		r.w.ch <- result{res: res, err: err}
	}
	n.readsInFlight.Add(-int64(len(reads)))
}

// expireReads fails read rounds whose ReadState never came (the request
// or its answer was lost). Reads change nothing, so failing is definite.
func (n *Node) expireReads(ls *loopState) {
	limit := uint64(readExpiryFactor * n.cfg.Engine.ElectionTicks)
	for id, rr := range ls.readRounds {
		if ls.ticks-rr.tick >= limit {
			delete(ls.readRounds, id)
			n.answerReads(rr.reads, nil, fmt.Errorf("%w: read index not confirmed", ErrLeaderChanged))
		}
	}
}

func (n *Node) failReadRounds(ls *loopState, err error) {
	for id, rr := range ls.readRounds {
		delete(ls.readRounds, id)
		n.answerReads(rr.reads, nil, err)
	}
}

// handleReady takes one Ready and lets the driver carry it out: messages
// leave at once (the leader's appends overlap its own fsync, thesis
// §10.2.1), entries and hard state go to the WAL's group commit without
// waiting (acks leave from its done callback), and the committed entries
// go to the apply goroutine before the local fsync completes.
func (n *Node) handleReady(ls *loopState) error {
	rd := n.drv.Ready()
	n.syncPeers() // a new member's address before the messages to it
	now := n.clock.Now()
	if rd.SoftState != nil {
		n.softState(ls, rd.SoftState)
	}
	if rd.HardState.Term != n.pub.term.Load() {
		// Only on a change: a store dirties the readers' cache line.
		n.pub.term.Store(rd.HardState.Term)
	}
	n.pub.commit.Store(rd.HardState.Commit)
	resident := n.residentLog.Load()
	if resident > 0 {
		n.drv.SetResidentLogBytes(resident)
	}
	b, err := n.drv.Handle(&rd)
	if resident > 0 {
		n.stats.logDrops.Store(n.drv.Stats().LogDrops)
	}
	if p := n.cfg.Probe; p != nil && err == nil {
		if k := len(rd.Entries); k > 0 {
			p.Mark(n.cfg.ID, StageHanded, 0, rd.Entries[k-1].Index, now)
		}
		p.Mark(n.cfg.ID, StageCommitted, 0, rd.HardState.Commit, now)
	}
	switch {
	case errors.Is(err, ErrStopped):
		return err // stopping while the driver waited for the WAL
	case err != nil:
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if k := len(rd.Entries); k > 0 {
		n.pub.lastIndex.Store(rd.Entries[k-1].Index)
		n.stats.entriesSubmitted.Add(uint64(k))
	} else if rd.Snapshot != nil {
		n.pub.lastIndex.Store(rd.Snapshot.Meta.Index)
	}
	n.m.readyEntries.Observe(float64(len(rd.Entries)))
	// A leader's new proposals wake the apply goroutine too (their slots
	// go with the item), even with nothing committed. Keep it: a goroutine
	// woken last runs first, so this wake puts the leader's own WAL
	// flusher, woken by the driver before it, behind the followers' loops
	// that the MsgApps just woke; a flusher in a blocking fsync keeps its
	// P, and the followers' fsyncs are the ones the commit waits for.
	// Sending the slots only with the next commit instead lowered the
	// 1-client throughput in six of six pairs (results/compare/NOTES.md,
	// step 20).
	if !b.Empty() || len(ls.expectKeys) > 0 {
		item := applyItem{batch: b, commitAt: now}
		item.reads = n.collectReads(ls, b.Reads)
		item.expects = n.collectExpects(ls, rd.Entries)
		select {
		case n.applyc <- item:
		case <-n.stopc:
		}
	}
	return nil
}

// leadingLog is a Log that wants to know whether its node leads
// (wal.WAL.SetLeading: how it fsyncs).
type leadingLog interface{ SetLeading(bool) }

// softState reacts to a role or leader change.
func (n *Node) softState(ls *loopState, ss *engine.SoftState) {
	if ss.Lead != ls.lead {
		n.stats.leaderChanges.Add(1)
		n.m.leaderChanges.Inc()
		// Outstanding read rounds may never be answered by the new leader.
		n.failReadRounds(ls, ErrLeaderChanged)
		next := make(chan struct{})
		close(*n.leaderCh.Swap(&next))
		// After the close: a proposer registering after this walk
		// passed its shard sees the old channel closed.
		n.waiters.failUntilLeaderChange(indeterminate(ErrLeaderChanged))
	}
	if ss.Role != ls.role {
		if l, ok := n.log.(leadingLog); ok {
			l.SetLeading(ss.Role == engine.Leader)
		}
	}
	ls.role, ls.lead = ss.Role, ss.Lead
	ls.batchEnds = ls.batchEnds[:0]
	n.pub.role.Store(uint32(ss.Role))
	n.pub.lead.Store(ss.Lead)
	n.m.role.Set(float64(ss.Role))
	n.m.leader.Set(float64(ss.Lead))
	if ss.Role == engine.Leader {
		n.updateProgressMetrics()
	}
	n.logger.Debug("soft state", "role", ss.Role, "lead", ss.Lead)
}

func (n *Node) collectReads(ls *loopState, rs []driver.Read) []servableRead {
	var out []servableRead
	for _, r := range rs {
		rr, ok := ls.readRounds[r.ID]
		if !ok {
			continue
		}
		delete(ls.readRounds, r.ID)
		if out == nil {
			out = carve(&ls.servSlab, len(rs))[:0]
		}
		out = append(out, servableRead{index: r.Index, reads: rr.reads})
		if p := n.readProbe; p != nil {
			p.MarkRead(n.cfg.ID, r.ID, ReadConfirmed, time.Now())
		}
	}
	return out
}

// collectExpects pairs the sessions proposed on this leader with their
// log slots, so the apply goroutine can prove a drop (another entry
// committed in that slot) and fail the waiter definitely.
func (n *Node) collectExpects(ls *loopState, ents []raftpb.Entry) []expectation {
	k := len(ls.expectKeys)
	if k == 0 {
		return nil
	}
	var out []expectation
	if len(ents) >= k {
		out = carve(&ls.expectSlab, k)
		tail := ents[len(ents)-k:]
		for i := range tail {
			out[i] = expectation{index: tail[i].Index, term: tail[i].Term, key: ls.expectKeys[i].key, w: ls.expectKeys[i].w, gen: ls.expectKeys[i].gen}
		}
	}
	clear(ls.expectKeys)
	ls.expectKeys = ls.expectKeys[:0]
	return out
}

// send counts messages and hands them to the transport (the driver's
// Transport; also called from the WAL's flusher for held-back acks).
func (n *Node) send(msgs []raftpb.Message) {
	for i := range msgs {
		m := &msgs[i]
		n.m.sent[msgIdx(m.Type)].Inc()
		if m.Type == raftpb.MsgApp {
			n.stats.appendMsgs.Add(1)
			n.stats.appendEntries.Add(uint64(len(m.Entries)))
			n.m.appEntries.Observe(float64(len(m.Entries)))
			n.m.appBytes.Observe(float64(m.PayloadBytes()))
		}
	}
	n.cfg.Transport.Send(msgs)
}

// onDurable is the WAL's done callback (flusher goroutine), after the
// driver sent the messages that waited for the write: count, wake.
func (n *Node) onDurable(err error) {
	if err != nil {
		// A copy whose address is kept: taking err's own address moved
		// the parameter to the heap on every call, ~1.6% of a 1-client
		// run's CPU in allocations for a nil error.
		failed := err
		n.walErr.CompareAndSwap(nil, &failed)
	}
	n.durable.Add(1)
	select {
	case n.persistWake <- struct{}{}:
	default:
	}
}

// completeDurable lets the driver release the obligations of every
// durable write; false when the WAL failed (the node must stop: it
// cannot ack anything).
func (n *Node) completeDurable(ls *loopState) bool {
	if p := n.walErr.Load(); p != nil {
		n.fail(*p)
		return false
	}
	durable := n.durable.Load()
	n.drv.Release(durable)
	if p := n.cfg.Probe; p != nil {
		if last := n.probeWrites.released(durable); last != 0 {
			p.Mark(n.cfg.ID, StageReleased, 0, last, time.Now())
		}
	}
	return true
}

// walStorage is the driver's Storage: the WAL, with the loop waiting on
// the done callbacks' count when the driver must drain (rare).
type walStorage struct{ n *Node }

func (s walStorage) Submit(w driver.Write, done func(error)) error {
	if p := s.n.cfg.Probe; p != nil {
		var last uint64
		if k := len(w.Entries); k > 0 {
			last = w.Entries[k-1].Index
			done = s.n.probeDone(p, last, done)
		}
		s.n.probeWrites.submitted(last)
	}
	return s.n.log.Submit(wal.Write{Entries: w.Entries, HardState: w.HardState}, done)
}

func (s walStorage) WaitDurable(k uint64) (uint64, error) {
	n := s.n
	for {
		if p := n.walErr.Load(); p != nil {
			return 0, *p
		}
		if d := n.durable.Load(); d >= k {
			return d, nil
		}
		select {
		case <-n.persistWake:
		case <-n.stopc:
			return 0, ErrStopped
		}
	}
}

// SaveSnapshot stores a leader's snapshot (a newer one of our own may
// already be stored: then there is nothing to do): the file it streamed
// into, or its data.
func (s walStorage) SaveSnapshot(snap raftpb.Snapshot) error {
	if ok, err := s.n.installReceived(snap.Meta); ok || err != nil {
		return err
	}
	if snap.Data == nil && s.n.snapFiles != nil {
		return fmt.Errorf("snapshot %d carries no data and no received file holds it", snap.Meta.Index)
	}
	_, err := s.n.saveSnapshot(snap)
	return err
}

// sender is the driver's Transport.
type sender struct{ n *Node }

func (s sender) Send(msgs []raftpb.Message) { s.n.send(msgs) }
