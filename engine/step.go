package engine

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Step feeds one message from the network into the core. Messages from
// older terms are answered or dropped as the protocol says; a message not
// addressed to this node, with an invalid type, or without a valid
// sender is refused with an error and changes nothing.
//
// The sender need not be in this node's configuration: thesis §4.1,
// "servers process incoming RPC requests without consulting their
// current configurations". A node whose log lags behind a membership
// change must still accept the leader that change added (and vote for
// it), or it could never catch up. A leader ignores responses from peers
// it does not track, and a vote request from outside the configuration
// is held to a stricter term rule (stepHigherTerm).
func (c *Core) Step(m raftpb.Message) error {
	if !m.Type.Valid() || m.To != c.id || m.From == 0 || m.From == c.id {
		return fmt.Errorf("%w: %v", ErrStepWrongMessage, m)
	}
	if c.stepTerm(&m) {
		c.stepByRole(m)
	}
	c.check()
	return nil
}

// isRequestToLeader reports whether m is a term-independent request for
// the leader (forwarded proposals, reads, transfer requests).
func isRequestToLeader(t raftpb.MessageType) bool {
	return t == raftpb.MsgProp || t == raftpb.MsgReadIndex || t == raftpb.MsgTransferLeader
}

// stepTerm applies the term rules of §5.1 (a higher term converts us to
// follower, a lower one is stale) and reports whether m should be
// processed further.
func (c *Core) stepTerm(m *raftpb.Message) bool {
	switch {
	case isRequestToLeader(m.Type):
		return true
	case m.Term > c.term:
		return c.stepHigherTerm(m)
	case m.Term < c.term:
		c.stepLowerTerm(m)
		return false
	}
	return true
}

func (c *Core) stepHigherTerm(m *raftpb.Message) bool {
	if (m.Type == raftpb.MsgVote || m.Type == raftpb.MsgPreVote) && !isTransferVote(m) &&
		c.cfg.CheckQuorum && c.inLease() {
		// §4.2.3: a live leader was heard from recently; ignore the request
		// without adopting its term.
		return false
	}
	if m.Type == raftpb.MsgVote && !c.isVoter(m.From) && !c.log.isUpToDate(m.Index, m.LogTerm) {
		// Thesis §4.2.3: a server removed from the configuration (it may
		// never receive the entry that removed it) times out and asks for
		// votes at ever higher terms. We would refuse it for its log
		// anyway (§5.4.1); adopting its term would only depose our leader
		// again and again when neither pre-vote nor check-quorum guard
		// the cluster. Ignoring a request is always safe; a candidate
		// that could win (its log is up to date) is treated as usual.
		return false
	}
	switch {
	case m.Type == raftpb.MsgPreVote:
		// Pre-votes never change terms (§9.6).
	case m.Type == raftpb.MsgPreVoteResp && !m.Reject:
		// A pre-vote granted at term+1: counted by stepCandidate.
	case m.Type == raftpb.MsgApp || m.Type == raftpb.MsgHeartbeat || m.Type == raftpb.MsgSnap:
		c.becomeFollower(m.Term, m.From)
	default:
		c.becomeFollower(m.Term, 0)
	}
	return true
}

func (c *Core) stepLowerTerm(m *raftpb.Message) {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat:
		// A deposed leader: tell it our term so it steps down. Without
		// this, a leader cut off while others moved on (with pre-vote,
		// which does not raise terms on its side) could stay stuck.
		c.send(raftpb.Message{Type: raftpb.MsgAppResp, To: m.From})
	case raftpb.MsgPreVote:
		c.send(raftpb.Message{Type: raftpb.MsgPreVoteResp, To: m.From, Reject: true})
	}
}

func (c *Core) stepByRole(m raftpb.Message) {
	switch m.Type {
	case raftpb.MsgVote, raftpb.MsgPreVote:
		c.handleVoteRequest(m)
		return
	}
	switch c.role {
	case Leader:
		c.stepLeader(m)
	case Follower:
		c.stepFollower(m)
	default:
		c.stepCandidate(m)
	}
}

// assertSingleLeader enforces election safety as this node sees it (§5.2:
// at most one leader per term).
func (c *Core) assertSingleLeader(m raftpb.Message) {
	if c.lead != 0 && c.lead != m.From {
		panic(fmt.Sprintf("engine: node %d sees two leaders in term %d: %d and %d (%v)", c.id, c.term, c.lead, m.From, m))
	}
}

func (c *Core) stepFollower(m raftpb.Message) {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		c.assertSingleLeader(m)
		c.lead = m.From
		c.electionElapsed = 0
		switch m.Type {
		case raftpb.MsgApp:
			c.handleAppend(m)
		case raftpb.MsgHeartbeat:
			c.handleHeartbeat(m)
		default:
			c.handleSnapshot(m)
		}
	case raftpb.MsgProp:
		// Forward another follower's proposal (it had a stale leader).
		if c.lead != 0 && !c.cfg.DisableProposalForwarding {
			m.To = c.lead
			c.send(m)
		}
	case raftpb.MsgReadIndex:
		if c.lead != 0 {
			m.To = c.lead
			c.send(m)
		}
	case raftpb.MsgReadIndexResp:
		c.readStates = append(c.readStates, ReadState{Index: m.Index, Context: m.Context})
	case raftpb.MsgTimeoutNow:
		if c.promotable() {
			c.campaign(true)
		}
	}
}

func (c *Core) stepLeader(m raftpb.Message) {
	f := c.prs[m.From]
	if f != nil {
		f.pr.RecentActive = true
	}
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		c.assertSingleLeader(m)
	case raftpb.MsgAppResp, raftpb.MsgHeartbeatResp:
		if f == nil {
			// A peer we do not track (removed, or not yet added in our
			// log): its progress is none of our business.
			return
		}
		if m.Type == raftpb.MsgAppResp {
			c.handleAppendResponse(m, f)
		} else {
			c.handleHeartbeatResponse(m, f)
		}
	case raftpb.MsgProp:
		// Refusals are not reported to a remote proposer; its client times
		// out and retries, as for a lost message.
		if c.propose(m.Entries) == nil && f != nil {
			f.commitWanted = c.log.lastIndex() // its client waits for the commit
		}
	case raftpb.MsgReadIndex:
		c.leaderRead(readRequest{from: m.From, ctx: m.Context})
	case raftpb.MsgTransferLeader:
		_ = c.transferTo(m.From)
	}
}
