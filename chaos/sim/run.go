package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/wal"
)

func newSim(p Params, r *rng, opts Options) *Sim {
	if opts.TraceEvents == 0 {
		opts.TraceEvents = DefaultTraceEvents
	}
	if opts.MaxEvents == 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	return &Sim{p: p, r: r, opts: opts, chk: newChecker(), tr: newTracer(opts.TraceEvents),
		lastWritten: make(map[string]string), unsure: make(map[string]int)}
}

// push schedules e; a full queue is a harness failure.
func (s *Sim) push(e *event) {
	if e.at < s.now {
		e.at = s.now
	}
	if s.pending != nil {
		s.pushPending(e)
		return
	}
	if !s.q.push(e) {
		s.fail("harness", "event queue full", "more than %d pending events", maxQueued)
	}
}

// fail records the first failure; the loop stops after the current event.
func (s *Sim) fail(kind, invariant, format string, args ...any) {
	if s.failure != nil {
		return
	}
	s.failure = &Failure{Kind: kind, Invariant: invariant, Detail: fmt.Sprintf(format, args...), Event: s.eventNo, AtUs: s.now}
	s.tr.annotate("FAILURE: " + invariant)
}

func (s *Sim) faultsOn() bool { return s.phase == phaseFault }

// mayIssue bounds the history so the linearizability check stays cheap.
func (s *Sim) mayIssue() bool {
	return s.phase != phaseFault || s.opsIssued < s.p.Keys*s.p.MaxOpsPerKey
}

func (s *Sim) bootstrap() {
	for i := 0; i < s.p.procs(); i++ {
		n := &simNode{idx: i, id: uint64(i + 1), up: true, disk: newMemDisk()}
		s.nodes = append(s.nodes, n)
		if err := s.newCore(n, n.durHS, nil, nil); err != nil {
			s.fail("harness", "engine.New", "node %d: %v", n.id, err)
			return
		}
		s.push(&event{at: s.r.Between(0, s.p.TickUs), kind: evTick, node: i, inc: n.inc})
	}
	for i := 0; i < s.p.Clients; i++ {
		s.clients = append(s.clients, &client{idx: i, lastOK: -1})
		s.push(&event{at: s.r.Between(0, 50_000), kind: evClientStart, node: i})
	}
	s.push(&event{at: s.gap(s.p.PartGapUs), kind: evPartition})
	s.push(&event{at: s.gap(s.p.CrashGapUs), kind: evCrash})
	if s.p.TransferGapUs > 0 {
		s.push(&event{at: s.gap(s.p.TransferGapUs), kind: evTransfer})
	}
	if s.p.ConfGapUs > 0 {
		s.push(&event{at: s.gap(s.p.ConfGapUs), kind: evConfChange})
	}
	s.push(&event{at: s.p.FaultPhaseUs, kind: evHeal})
}

// gap draws an inter-fault gap around mean (uniform in [mean/4, 7mean/4]).
func (s *Sim) gap(mean int64) int64 { return s.now + s.r.Between(mean/4, mean*7/4) }

func (s *Sim) loop() {
	for s.failure == nil && s.phase != phaseDone {
		e := s.q.pop()
		if e == nil {
			s.fail("harness", "queue empty", "no events left in phase %d", s.phase)
			return
		}
		s.now = e.at
		s.eventNo++
		if s.eventNo > s.opts.MaxEvents {
			s.fail("harness", "event budget", "run exceeded %d events", s.opts.MaxEvents)
			return
		}
		if s.opts.record != nil {
			s.recordStep(e)
		}
		s.tr.record(s.eventNo, e)
		s.dispatch(e)
		s.chk.afterEvent(s)
		if s.opts.Observer != nil {
			s.observeEvent(e)
		}
	}
}

func (s *Sim) dispatch(e *event) {
	switch e.kind {
	case evTick:
		s.onTick(e)
	case evDeliver:
		s.onDeliver(e)
	case evSync:
		s.onSync(e)
	case evClientReq:
		n := s.nodes[e.node]
		if !n.up {
			// No process listens: the client's connection is refused, a
			// definite failure (the request was never taken in).
			s.tr.annotate("node down")
			s.reply(n, e.cl, replyDefiniteFail, []byte("connection refused"), 0)
			return
		}
		s.onClientRequest(n, e.cl)
	case evClientReply:
		s.onClientReply(s.clients[e.node], e.cl)
	case evClientTimeout:
		s.onClientTimeout(s.clients[e.node], e.cl)
	case evClientStart:
		s.clientStart(s.clients[e.node])
	default:
		s.dispatchPhase(e)
	}
}

