package engine

import (
	"encoding/binary"
	"errors"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// MaxPendingReads bounds the ReadIndex requests a leader holds while it
// waits for its first commit of the term or for a quorum round.
const MaxPendingReads = 1 << 16

// ErrTooManyPendingReads: more than MaxPendingReads reads are waiting.
var ErrTooManyPendingReads = errors.New("engine: too many pending ReadIndex requests")

// readRequest is one ReadIndex waiting on the leader.
type readRequest struct {
	from  uint64 // requesting node; the leader itself for local reads
	ctx   []byte
	index uint64 // commit index recorded when the round started
	seq   uint64 // the heartbeat round that must be confirmed by a quorum
}

// readIndexState implements thesis §6.4 on the leader. Each read is
// stamped with a round number; heartbeats carry the latest round in
// their Context and followers echo it. A read is confirmed once a quorum
// has echoed a round >= its own: those answers were sent after the read
// was registered, so leadership held when it was. Rounds restart with
// every term (reset), so answers to a deposed leader never count.
type readIndexState struct {
	waitingCommit []readRequest // before the leader committed in its term
	pending       []readRequest // waiting for their round's quorum
	seq           uint64        // latest round
	broadcastDue  bool          // a round started since the last heartbeat
}

func (r *readIndexState) reset() {
	r.waitingCommit, r.pending, r.broadcastDue = nil, nil, false
	// seq keeps counting across terms: followers' readAck are reset
	// with the follower map, and a stale echo is harmless either way.
}

// heartbeatContext returns the round to advertise, nil if no read waits.
func (r *readIndexState) heartbeatContext() []byte {
	if len(r.pending) == 0 {
		return nil
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), r.seq)
}

func decodeReadSeq(ctx []byte) (uint64, bool) {
	if len(ctx) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx), true
}

// ReadIndex requests a linearizable read point for ctx (thesis §6.4). The
// answer arrives as a ReadState with the same Context in a later Ready
// (at once for a single-voter leader). A follower asks its leader; with
// no known leader it returns *NotLeaderError. ctx should be unique per
// request; the core does not interpret it.
func (c *Core) ReadIndex(ctx []byte) error {
	if c.role != Leader {
		if c.lead == 0 {
			return &NotLeaderError{}
		}
		c.send(raftpb.Message{Type: raftpb.MsgReadIndex, To: c.lead, Context: ctx})
		return nil
	}
	return c.leaderRead(readRequest{from: c.id, ctx: ctx})
}

func (c *Core) leaderRead(req readRequest) error {
	r := &c.reads
	switch {
	case bugsBuild && c.bug(BugReadIndexWithoutQuorum):
		c.answerRead(req, c.log.committed)
		return nil
	case len(r.waitingCommit)+len(r.pending) >= MaxPendingReads:
		return ErrTooManyPendingReads
	case !c.committedInTerm():
		// Until the no-op of its term commits, a new leader does not know
		// the latest commit index (thesis §6.4 step 1). That holds for a
		// single voter too: after a restart its commit index is only what
		// the hard state last saved, below entries it acknowledged.
		r.waitingCommit = append(r.waitingCommit, req)
		return nil
	}
	c.startRead(req)
	return nil
}

func (c *Core) committedInTerm() bool {
	t, _ := c.log.term(c.log.committed)
	return t == c.term
}

// startRead records the commit index and joins the next heartbeat round,
// which Ready sends (one round serves every read since the last one).
// Alone, a leader that has committed in its term knows the cluster's
// commit index: no round is needed.
func (c *Core) startRead(req readRequest) {
	if c.singleVoter() {
		c.answerRead(req, c.log.committed)
		return
	}
	r := &c.reads
	if !r.broadcastDue {
		r.seq++
		r.broadcastDue = true
	}
	req.index, req.seq = c.log.committed, r.seq
	r.pending = append(r.pending, req)
}

// commitInTerm starts the reads that waited for the first commit of the
// term.
func (r *readIndexState) commitInTerm(c *Core) {
	if len(r.waitingCommit) == 0 || !c.committedInTerm() {
		return
	}
	for _, req := range r.waitingCommit {
		c.startRead(req)
	}
	r.waitingCommit = nil
}

// advanceReads answers every read whose round a quorum has confirmed.
func (c *Core) advanceReads() {
	r := &c.reads
	confirmed := c.committedIndex(func(id uint64) uint64 {
		if id == c.id {
			return r.seq
		}
		return c.prs[id].readAck
	})
	n := 0
	for n < len(r.pending) && r.pending[n].seq <= confirmed {
		c.answerRead(r.pending[n], r.pending[n].index)
		n++
	}
	if n > 0 {
		// Shift in place: a fresh slice per confirmed round was the
		// leader's largest allocation under read load.
		k := copy(r.pending, r.pending[n:])
		clear(r.pending[k:])
		r.pending = r.pending[:k]
	}
}

func (c *Core) answerRead(req readRequest, index uint64) {
	if req.from == c.id {
		c.readStates = append(c.readStates, ReadState{Index: index, Context: req.ctx})
		return
	}
	c.send(raftpb.Message{Type: raftpb.MsgReadIndexResp, To: req.from, Index: index, Context: req.ctx})
}
