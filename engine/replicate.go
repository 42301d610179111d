package engine

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// Propose appends data as new entries on a leader. A follower forwards
// them to its leader (MsgProp) unless forwarding is disabled; without a
// known leader it returns *NotLeaderError. The data slices are kept, not
// copied: the caller must not modify them afterwards.
func (c *Core) Propose(data ...[]byte) error {
	if len(data) == 0 {
		return ErrEmptyProposal
	}
	for _, d := range data {
		if len(d) == 0 {
			return ErrEmptyProposal
		}
	}
	if c.role != Leader {
		if c.lead == 0 || c.cfg.DisableProposalForwarding {
			return &NotLeaderError{Leader: c.lead}
		}
		ents := make([]raftpb.Entry, len(data))
		for i, d := range data {
			ents[i] = raftpb.Entry{Type: raftpb.EntryNormal, Data: d}
		}
		c.send(raftpb.Message{Type: raftpb.MsgProp, To: c.lead, Entries: ents})
		return nil
	}
	var size uint64
	for _, d := range data {
		size += uint64(len(d))
	}
	if err := c.admit(size); err != nil {
		return err
	}
	idx := c.log.lastIndex()
	for _, d := range data {
		idx++
		c.log.appendOne(raftpb.Entry{Term: c.term, Index: idx, Type: raftpb.EntryNormal, Data: d})
	}
	c.uncommittedBytes += size
	c.afterLeaderAppend()
	return nil
}

// admit applies the leader's proposal gates: no proposals during a
// leadership transfer (thesis §3.10), and at most MaxUncommittedBytes of
// uncommitted payload (one proposal is always admitted into an empty
// budget, so an oversized one cannot wedge the leader).
func (c *Core) admit(size uint64) error {
	if c.leadTransferee != 0 {
		return ErrTransferInProgress
	}
	if c.uncommittedBytes > 0 && c.uncommittedBytes+size > c.cfg.MaxUncommittedBytes {
		return ErrProposalBackpressure
	}
	return nil
}

// propose appends forwarded entries (MsgProp) on the leader.
func (c *Core) propose(ents []raftpb.Entry) error {
	var size uint64
	for i := range ents {
		if ents[i].Type != raftpb.EntryNormal || len(ents[i].Data) == 0 { // no conf changes by MsgProp
			return ErrEmptyProposal
		}
		size += uint64(len(ents[i].Data))
	}
	if len(ents) == 0 {
		return ErrEmptyProposal
	}
	if err := c.admit(size); err != nil {
		return err
	}
	idx := c.log.lastIndex()
	for i := range ents {
		idx++
		c.log.appendOne(raftpb.Entry{Term: c.term, Index: idx, Type: raftpb.EntryNormal, Data: ents[i].Data})
	}
	c.uncommittedBytes += size
	c.afterLeaderAppend()
	return nil
}

// afterLeaderAppend commits at once in a single-voter cluster whose log
// is already persisted (nothing to do otherwise: MsgApps are built in
// Ready, so every proposal until then shares one per follower).
func (c *Core) afterLeaderAppend() {
	if len(c.peers) == 0 {
		c.maybeCommit()
	}
}

// handleAppend is the follower side of AppendEntries (§5.3, Figure 2).
func (c *Core) handleAppend(m raftpb.Message) {
	if m.Index < c.log.committed {
		// Everything up to our commit index already matches the leader.
		c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: c.log.committed})
		return
	}
	if !c.log.matchTerm(m.Index, m.LogTerm) {
		// Reject with a hint: the last index at or below the probe whose
		// term is <= the leader's term there, so the leader can skip a
		// whole conflicting term at once (§5.3, fast backtracking).
		hint, hintTerm := c.log.findConflictByTerm(min(m.Index, c.log.lastIndex()), m.LogTerm)
		c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: m.Index, Reject: true,
			RejectHint: hint, LogTerm: hintTerm})
		return
	}
	lastNew := m.Index + uint64(len(m.Entries))
	c.appendFromLeader(m.Entries)
	if bugsBuild && c.bug(BugTruncateMatchingEntries) {
		c.log.truncateAfter(max(lastNew, c.log.committed))
	}
	c.log.commitTo(min(m.Commit, lastNew))
	c.ack(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From, Index: lastNew})
}

// ack queues an append response. It promises durability of what it
// acknowledges, so it leaves only after this Ready is persisted.
func (c *Core) ack(m raftpb.Message) {
	if bugsBuild && c.bug(BugAckBeforePersist) {
		c.send(m)
		return
	}
	c.sendAfterPersist(m)
}