func (s *Sim) dispatchPhase(e *event) {
	switch e.kind {
	case evPartition:
		if s.faultsOn() {
			if s.fault("partition") {
				s.tr.annotate(s.startPartition())
			}
			s.push(&event{at: s.now + s.r.Between(s.p.PartDurUs/2, s.p.PartDurUs*3/2), kind: evPartitionEnd})
		}
	case evPartitionEnd:
		s.cut = nil
		if s.faultsOn() {
			s.push(&event{at: s.gap(s.p.PartGapUs), kind: evPartition})
		}
	case evCrash:
		if e.aux != 0 {
			s.onTargetedCrash(e)
		} else {
			s.onCrashEvent(e)
		}
	case evRestart:
		if n := s.nodes[e.node]; !n.up && n.inc == e.inc {
			s.restart(n)
		}
	case evHeal:
		s.heal()
	case evLivenessDeadline:
		if !s.liveOK {
			s.fail("liveness", "no progress after heal",
				"no new write committed within %d ticks of healing (leader: %d)", s.p.LivenessTicks, s.currentLeader()+1)
		}
	case evEnd:
		if s.phase != phaseDone {
			s.endPhase()
		}
	case evTransfer:
		s.onTransferEvent()
	case evConfChange:
		s.onConfChangeEvent()
	}
}

func (s *Sim) onTick(e *event) {
	n := s.nodes[e.node]
	if !n.up || n.inc != e.inc {
		return
	}
	n.drv.Tick()
	s.drive(n)
	s.checkTransferAbort(n)
	skew := s.p.TickSkewPermille[n.idx]
	if !s.faultsOn() {
		// Healed clocks: without PreVote, a node whose timer runs much
		// faster can keep resetting the timer of the only node that
		// could win (it steps down on every higher-term MsgVote), so
		// liveness is only demanded with near-equal tick rates.
		skew = max(-50, min(50, skew))
	}
	if s.opts.LeaseDriftUnderstated && s.cut != nil && n.core.Role() == roleLeader {
		// Beyond the bound the nodes were told: while a partition is on,
		// a leader's clock runs ten times slower than the others'.
		skew = 9000 + max(skew, 0)
	}
	next := s.p.TickUs * int64(1000+skew) / 1000
	s.push(&event{at: s.now + next, kind: evTick, node: n.idx, inc: n.inc})
}

func (s *Sim) onDeliver(e *event) {
	n := s.nodes[e.node]
	from := int(e.msg.From - 1)
	switch {
	case s.blocked(from, n.idx):
		s.stats.MsgsBlocked++
		s.tr.annotate("blocked by partition")
		return
	case !n.up:
		s.stats.MsgsToDownNode++
		s.tr.annotate("node down")
		return
	}
	s.stats.MsgsDelivered++
	s.delivered = true
	if !slices.Contains(n.core.Voters(), e.msg.From) {
		s.stats.MsgsFromNonMember++ // thesis §4.1: processed all the same
	}
	if err := n.drv.Step(e.msg); err != nil {
		if !errors.Is(err, driver.ErrSnapshotTransfer) {
			s.fail("harness", "step", "node %d rejected %v: %v", n.id, e.msg, err)
			return
		}
		s.stats.SnapChunksRefused++ // reordered, duplicated or stale: refused and answered
	}
	s.drive(n)
}

// scheduleSync arranges for n's pending writes to be synced after a
// drawn fsync latency (one sync at a time per node: group commit).
func (s *Sim) scheduleSync(n *simNode) {
	if n.syncPending {
		return
	}
	n.syncPending = true
	d := s.r.Between(s.p.FsyncMinUs, s.p.FsyncMaxUs)
	if s.faultsOn() && s.r.Permille(s.p.FsyncSlowPermille) {
		d *= s.p.FsyncSlowMult
		s.stats.SlowFsyncs++
	}
	s.push(&event{at: s.now + d, kind: evSync, node: n.idx, inc: n.inc})
}

func (s *Sim) onSync(e *event) {
	n := s.nodes[e.node]
	if !n.up || n.inc != e.inc {
		return
	}
	n.syncPending = false
	fail := s.faultsOn() && s.r.Permille(s.p.FsyncFailPermille) && s.fault("fsync-fail")
	if fail {
		s.tr.annotate("fsync fails")
	}
	s.stats.Syncs++
	n.disk.sync(fail)
	if n.syncErr != nil {
		// A failed fsync leaves the file in an unknown state; a correct
		// node must stop (it cannot retry, "fsyncgate").
		s.stats.FsyncFailures++
		s.crash(n, crashLoseUnsynced, "fsync failed: "+n.syncErr.Error())
		return
	}
	if n.up {
		s.drive(n)
		if n.disk.pending() > 0 {
			s.scheduleSync(n)
		}
	}
}

