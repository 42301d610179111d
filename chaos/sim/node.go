package sim

import (
	"fmt"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// entryMeta is what the checker remembers of a log entry: its term and a
// hash of its type and data (entries themselves may be large).
type entryMeta struct {
	term uint64
	hash uint64
}

// persistRec is one Ready's persistence obligation, kept in a per-node
// FIFO so that MessagesAfterPersist and Persisted happen in Ready order
// and only after every earlier write is durable too.
type persistRec struct {
	hasWrite bool
	done     bool
	err      error
	entries  []raftpb.Entry
	hs       *raftpb.HardState
	// snap is a snapshot saved synchronously (MemLog.SaveSnapshot acts as
	// an fsync of everything before it); it sits in the FIFO so the
	// durable mirror applies it in disk order.
	snap     *raftpb.SnapshotMeta
	msgs     []raftpb.Message
	lastIdx  uint64
	lastTerm uint64
}

// waitKey identifies a client request a node waits to answer.
type waitKey struct {
	client int
	seq    uint64
}

// pendingRead is a confirmed ReadState waiting for apply to reach Index.
type pendingRead struct {
	index uint64
	req   *clientMsg
}

// simNode is one node: the real core, its log, its state machine, and the
// checker's mirrors of its in-memory log ("view") and durable log.
type simNode struct {
	idx  int
	id   uint64
	up   bool
	dead bool   // its log reported corruption: it never restarts
	inc  uint32 // incarnation: bumped on every crash

	core *engine.Core
	// voters is the configuration of core's log, kept while the node is
	// down (core is nil then) for the permanent-death budget.
	voters []uint64
	disk   *memDisk
	sm     *stateMachine

	applied     uint64
	appliedTerm uint64
	snapIndex   uint64 // index of the latest snapshot taken or installed
	commit      uint64 // highest commit seen this lifetime
	view        logMirror
	durable     logMirror
	durHS       raftpb.HardState
	lastHS      raftpb.HardState // last hard state submitted

	persistQ    []*persistRec
	syncPending bool

	waiters     map[waitKey]*clientMsg
	readWaiters map[string]*clientMsg
	reads       []pendingRead

	role engine.Role
	term uint64
}

// quorum is the majority size of an n-node cluster.
func quorum(n int) int { return n/2 + 1 }

// initialVoters is the bootstrap configuration: nodes 1..Nodes. Spares
// start outside it, with the same configuration at the start of their
// log as everyone, and join only through a membership change.
func (p Params) initialVoters() []uint64 {
	voters := make([]uint64, p.Nodes)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	return voters
}

// newCore builds a core for n from its recovered state: the snapshot (if
// any) restores the state machine and is handed to Compact, as the
// contract requires after a restart from a snapshot.
func (s *Sim) newCore(n *simNode, hs raftpb.HardState, snap *raftpb.Snapshot, ents []raftpb.Entry) error {
	cfg := engine.Config{
		ID: n.id, Voters: s.p.initialVoters(),
		ElectionTicks: s.p.ElectionTicks, HeartbeatTicks: s.p.HeartbeatTicks,
		PreVote: s.p.PreVote, CheckQuorum: s.p.CheckQuorum,
		Seed:      s.r.Fork(),
		HardState: hs, Entries: ents,
		Bugs: s.opts.EngineBugs,
	}
	n.sm = newStateMachine(s.p.initialVoters())
	n.applied, n.appliedTerm, n.snapIndex = 0, 0, 0
	n.view.reset(0, 0)
	if snap != nil {
		meta := snap.Meta
		cfg.Snapshot, cfg.Applied = &meta, meta.Index
		if err := n.sm.restore(snap.Data); err != nil {
			return fmt.Errorf("restore snapshot at %d: %w", meta.Index, err)
		}
		n.applied, n.appliedTerm, n.snapIndex = meta.Index, meta.Term, meta.Index
		n.view.reset(meta.Index, meta.Term)
	}
	c, err := engine.New(cfg)
	if err != nil {
		return err
	}
	if snap != nil {
		if err := c.Compact(*snap); err != nil {
			return fmt.Errorf("Compact(restart snapshot %d): %w", snap.Meta.Index, err)
		}
		s.stats.RestartsFromSnapshot++
	}
	n.core = c
	n.commit = c.Status().Commit
	for _, e := range ents {
		if e.Index > n.view.last() {
			n.view.push(metaOf(e))
		}
	}
	n.durable = logMirror{offset: n.view.offset, offTerm: n.view.offTerm, ents: append([]entryMeta(nil), n.view.ents...)}
	n.durHS, n.lastHS = hs, hs
	n.persistQ = nil
	n.syncPending = false
	n.waiters = make(map[waitKey]*clientMsg)
	n.readWaiters = make(map[string]*clientMsg)
	n.reads = nil
	n.role, n.term = c.Role(), c.Term()
	return nil
}

func metaOf(e raftpb.Entry) entryMeta {
	h := uint64(14695981039346656037)
	h = (h ^ uint64(e.Type)) * 1099511628211
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return entryMeta{term: e.Term, hash: h}
}

// drive hands out every Ready the core has and performs the driver's
// duties for each (engine.Ready's numbered list).
func (s *Sim) drive(n *simNode) {
	for n.up && s.failure == nil && n.core.HasReady() {
		rd := n.core.Ready()
		s.handleReady(n, rd)
	}
	s.markDirty(n)
}

func (s *Sim) handleReady(n *simNode, rd engine.Ready) {
	if rd.Snapshot != nil && !s.installSnapshot(n, rd) {
		return
	}
	if rd.SoftState != nil && rd.SoftState.Role == roleLeader {
		// Check election safety before the new leader's first entries.
		s.chk.checkNode(s, n)
		if s.failure != nil {
			return
		}
	}
	// 1. Messages leave at once (may overlap the local fsync, §10.2.1).
	for _, m := range rd.Messages {
		s.send(m)
	}
	// The in-memory log the core now has (for log matching).
	if len(rd.Entries) > 0 {
		s.chk.onEntries(s, n, rd.Entries)
		if s.failure != nil {
			return
		}
	}
	// 2. Persist hard state and entries (one atomic write).
	if !s.persist(n, rd) {
		return
	}
	// 3. Advance (persistence may still be in flight).
	n.core.Advance(rd)
	if !s.advanceCommit(n, rd.HardState.Commit) {
		return
	}
	// 5. Apply, then serve reads whose index is applied.
	for _, e := range rd.CommittedEntries {
		s.applyEntry(n, e)
		if s.failure != nil {
			return
		}
	}
	n.reads = append(n.reads, s.readStates(n, rd.ReadStates)...)
	s.serveReads(n)
	if s.failure == nil && s.p.SnapEvery > 0 && n.applied >= n.snapIndex+uint64(s.p.SnapEvery) {
		s.takeSnapshot(n)
	}
	// Step 4 for writes that are already durable (rare: only when the
	// queue holds no write, or a snapshot save synced them).
	s.completePersists(n)
}

// persist submits rd's hard state and entries as one write and queues
// rd's MessagesAfterPersist behind it (and behind every earlier write).
func (s *Sim) persist(n *simNode, rd engine.Ready) bool {
	rec := &persistRec{msgs: rd.MessagesAfterPersist}
	hs := rd.HardState
	if len(rd.Entries) > 0 || hs != n.lastHS {
		rec.hasWrite = true
		rec.entries = rd.Entries
		if hs != n.lastHS {
			h := hs
			rec.hs = &h
			n.lastHS = hs
		}
		if k := len(rd.Entries); k > 0 {
			rec.lastIdx, rec.lastTerm = rd.Entries[k-1].Index, rd.Entries[k-1].Term
		} else if rd.Snapshot != nil {
			rec.lastIdx, rec.lastTerm = rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term
		}
		inc := n.inc
		err := n.disk.Submit(wal.Write{Entries: rec.entries, HardState: rec.hs}, func(err error) {
			if n.inc == inc {
				rec.done, rec.err = true, err
			}
		})
		if err != nil {
			s.fail("harness", "log submit failed", "node %d: %v", n.id, err)
			return false
		}
		s.scheduleSync(n)
	}
	if rec.hasWrite || len(rec.msgs) > 0 {
		n.persistQ = append(n.persistQ, rec)
	}
	return true
}

// advanceCommit checks and records n's new commit index.
func (s *Sim) advanceCommit(n *simNode, commit uint64) bool {
	switch {
	case commit > n.commit:
		s.chk.onCommit(s, n, commit)
		if s.failure == nil {
			s.chk.leaderCommitsOwnTerm(s, n, commit)
		}
		n.commit = commit
	case commit < n.commit:
		s.fail("safety", "monotonic commit", "node %d commit went from %d to %d", n.id, n.commit, commit)
	}
	return s.failure == nil
}

// completePersists performs step 4 for every record at the head of the
// FIFO whose write is durable.
func (s *Sim) completePersists(n *simNode) {
	for n.up && s.failure == nil && len(n.persistQ) > 0 {
		rec := n.persistQ[0]
		if rec.hasWrite && !rec.done {
			return
		}
		if rec.err != nil {
			// A failed fsync leaves the file in an unknown state; a
			// correct node must stop (it cannot retry, "fsyncgate").
			s.stats.FsyncFailures++
			s.crash(n, crashLoseUnsynced, "fsync failed: "+rec.err.Error())
			return
		}
		n.persistQ = n.persistQ[1:]
		if rec.hasWrite {
			s.onDurable(n, rec)
		}
		for _, m := range rec.msgs {
			s.send(m)
		}
		if rec.lastIdx > 0 {
			n.core.Persisted(rec.lastIdx, rec.lastTerm)
		}
	}
}

// onDurable updates the checker's mirror of n's durable log, in disk
// order (a record holds a hard state and entries, or a snapshot).
func (s *Sim) onDurable(n *simNode, rec *persistRec) {
	if rec.hs != nil {
		n.durHS = *rec.hs
	}
	if rec.snap != nil {
		n.durable.compact(rec.snap.Index, rec.snap.Term)
	}
	if len(rec.entries) > 0 {
		first := rec.entries[0].Index
		if first > n.durable.last()+1 || first <= n.durable.offset {
			s.fail("harness", "durable log gap", "node %d: write starts at %d, durable log is (%d, %d]",
				n.id, first, n.durable.offset, n.durable.last())
			return
		}
		n.durable.truncateFrom(first)
		for _, e := range rec.entries {
			n.durable.push(metaOf(e))
		}
	}
}