// appendFromLeader adds the entries the follower does not have yet. An
// existing entry that matches is kept, the first conflicting one and all
// that follow it are replaced (§5.3 step 3: "if an existing entry
// conflicts with a new one ... delete the existing entry and all that
// follow it").
func (c *Core) appendFromLeader(ents []raftpb.Entry) {
	last := c.log.lastIndex()
	for i := range ents {
		e := &ents[i]
		if e.Index <= c.log.offset {
			continue
		}
		if e.Index <= last {
			if t, _ := c.log.term(e.Index); t == e.Term {
				continue
			}
		}
		truncated := ents[i].Index <= last
		c.log.truncateAndAppend(ents[i:])
		if truncated && len(c.confIndexes) > 0 && c.confIndexes[len(c.confIndexes)-1] >= ents[i].Index {
			c.recomputeConf() // an uncommitted change was replaced
		}
		c.onConfEntries(ents[i:])
		return
	}
}

// handleHeartbeat learns the commit index (at most what the leader knows
// we match) and answers, echoing the ReadIndex context.
//
// m.Index is the last index the leader had sent us before this heartbeat.
// If our log ends below it, a MsgApp was lost (or overtook by reordering)
// and we say so with Reject, so a pipelining leader that has nothing new
// to send does not leave us behind forever.
func (c *Core) handleHeartbeat(m raftpb.Message) {
	c.log.commitTo(min(m.Commit, c.log.lastIndex()))
	last := c.log.lastIndex()
	c.send(raftpb.Message{Type: raftpb.MsgHeartbeatResp, To: m.From, Context: m.Context,
		Index: last, Reject: last < m.Index})
}