// onCrashEvent crashes a node (if fewer than MaxDown are down) and
// schedules the next crash.
func (s *Sim) onCrashEvent(e *event) {
	if !s.faultsOn() {
		return
	}
	s.push(&event{at: s.gap(s.p.CrashGapUs), kind: evCrash})
	if s.downCount() >= s.p.MaxDown {
		return
	}
	n := s.nodes[s.victim()]
	e.node = n.idx // for the trace
	if !n.up || !s.fault("crash") {
		return
	}
	s.crash(n, s.drawCrashMode(n), "")
}

// onTargetedCrash is a buggify crash of one node at an interesting
// moment; the node comes back quickly.
func (s *Sim) onTargetedCrash(e *event) {
	n := s.nodes[e.node]
	if !s.faultsOn() || !n.up || s.downCount() >= s.p.MaxDown || !s.fault("buggify-crash") {
		return
	}
	s.crash(n, s.drawCrashMode(n), "buggify")
	if n.up || n.dead || s.failure != nil {
		return
	}
	hi := int64(30_000)
	if e.aux == 2 {
		hi = 10_000 // a voter: back within the same election
	}
	s.push(&event{at: s.now + s.r.Between(200, hi), kind: evRestart, node: n.idx, inc: n.inc})
}

func (s *Sim) downCount() int {
	down := 0
	for _, n := range s.nodes {
		if !n.up {
			down++
		}
	}
	return down
}

// drawCrashMode picks what a crash does to n's disk. Corruption of a
// synced record kills the node for good, so it is only drawn while
// enough nodes remain for a quorum in the liveness phase.
func (s *Sim) drawCrashMode(n *simNode) crashMode {
	if len(n.durable.ents) > 0 && s.mayKillForGood(n) && s.r.Permille(s.p.FlipPermille) {
		return crashFlipSynced
	}
	if !s.r.Permille(s.p.LoseUnsyncedPermille) {
		return crashKeepUnsynced
	}
	if s.r.Permille(s.p.TearPermille) {
		return crashTearLast
	}
	return crashLoseUnsynced
}

// mayKillForGood reports whether n may die for good: at most
// Nodes - quorum(Nodes) nodes die, and every configuration a node's log
// holds keeps a majority of nodes that are not dead without n (the
// liveness phase restarts everyone else and needs a quorum). Membership
// changes keep that true (onConfChangeEvent).
func (s *Sim) mayKillForGood(n *simNode) bool {
	dead := 0
	for _, o := range s.nodes {
		if o.dead {
			dead++
		}
	}
	if dead >= s.p.Nodes-quorum(s.p.Nodes) {
		return false
	}
	for _, o := range s.nodes {
		voters := o.voters
		if o.core != nil {
			voters = o.core.Voters()
		}
		if o.dead || voters == nil {
			continue
		}
		gone := 0
		for _, v := range voters {
			if v == n.id || s.nodes[v-1].dead {
				gone++
			}
		}
		if len(voters)-gone < quorum(len(voters)) {
			return false
		}
	}
	return true
}

// crash stops n: volatile state is gone, the disk keeps what mode says.
func (s *Sim) crash(n *simNode, mode crashMode, why string) {
	keep := s.r.Intn(n.disk.pending() + 1)
	n.up = false
	n.inc++ // done callbacks of the dead process are ignored from here on
	s.stop(n)
	lost, torn, err := n.disk.crash(mode, keep)
	s.stats.Crashes++
	s.stats.CrashModes[mode]++
	s.stats.WritesLost += uint64(lost)
	if torn {
		s.stats.TornWrites++
	}
	s.tr.annotate(fmt.Sprintf("crash n%d %s lost=%d torn=%v %s", n.id, mode, lost, torn, why))
	if mode == crashFlipSynced {
		if !errors.Is(err, wal.ErrCorrupt) {
			s.fail("harness", "corruption not reported", "node %d: flipped a synced record, reopen said %v", n.id, err)
			return
		}
		s.stats.CorruptionsDetected++
		n.dead = true
		s.tr.annotate("log reports corruption; node stays down")
		return
	}
	if err != nil {
		s.fail("harness", "log reopen", "node %d: %v", n.id, err)
		return
	}
	// What the disk holds now (keep-unsynced made pending writes durable).
	hs, snap, ents, err := n.disk.recover()
	if err != nil {
		s.fail("harness", "log recover", "node %d: %v", n.id, err)
		return
	}
	n.durHS = hs
	n.durable.reset(0, 0)
	if snap != nil {
		n.durable.reset(snap.Meta.Index, snap.Meta.Term)
	}
	for _, e := range ents {
		n.durable.push(metaOf(e))
	}
	if s.faultsOn() {
		down := s.r.Between(s.p.RestartMinUs, s.p.RestartMaxUs)
		if why == "" && s.r.Permille(s.p.LongOutagePermille) {
			// Long enough for the others to move past the leader's
			// snapshot: the node must then be caught up by MsgSnap.
			down = s.r.Between(s.p.LongOutageMinUs, 2*s.p.LongOutageMinUs)
			s.stats.LongOutages++
		}
		s.push(&event{at: s.now + down, kind: evRestart, node: n.idx, inc: n.inc})
	}
}

