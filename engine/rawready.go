package engine

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// HasReady reports whether Ready would return any work. It is false while
// a taken Ready awaits Advance.
func (c *Core) HasReady() bool {
	switch {
	case c.readyPending:
		return false
	case c.softState() != c.prevSoft, c.hardChanged(), c.pendingSnapshot != nil,
		c.log.handed < c.log.lastIndex(), len(c.msgs) > 0, len(c.msgsAfter) > 0,
		len(c.readStates) > 0, c.log.applyHanded < c.applyLimit():
		return true
	case c.role == Leader:
		if c.reads.broadcastDue {
			return true
		}
		for _, id := range c.peers {
			if c.wantsAppend(c.prs[id]) {
				return true
			}
		}
	}
	return false
}

func (c *Core) softState() SoftState { return SoftState{Lead: c.lead, Role: c.role} }

func (c *Core) hardChanged() bool {
	return c.term != c.prevHard.Term || c.vote != c.prevHard.Vote
}

// applyLimit is the highest index that may be applied: committed, and
// handed out for persistence in this or an earlier Ready. It need not be
// durable here: a committed entry is durable on a quorum and every later
// leader holds it, so a crash that loses the local copy loses nothing
// (the state machine is rebuilt from the snapshot and the durable log,
// and the entry comes back from the leader). Waiting for the local fsync
// would put it on the commit path that §10.2.1 takes the leader's fsync
// off: the leader commits on two followers' acks and applies at once.
// handed keeps the driver's order: an entry's write is submitted before
// the entry is applied, so a snapshot of applied state is written after
// the entries it covers.
func (c *Core) applyLimit() uint64 { return min(c.log.committed, c.log.handed) }

// Ready returns the pending work; the leader's MsgApps are built now, so
// every proposal since the previous Ready shares one MsgApp per follower.
// The caller must call Advance(rd) before the next Ready.
func (c *Core) Ready() Ready {
	if c.readyPending {
		panic("engine: Ready called again before Advance")
	}
	if c.role == Leader {
		c.sendAppends()
		if c.reads.broadcastDue {
			c.bcastHeartbeat()
		}
	}
	rd := Ready{HardState: c.hardState(), HardStateChanged: c.hardChanged()}
	if c.softState() != c.prevSoft {
		soft := c.softState() // declared here so only a change allocates
		rd.SoftState = &soft
		c.prevSoft = soft
	}
	c.prevHard = rd.HardState
	if c.pendingSnapshot != nil {
		rd.Snapshot, c.pendingSnapshot = c.pendingSnapshot, nil
	}
	if last := c.log.lastIndex(); c.log.handed < last {
		rd.Entries = c.log.entries(c.log.handed+1, last+1)
		c.log.handed = last
	}
	rd.Messages, c.msgs = c.msgs, nil
	rd.MessagesAfterPersist, c.msgsAfter = c.msgsAfter, nil
	rd.ReadStates, c.readStates = c.readStates, nil
	if lim := c.applyLimit(); c.log.applyHanded < lim {
		// Bounded per Ready so a restart with a long committed log does
		// not hand out one giant batch.
		rd.CommittedEntries, _ = c.log.slice(c.log.applyHanded+1, lim+1, c.cfg.MaxInflightBytes)
		c.log.applyHanded = rd.CommittedEntries[len(rd.CommittedEntries)-1].Index
	}
	c.readyPending = true
	c.check()
	return rd
}

// Advance tells the core the driver has taken rd. Persistence may still
// be in flight (Persisted reports it); applying is the driver's.
func (c *Core) Advance(rd Ready) {
	if !c.readyPending {
		panic("engine: Advance without a pending Ready")
	}
	c.readyPending = false
	if n := len(rd.CommittedEntries); n > 0 {
		last := rd.CommittedEntries[n-1].Index
		if last > c.log.applyHanded {
			panic(fmt.Sprintf("engine: Advance with committed entries up to %d, only %d were handed out", last, c.log.applyHanded))
		}
		c.log.applied = max(c.log.applied, last)
	}
	if rd.Snapshot != nil {
		c.log.applied = max(c.log.applied, min(rd.Snapshot.Meta.Index, c.log.applyHanded))
	}
	c.check()
}

// Persisted reports that the log up to index, whose entry has term, is
// durable. Reports for entries since replaced (a different term at
// index) or already known are ignored. On the leader this may commit.
func (c *Core) Persisted(index, term uint64) {
	if index <= c.log.persisted || index > c.log.handed {
		// Already known, or beyond what is handed out now: the report is
		// for entries a later truncation replaced (their replacements are
		// not handed out yet).
		return
	}
	if t, ok := c.log.term(index); !ok || t != term {
		return // stale: that entry was replaced or compacted
	}
	c.log.persisted = index
	if c.role == Leader {
		c.maybeCommit()
	}
	c.check()
}

