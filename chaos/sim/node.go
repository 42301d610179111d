package sim

import (
	"fmt"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// entryMeta is what the checker remembers of a log entry: its term and a
// hash of its type and data (entries themselves may be large).
type entryMeta struct {
	term uint64
	hash uint64
}

// waitKey identifies a client request a node waits to answer.
type waitKey struct {
	client int
	seq    uint64
}

// simNode is one node: the real core and the runtime's driver
// (engine/driver) over its MemLog, the KV store, and the checker's
// mirrors of its in-memory log ("view") and durable log. Everything
// between Core.Ready and the disk, the network and the state machine is
// the driver's; the node only plumbs faults and feeds the checker.
type simNode struct {
	idx  int
	id   uint64
	up   bool
	dead bool   // its log reported corruption: it never restarts
	inc  uint32 // incarnation: bumped on every crash

	// drv, core, ap and reads are the running process (nil while down).
	drv   *driver.Driver
	core  *engine.Core
	ap    *driver.Applier
	reads *driver.ReadQueue[*clientMsg]
	store *kv.Store
	hooks applyHooks
	// voters is the configuration of core's log, kept while the node is
	// down (core is nil then) for the permanent-death budget.
	voters []uint64
	disk   *memDisk

	// durableWrites counts this incarnation's writes whose done callback
	// reported success (what Driver.Release is told); syncErr is the
	// first failure.
	durableWrites uint64
	syncErr       error
	syncPending   bool

	commit  uint64 // highest commit seen this lifetime
	view    logMirror
	durable logMirror
	durHS   raftpb.HardState

	waiters     map[waitKey]*clientMsg
	readWaiters map[uint64]*clientMsg // by read id
	readSeq     uint64

	role engine.Role
	term uint64

	hashBuf []byte // reused for state digests
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

// applied returns n's applied index.
func (n *simNode) applied() uint64 {
	i, _ := n.ap.Applied()
	return i
}

// newCore starts n's process from its recovered state, as the runtime
// does: the applier restores the snapshot (if any), the core is built
// with it and the log, and the snapshot is handed to Compact.
func (s *Sim) newCore(n *simNode, hs raftpb.HardState, snap *raftpb.Snapshot, ents []raftpb.Entry) error {
	cfg := engine.Config{
		ID: n.id, Voters: s.p.initialVoters(),
		ElectionTicks: s.p.ElectionTicks, HeartbeatTicks: s.p.HeartbeatTicks,
		PreVote: s.p.PreVote, CheckQuorum: s.p.CheckQuorum,
		LeaseReads: s.p.LeaseReads, MaxClockDrift: s.p.MaxClockDrift,
		LazyCommit: s.p.LazyCommit,
		Seed:       s.r.Fork(),
		HardState:  hs, Entries: ents,
		Bugs: s.opts.EngineBugs,
	}
	n.store = kv.NewStore()
	ap, err := driver.NewApplier(driver.ApplierConfig{
		ID: n.id, Voters: s.p.initialVoters(), StateMachine: n.store,
		SnapshotEvery: uint64(s.p.SnapEvery), Bugs: s.opts.DriverBugs,
	})
	if err != nil {
		return err
	}
	n.ap = ap
	n.view.reset(0, 0)
	if snap != nil {
		meta := snap.Meta
		cfg.Snapshot, cfg.Applied = &meta, meta.Index
		if err := ap.Restore(*snap); err != nil {
			return fmt.Errorf("restore snapshot at %d: %w", meta.Index, err)
		}
		n.view.reset(meta.Index, meta.Term)
	}
	c, err := engine.New(cfg)
	if err != nil {
		return err
	}
	inc := n.inc
	n.durableWrites, n.syncErr, n.syncPending = 0, nil, false
	n.drv, err = driver.New(driver.Config{
		Core: c, Storage: &simStorage{s: s, n: n, inc: inc}, Transport: simTransport{s: s, n: n, inc: inc},
		Transfer: driver.TransferConfig{ChunkBytes: s.p.SnapChunkBytes, ChunksInFlight: s.p.SnapChunksInFlight},
		OnDurable: func(err error) {
			switch {
			case n.inc != inc:
			case err != nil:
				if n.syncErr == nil {
					n.syncErr = err
				}
			default:
				n.durableWrites++
			}
		},
		ReadNonce:          uint64(inc),
		KeepAppliedEntries: uint64(s.p.KeepApplied),
		Bugs:               s.opts.DriverBugs,
	})
	if err != nil {
		return err
	}
	n.drv.SetResidentLogBytes(uint64(s.p.ResidentBytes))
	if n.reads, err = driver.NewReadQueue[*clientMsg](s.opts.DriverBugs); err != nil {
		return err
	}
	if snap != nil {
		if err := n.drv.Compact(*snap); err != nil {
			return fmt.Errorf("Compact(restart snapshot %d): %w", snap.Meta.Index, err)
		}
		s.stats.RestartsFromSnapshot++
	}
	n.core = c
	n.hooks = applyHooks{s: s, n: n}
	n.commit = c.Status().Commit
	for _, e := range ents {
		if e.Index > n.view.last() {
			n.view.push(metaOf(e))
		}
	}
	n.durable = logMirror{offset: n.view.offset, offTerm: n.view.offTerm, ents: append([]entryMeta(nil), n.view.ents...)}
	n.durHS = hs
	n.waiters = make(map[waitKey]*clientMsg)
	n.readWaiters = make(map[uint64]*clientMsg)
	n.role, n.term = c.Role(), c.Term()
	return nil
}

// stop ends n's process: its counters go to the run's stats and its
// volatile state is dropped.
func (s *Sim) stop(n *simNode) {
	if n.core == nil {
		return
	}
	s.stats.addDriver(n.drv.Stats(), n.ap.Stats())
	n.voters = n.core.Voters()
	n.drv, n.core, n.ap, n.reads, n.store = nil, nil, nil, nil, nil
}

func metaOf(e raftpb.Entry) entryMeta {
	h := uint64(14695981039346656037)
	h = (h ^ uint64(e.Type)) * 1099511628211
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return entryMeta{term: e.Term, hash: h}
}

// drive hands every Ready the core has to the driver, after the checker
// has seen it, and applies what comes back.
func (s *Sim) drive(n *simNode) {
	for n.up && s.failure == nil {
		n.drv.Release(n.durableWrites)
		if !n.core.HasReady() {
			break
		}
		rd := n.drv.Ready()
		if !s.observe(n, &rd) {
			break
		}
		drops := n.drv.Stats().LogDrops
		b, err := n.drv.Handle(&rd)
		if err != nil {
			s.fail("harness", "driver", "node %d: %v", n.id, err)
			break
		}
		s.stats.LogDrops += n.drv.Stats().LogDrops - drops
		if b.SnapshotWanted != 0 {
			s.stats.SnapshotWantedAsks++
		}
		s.applyBatch(n, &b)
	}
	s.markDirty(n)
}

// observe is the checker's look at a Ready before the driver carries it
// out: the snapshot a follower is about to install, a new leader's
// election, the entries the core appended and its new commit index.
func (s *Sim) observe(n *simNode, rd *engine.Ready) bool {
	if rd.Snapshot != nil {
		if !s.chk.onInstall(s, n, rd.Snapshot.Meta) {
			return false
		}
		n.view.reset(rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term)
		s.tr.annotate("install snapshot n" + itoa(n.id) + " at " + itoa(rd.Snapshot.Meta.Index))
	}
	if rd.SoftState != nil && rd.SoftState.Role == roleLeader {
		// Check election safety before the new leader's first entries.
		s.chk.checkNode(s, n)
		if s.failure != nil {
			return false
		}
	}
	if len(rd.Entries) > 0 {
		s.chk.onEntries(s, n, rd.Entries)
		if s.failure != nil {
			return false
		}
	}
	return s.advanceCommit(n, rd.HardState.Commit)
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

// onDurableWrite updates the checker's mirror of n's durable log, in disk
// order, when a write's done callback reports it durable.
func (s *Sim) onDurableWrite(n *simNode, w driver.Write) {
	if w.HardState != nil {
		n.durHS = *w.HardState
	}
	if len(w.Entries) > 0 {
		first := w.Entries[0].Index
		if first > n.durable.last()+1 || first <= n.durable.offset {
			s.fail("harness", "durable log gap", "node %d: write starts at %d, durable log is (%d, %d]",
				n.id, first, n.durable.offset, n.durable.last())
			return
		}
		n.durable.truncateFrom(first)
		for _, e := range w.Entries {
			n.durable.push(metaOf(e))
		}
	}
}
