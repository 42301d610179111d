package engine

import (
	"bytes"

	"github.com/raftbench/raftbench/engine/quorum"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// campaignTransfer marks a MsgVote sent because of MsgTimeoutNow: voters
// must not ignore it because they recently heard from the leader (thesis
// §3.10, §4.2.3).
var campaignTransfer = []byte("raftbench/transfer")

// Tick advances the logical clock by one tick.
func (c *Core) Tick() {
	c.reads.now++
	if c.role == Leader {
		c.tickLeader()
	} else {
		c.tickElection()
	}
	c.check()
}

// tickElection starts an election when no leader has been heard from for
// the randomized timeout (§5.2).
func (c *Core) tickElection() {
	c.electionElapsed++
	if c.electionElapsed >= c.randomizedElectionTimeout && c.promotable() {
		c.electionElapsed = 0
		c.campaign(false)
	}
}

// promotable reports whether this node may stand for election: it is a
// voter in its latest configuration, or the entry removing it is not yet
// committed. Thesis §4.1: "a server that is not part of its own latest
// configuration should still start new elections, as it might still be
// needed until the C_new entry is committed" — its log may be the only
// up-to-date one a majority of C_new would vote for. It does not count
// its own vote then (tallyVotes counts only the latest configuration's
// voters). Once it knows its removal committed it stays quiet, so a
// removed server does not keep raising terms.
func (c *Core) promotable() bool {
	if c.isVoter(c.id) {
		return true
	}
	// A node whose own removal is still uncommitted (as far as it knows)
	// may be needed by the old configuration's quorum to commit it, so it
	// still campaigns; one the latest configuration names a learner does
	// not: it is a member that must never lead or be counted.
	return !c.conf.IsLearner(c.id) && c.confAt(c.log.committed).IsVoter(c.id)
}

// tickLeader sends heartbeats, enforces check-quorum (thesis §6.2) and
// aborts a leadership transfer that took longer than an election timeout
// (thesis §3.10).
func (c *Core) tickLeader() {
	c.heartbeatElapsed++
	c.electionElapsed++
	if c.electionElapsed >= c.cfg.ElectionTicks {
		c.electionElapsed = 0
		if c.cfg.CheckQuorum && !c.quorumActive() {
			c.becomeFollower(c.term, 0)
			return
		}
		c.leadTransferee = 0
	}
	for _, id := range c.peers {
		pr := c.prs[id].pr
		if pr.State == tracker.StateSnapshot {
			// A lost MsgSnap must not stall the follower forever: after an
			// election timeout without an ack, probe (and so resend) again.
			if pr.SnapshotTicks++; pr.SnapshotTicks >= c.cfg.ElectionTicks {
				pr.BecomeProbe()
			}
		}
	}
	if c.heartbeatElapsed >= c.cfg.HeartbeatTicks {
		c.heartbeatElapsed = 0
		c.bcastHeartbeat()
	}
}

// quorumActive reports whether a quorum (counting the leader) was heard
// from since the last check, and starts a new check period.
func (c *Core) quorumActive() bool {
	res := c.tally(func(id uint64) (bool, bool) {
		if id == c.id {
			return true, true
		}
		f := c.prs[id]
		return f.pr.RecentActive, true
	})
	for _, id := range c.peers {
		c.prs[id].pr.RecentActive = false
	}
	return res == quorum.VoteWon
}

func (c *Core) resetTerm(term uint64) {
	if term != c.term {
		c.term = term
		c.vote = 0
	}
	c.lead = 0
	c.electionElapsed = 0
	c.heartbeatElapsed = 0
	c.randomizedElectionTimeout = c.cfg.ElectionTicks + c.rng.intn(c.cfg.ElectionTicks)
	c.leadTransferee = 0
	c.votes = nil
	c.uncommittedBytes = 0
	c.reads.reset()
}

func (c *Core) becomeFollower(term, lead uint64) {
	c.resetTerm(term)
	c.role = Follower
	c.lead = lead
	c.prs = nil
}

// campaign starts a pre-vote (thesis §9.6) or, when pre-vote is off or
// the campaign follows MsgTimeoutNow, a real election (§5.2).
func (c *Core) campaign(transfer bool) {
	if c.cfg.PreVote && !transfer {
		c.becomePreCandidate()
	} else {
		c.becomeCandidate(transfer)
	}
}

// becomePreCandidate asks whether peers would vote for us at term+1
// without changing anyone's term, so a node that was cut off cannot
// disrupt a healthy leader when it returns (thesis §9.6).
func (c *Core) becomePreCandidate() {
	c.resetTerm(c.term) // keeps term and vote
	c.role = PreCandidate
	c.votes = map[uint64]bool{c.id: true}
	if c.tallyVotes() == quorum.VoteWon {
		c.becomeCandidate(false)
		return
	}
	for _, id := range c.voters {
		if id == c.id {
			continue
		}
		c.send(raftpb.Message{Type: raftpb.MsgPreVote, To: id, Term: c.term + 1,
			Index: c.log.lastIndex(), LogTerm: c.log.lastTerm()})
	}
}

// becomeCandidate increments the term and votes for itself (§5.2). The
// vote requests go out only after term and vote are durable
// (MessagesAfterPersist): that is what makes counting our own vote at
// once safe — no grant can come back before our vote is on disk.
func (c *Core) becomeCandidate(transfer bool) {
	c.resetTerm(c.term + 1)
	c.role = Candidate
	c.vote = c.id
	c.votes = map[uint64]bool{c.id: true}
	if c.tallyVotes() == quorum.VoteWon {
		c.becomeLeader()
		return
	}
	var ctx []byte
	if transfer {
		ctx = campaignTransfer
	}
	for _, id := range c.voters {
		if id == c.id {
			continue
		}
		c.sendAfterPersist(raftpb.Message{Type: raftpb.MsgVote, To: id,
			Index: c.log.lastIndex(), LogTerm: c.log.lastTerm(), Context: ctx})
	}
}

// becomeLeader resets every follower to probe just after our last entry
// and appends the no-op entry of the new term, which lets the leader
// commit (and so learn the commit index of) earlier terms (§5.4.2,
// thesis §6.4).
func (c *Core) becomeLeader() {
	c.resetTerm(c.term)
	c.role = Leader
	c.lead = c.id
	c.prs = make(map[uint64]*follower, len(c.peers))
	next := c.log.lastIndex() + 1
	for _, id := range c.peers {
		pr := tracker.NewProgress(next, c.cfg.MaxInflightMsgs, c.cfg.MaxInflightBytes)
		pr.RecentActive = true // a fresh leader gets a full period before check-quorum
		c.prs[id] = &follower{pr: pr}
	}
	c.log.append(raftpb.Entry{Term: c.term, Index: next, Type: raftpb.EntryNoop})
	// Entries of earlier terms may hold an uncommitted membership change:
	// allow the next one only after this term's first commit (§4.1; the
	// single-server change bug, Ongaro 2015).
	if !(bugsBuild && c.bug(BugConfChangeBeforeTermCommit)) {
		c.pendingConf = next
	}
	c.maybeCommit()
}

func (c *Core) tallyVotes() quorum.VoteResult {
	return c.tally(func(id uint64) (bool, bool) {
		g, ok := c.votes[id]
		return g, ok
	})
}

// inLease reports whether we heard from a leader within the election
// timeout. With check-quorum on, such a node ignores vote requests from
// higher terms, so a disruptive server cannot depose a live leader
// (thesis §4.2.3).
//
// With lease reads, a node also counts as in lease for its first
// election timeout after starting: it may have answered a leader's round
// just before it crashed, and that leader's lease (thesis §6.4.1) relies
// on it not voting for anyone else until an election timeout after that
// answer. A restarted node has forgotten when it last heard from the
// leader, so it waits a full timeout from its start.
func (c *Core) inLease() bool {
	if c.cfg.LeaseReads && c.reads.now < uint64(c.cfg.ElectionTicks) {
		return true
	}
	return c.lead != 0 && c.electionElapsed < c.cfg.ElectionTicks
}

// handleVoteRequest decides MsgVote and MsgPreVote (§5.2, §5.4.1, thesis
// §9.6). m.Term >= c.term here: lower terms were answered in Step.
func (c *Core) handleVoteRequest(m raftpb.Message) {
	pre := m.Type == raftpb.MsgPreVote
	canVote := c.vote == m.From || (c.vote == 0 && c.lead == 0) || (pre && m.Term > c.term)
	if pre && c.inLease() {
		// §9.6: grant a pre-vote only if no leader was heard from for an
		// election timeout.
		canVote = false
	}
	upToDate := c.log.isUpToDate(m.Index, m.LogTerm)
	if bugsBuild && c.bug(BugVoteIgnoresLog) {
		upToDate = true
	}
	grant := canVote && upToDate
	switch {
	case pre && grant:
		// Answer at the requested term so the pre-candidate counts it;
		// our own term does not change.
		c.send(raftpb.Message{Type: raftpb.MsgPreVoteResp, To: m.From, Term: m.Term})
	case pre:
		c.send(raftpb.Message{Type: raftpb.MsgPreVoteResp, To: m.From, Reject: true})
	case grant:
		c.vote = m.From
		c.electionElapsed = 0
		c.sendAfterPersist(raftpb.Message{Type: raftpb.MsgVoteResp, To: m.From})
	default:
		c.sendAfterPersist(raftpb.Message{Type: raftpb.MsgVoteResp, To: m.From, Reject: true})
	}
}

// stepCandidate handles messages in PreCandidate and Candidate roles.
func (c *Core) stepCandidate(m raftpb.Message) {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		// A leader exists in our term (§5.2: "if AppendEntries RPC received
		// from new leader: convert to follower").
		c.becomeFollower(m.Term, m.From)
		c.stepFollower(m)
	case raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		if (m.Type == raftpb.MsgVoteResp) != (c.role == Candidate) || !c.isVoter(m.From) {
			return // answer to an earlier phase, or from outside our configuration
		}
		c.votes[m.From] = !m.Reject
		switch c.tallyVotes() {
		case quorum.VoteWon:
			if c.role == PreCandidate {
				c.becomeCandidate(false)
			} else {
				c.becomeLeader()
			}
		case quorum.VoteLost:
			c.becomeFollower(c.term, 0)
		}
	}
}

// isTransferVote reports whether m is a vote request caused by a
// leadership transfer.
func isTransferVote(m *raftpb.Message) bool {
	return m.Type == raftpb.MsgVote && bytes.Equal(m.Context, campaignTransfer)
}