// handleSnapshot installs a leader's snapshot on a follower (§7): if the
// log already holds its last entry, only commit moves; otherwise the
// whole log is replaced and the snapshot handed to the driver.
func (c *Core) handleSnapshot(m raftpb.Message) {
	s := m.Snapshot
	if s == nil {
		return
	}
	meta := s.Meta
	switch {
	case meta.Index <= c.log.committed:
		c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: c.log.committed})
		return
	case c.log.matchTerm(meta.Index, meta.Term):
		c.log.commitTo(meta.Index)
		c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: meta.Index})
		return
	}
	c.log.restore(meta.Index, meta.Term)
	c.confIndexes = nil
	if len(meta.Voters) > 0 {
		c.baseConf = meta.ConfState.Clone()
	}
	c.changeConf(c.baseConf)
	c.pendingSnapshot = s
	c.snapshot = s
	c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: meta.Index})
}

// Compact records that the state machine holds snap, which covers the log
// up to snap.Meta.Index (at most the applied index): the in-memory prefix
// is dropped and snap is kept to send to followers that need it. Calling
// it with the snapshot a node restarted from just keeps the snapshot.
// A snapshot below the log's first index (entries DropApplied dropped)
// is kept too, once it is not older than the latest one: its term cannot
// be checked against entries no longer held.
func (c *Core) Compact(snap raftpb.Snapshot) error {
	idx := snap.Meta.Index
	if idx > c.log.applied {
		return fmt.Errorf("%w: index %d beyond applied %d", ErrBadSnapshot, idx, c.log.applied)
	}
	if floor := max(c.snapshotIndex(), c.log.snapshotted); idx < floor {
		return fmt.Errorf("%w: index %d older than the latest snapshot's %d", ErrBadSnapshot, idx, floor)
	}
	if idx >= c.log.offset {
		if t, ok := c.log.term(idx); !ok || t != snap.Meta.Term {
			return fmt.Errorf("%w: term %d at index %d, log has %d", ErrBadSnapshot, snap.Meta.Term, idx, t)
		}
	}
	if idx > c.log.offset {
		c.compactConf(idx)
		c.log.compact(idx, snap.Meta.Term)
	}
	c.log.snapshotted = idx
	// Without a configuration entry between idx and the log's start
	// (DropApplied never drops one), the base configuration is the one
	// in force at idx.
	snap.Meta.ConfState = c.baseConf.Clone()
	c.snapshot = &snap
	c.check()
	return nil
}

// snapshotIndex is the index of the latest snapshot given to Compact or
// received from a leader (0: none).
func (c *Core) snapshotIndex() uint64 {
	if c.snapshot == nil {
		return 0
	}
	return c.snapshot.Meta.Index
}

// DropApplied drops the in-memory entries up to index without a snapshot
// there, and returns the log's new first index - 1. The core keeps
// applied entries only to send them to followers; the driver's log holds
// them durably (a restart replays them), so a long interval between
// snapshots need not mean as long a log in memory. A follower that needs
// dropped entries gets the latest snapshot when it covers them, or waits
// for a fresher one (SnapshotWanted). index is lowered to the applied
// index, below the first configuration entry still in the log (a
// snapshot's configuration is the base one, which only Compact moves),
// to the snapshot a follower is being sent (it continues from the
// entries after it), and nothing is dropped while a follower waits for a
// fresh snapshot (it would have to wait for another).
func (c *Core) DropApplied(index uint64) uint64 {
	index = min(index, c.log.applied)
	if len(c.confIndexes) > 0 {
		index = min(index, c.confIndexes[0]-1)
	}
	if c.role == Leader {
		for _, id := range c.peers {
			pr := c.prs[id].pr
			if pr.State == tracker.StateSnapshot {
				index = min(index, pr.PendingSnapshot)
			}
		}
		if c.SnapshotWanted() != 0 {
			return c.log.offset
		}
	}
	if index <= c.log.offset {
		return c.log.offset
	}
	t, _ := c.log.term(index)
	c.log.compact(index, t)
	c.check()
	return index
}

// SnapshotWanted returns, on a leader with a follower that needs entries
// DropApplied dropped while the latest snapshot is older than them, the
// index a new snapshot must reach (the log's first index - 1); else 0.
// The driver asks the state machine for a snapshot at or past it and
// passes it to Compact; the follower is then sent it.
func (c *Core) SnapshotWanted() uint64 {
	if c.role != Leader || c.snapshotIndex() >= c.log.offset {
		return 0
	}
	for _, id := range c.peers {
		if pr := c.prs[id].pr; pr.State != tracker.StateSnapshot && pr.Next <= c.log.offset {
			return c.log.offset
		}
	}
	return 0
}
