package sim

import (
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
	disk *memDisk
	sm   *stateMachine

	applied uint64
	commit  uint64 // highest commit seen this lifetime
	view    []entryMeta
	durable []entryMeta
	durHS   raftpb.HardState
	lastHS  raftpb.HardState // last hard state submitted

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

// newCore builds a core for n from its recovered state.
func (s *Sim) newCore(n *simNode, hs raftpb.HardState, ents []raftpb.Entry) error {
	voters := make([]uint64, s.p.Nodes)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	cfg := engine.Config{
		ID: n.id, Voters: voters,
		ElectionTicks: s.p.ElectionTicks, HeartbeatTicks: s.p.HeartbeatTicks,
		PreVote: s.p.PreVote, CheckQuorum: s.p.CheckQuorum,
		Seed:      s.r.Fork(),
		HardState: hs, Entries: ents,
		Bugs: s.opts.EngineBugs,
	}
	c, err := engine.New(cfg)
	if err != nil {
		return err
	}
	n.core = c
	n.sm = newStateMachine()
	n.applied = 0
	n.commit = c.Status().Commit
	n.view = n.view[:0]
	for _, e := range ents {
		n.view = append(n.view, metaOf(e))
	}
	n.durable = append(n.durable[:0], n.view...)
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
	if rd.Snapshot != nil {
		s.fail("harness", "unexpected snapshot", "node %d got a snapshot, but the simulator never compacts", n.id)
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
	// Step 4 for writes that are already durable (rare: only when the
	// queue holds no write).
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

// onDurable updates the checker's mirror of n's durable log.
func (s *Sim) onDurable(n *simNode, rec *persistRec) {
	if len(rec.entries) > 0 {
		first := rec.entries[0].Index
		if first > uint64(len(n.durable))+1 {
			s.fail("harness", "durable log gap", "node %d: write starts at %d, durable log ends at %d", n.id, first, len(n.durable))
			return
		}
		n.durable = n.durable[:first-1]
		for _, e := range rec.entries {
			n.durable = append(n.durable, metaOf(e))
		}
	}
	if rec.hs != nil {
		n.durHS = *rec.hs
	}
}