// handleAppendResponse is the leader side of §5.3: advance match on
// success, back off with the follower's hint on rejection.
func (c *Core) handleAppendResponse(m raftpb.Message, f *follower) {
	pr := f.pr
	if m.Reject {
		hint := m.RejectHint
		if m.LogTerm > 0 {
			hint, _ = c.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.MaybeDecrTo(m.Index, hint) && pr.State == tracker.StateReplicate {
			pr.BecomeProbe() // pipelining falls back to probing
		}
		return
	}
	updated := pr.MaybeUpdate(m.Index)
	switch {
	case pr.State == tracker.StateReplicate:
		pr.Inflight.FreeLE(m.Index)
	case pr.State == tracker.StateSnapshot && pr.Match >= pr.PendingSnapshot:
		pr.BecomeReplicate()
	case pr.State == tracker.StateProbe && updated:
		pr.BecomeReplicate()
	}
	if updated {
		c.maybeCommit()
	}
	if updated && m.From == c.leadTransferee && pr.Match == c.log.lastIndex() {
		c.send(raftpb.Message{Type: raftpb.MsgTimeoutNow, To: m.From})
	}
}

func (c *Core) handleHeartbeatResponse(m raftpb.Message, f *follower) {
	f.pr.ProbeSent = false // a live follower: probe again if needed
	if m.Reject && f.pr.State == tracker.StateReplicate && m.Index < f.pr.Next-1 {
		f.pr.BecomeProbe() // entries sent before the heartbeat were lost
	}
	if seq, ok := decodeReadSeq(m.Context); ok && seq > f.readAck {
		f.readAck = seq
		c.advanceReads()
	}
}

// matchOf is the commit-quorum view of id's log: the leader counts
// itself only up to what it has persisted (thesis §10.2.1).
func (c *Core) matchOf(id uint64) uint64 {
	if id == c.id {
		return c.log.persisted
	}
	return c.prs[id].pr.Match
}

// maybeCommit advances the commit index to what a quorum has persisted,
// but only through an entry of the current term: older entries commit
// with it, never by counting replicas (§5.4.2, Figure 8).
func (c *Core) maybeCommit() bool {
	idx := c.committedIndex(c.matchOf)
	if idx <= c.log.committed {
		return false
	}
	t, _ := c.log.term(idx)
	if t != c.term && !(bugsBuild && c.bug(BugCommitPriorTermByCount)) {
		return false
	}
	old := c.log.committed
	c.log.commitTo(idx)
	c.releaseUncommitted(old, idx)
	c.reads.commitInTerm(c)
	c.stepDownIfRemoved()
	c.maybeAutoLeave()
	return true
}

// releaseUncommitted returns the payload of entries (old, idx] to the
// backpressure budget.
func (c *Core) releaseUncommitted(old, idx uint64) {
	var n uint64
	for i := max(old, c.log.offset) + 1; i <= idx; i++ {
		n += uint64(len(c.log.at(i).Data))
	}
	c.uncommittedBytes -= min(n, c.uncommittedBytes)
}

// bcastHeartbeat sends a heartbeat to every peer carrying the commit
// index it is known to match, so a follower never commits entries it may
// not have (§5.3), and the latest ReadIndex round.
func (c *Core) bcastHeartbeat() {
	ctx := c.heartbeatContext()
	for _, id := range c.peers {
		f := c.prs[id]
		c.send(raftpb.Message{Type: raftpb.MsgHeartbeat, To: id, Index: f.pr.Next - 1,
			Commit: min(f.pr.Match, c.log.committed), Context: ctx})
	}
	c.reads.broadcastDue = false
}

// sendAppends builds the MsgApps for every peer (called from Ready).
func (c *Core) sendAppends() {
	for _, id := range c.peers {
		c.sendAppend(id, c.prs[id])
	}
}

// wantsAppend reports whether sendAppend would send something to f.
func (c *Core) wantsAppend(f *follower) bool {
	pr := f.pr
	if pr.IsPaused() {
		return false
	}
	if pr.Next <= c.log.offset && c.snapshotIndex() < c.log.offset {
		return false // it needs a fresher snapshot than the latest (SnapshotWanted)
	}
	last := c.log.lastIndex()
	if pr.State == tracker.StateProbe {
		return pr.Match < last || c.commitDue(f)
	}
	return pr.Next <= last || (pr.Match == last && c.commitDue(f))
}

// commitDue reports whether f, which has every entry, should get a
// message carrying nothing but the commit index: when it has not been
// told the latest one and, with Config.LazyCommit, only while it waits
// for an index it has not been told is committed (otherwise the next
// entries or heartbeat carry it).
func (c *Core) commitDue(f *follower) bool {
	if f.sentCommit >= c.log.committed {
		return false
	}
	return !c.cfg.LazyCommit || f.commitWanted > f.sentCommit
}

// sendAppend streams MsgApps to one peer: one probe in probe state; in
// replicate state as many messages (each at most MaxMsgBytes) as the
// in-flight window allows (pipelining); a snapshot if the entries it
// needs were compacted away (§7).
func (c *Core) sendAppend(id uint64, f *follower) {
	pr := f.pr
	for c.wantsAppend(f) {
		if pr.Next <= c.log.offset {
			c.sendSnapshot(id, f)
			return
		}
		prev := pr.Next - 1
		prevTerm, _ := c.log.term(prev)
		var ents []raftpb.Entry
		var size uint64
		if pr.Next <= c.log.lastIndex() {
			ents, size = c.log.slice(pr.Next, c.log.lastIndex()+1, c.cfg.MaxMsgBytes)
		}
		c.send(raftpb.Message{Type: raftpb.MsgApp, To: id, Index: prev, LogTerm: prevTerm,
			Entries: ents, Commit: c.log.committed})
		f.sentCommit = c.log.committed
		if len(ents) > 0 {
			pr.SentEntries(ents[len(ents)-1].Index, size, len(ents))
		} else {
			pr.SentEntries(prev, 0, 0)
		}
		if pr.State != tracker.StateReplicate {
			return
		}
	}
}

func (c *Core) sendSnapshot(id uint64, f *follower) {
	c.send(raftpb.Message{Type: raftpb.MsgSnap, To: id, Snapshot: c.snapshot})
	f.pr.BecomeSnapshot(c.snapshot.Meta.Index)
	f.sentCommit = c.log.committed
}

// TransferLeadership hands leadership to the voter to (thesis §3.10): the
// leader stops accepting proposals, brings to up to date and sends it
// MsgTimeoutNow. It is aborted after an election timeout. On a follower,
// only a transfer to itself can be requested (forwarded to the leader).
func (c *Core) TransferLeadership(to uint64) error {
	if c.role != Leader {
		if to == c.id && c.lead != 0 {
			c.send(raftpb.Message{Type: raftpb.MsgTransferLeader, To: c.lead})
			return nil
		}
		return &NotLeaderError{Leader: c.lead}
	}
	return c.transferTo(to)
}

func (c *Core) transferTo(to uint64) error {
	switch {
	case !c.isVoter(to):
		return fmt.Errorf("%w: transfer target %d", ErrUnknownPeer, to)
	case to == c.id || to == c.leadTransferee:
		return nil
	}
	c.leadTransferee = to
	c.reads.giveUpLease() // its MsgTimeoutNow overrides the voters' leases
	c.electionElapsed = 0 // the abort deadline is one election timeout from now
	if c.prs[to].pr.Match == c.log.lastIndex() {
		c.send(raftpb.Message{Type: raftpb.MsgTimeoutNow, To: to})
	}
	return nil
}