// restart brings n back from its disk, as a real process would.
func (s *Sim) restart(n *simNode) {
	if n.dead {
		return
	}
	hs, snap, ents, err := n.disk.recover()
	if err != nil {
		s.fail("harness", "log recover", "node %d: %v", n.id, err)
		return
	}
	durCommit, durTerm := hs.Commit, hs.Term
	if s.opts.ForgetVoteOnRestart {
		hs.Vote = 0 // the bug: the vote was not reloaded
	}
	if err := s.newCore(n, hs, snap, ents); err != nil {
		s.fail("harness", "engine.New on restart", "node %d: %v", n.id, err)
		return
	}
	n.up = true
	n.durHS.Commit, n.durHS.Term = durCommit, durTerm
	s.stats.Restarts++
	s.tr.annotate(fmt.Sprintf("restart n%d term=%d commit=%d log=(%d,%d]", n.id, hs.Term, hs.Commit, n.view.offset, n.view.last()))
	if snap != nil {
		// Restarting from its own snapshot must give the state every
		// node had at that index.
		s.chk.onState(s, n, snap.Meta.Index, s.stateHash(n))
		if s.failure != nil {
			return
		}
	}
	if c := n.core.Status().Commit; c < min(durCommit, n.view.last()) {
		s.fail("safety", "monotonic commit", "node %d restarted with commit %d below its durable commit %d", n.id, c, durCommit)
		return
	}
	if n.core.Term() < durTerm {
		s.fail("safety", "monotonic term", "node %d restarted with term %d below its durable term %d", n.id, n.core.Term(), durTerm)
		return
	}
	s.push(&event{at: s.now + s.r.Between(0, s.p.TickUs), kind: evTick, node: n.idx, inc: n.inc})
	s.drive(n)
}

// heal ends the fault phase: links heal, crashed nodes restart, faults
// stop, and a new write must commit within the tick budget.
func (s *Sim) heal() {
	s.phase = phaseLiveness
	s.cut = nil
	s.healUs = s.now
	for _, n := range s.nodes {
		if !n.up {
			s.restart(n)
			if s.failure != nil {
				return
			}
		}
	}
	s.tr.annotate("network healed, all nodes up, faults off")
	s.push(&event{at: s.now + int64(s.p.LivenessTicks)*s.p.TickUs, kind: evLivenessDeadline})
	for _, c := range s.clients {
		if c.cur == nil {
			s.push(&event{at: s.now, kind: evClientStart, node: c.idx})
		}
	}
}

// endPhase stops new operations once liveness is shown, then waits for
// outstanding operations to finish (or time out).
func (s *Sim) endPhase() {
	if s.phase == phaseLiveness {
		s.phase = phaseDrain
		s.push(&event{at: s.now + s.p.DrainUs, kind: evEnd})
		return
	}
	if s.phase != phaseDrain {
		return
	}
	for _, c := range s.clients {
		if c.cur != nil {
			s.finish(c, c.cur.giveUpOutcome(), "still pending at the end")
		}
	}
	s.phase = phaseDone
}

// checkHistory runs the linearizability checker on the client history.
func (s *Sim) checkHistory() {
	var h []check.Op
	for _, c := range s.clients {
		h = append(h, c.history...)
	}
	timeout := time.Duration(s.opts.CheckTimeout)
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	res := check.Check(h, check.Options{Timeout: timeout})
	s.history, s.checkRes = h, &res
	switch {
	case res.Err != nil:
		s.fail("harness", "history invalid", "%v", res.Err)
	case res.Linearizable == check.NotLinearizable:
		s.fail("linearizability", "history not linearizable", "key %s", res.BadKey)
	case !res.OK():
		s.fail("linearizability", "check undecided", "key %s: search timed out after %v", res.BadKey, timeout)
	}
}

func (s *Sim) result() Result {
	for _, n := range s.nodes {
		if n.up && n.drv != nil {
			s.stats.addDriver(n.drv.Stats(), n.ap.Stats())
		}
	}
	s.stats.Events = s.eventNo
	s.stats.VirtualUs = s.now
	res := Result{Seed: s.p.Seed, Params: s.p, Failure: s.failure, TraceHash: s.tr.hash, Stats: s.stats,
		History: s.history, Check: s.checkRes}
	if s.xfer != nil {
		res.Stats.TransfersAborted++ // still pending at the end: it timed out
	}
	if s.failure == nil && !s.opts.Trace {
		return res
	}
	evs := s.tr.tail()
	for _, tr := range evs {
		res.Tail = append(res.Tail, tr.describe())
	}
	res.Diagram = mermaid(evs, s.p.procs(), 150)
	return res
}
