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
//
// With Config.LeaseReads the same rounds also carry the leader's lease
// (thesis §6.4.1): every heartbeat starts a round, the tick it was sent
// at is remembered, and once a quorum has echoed it the lease holds until
// that tick plus Config.LeaseTicks.
type readIndexState struct {
	waitingCommit []readRequest // before the leader committed in its term
	pending       []readRequest // waiting for their round's quorum
	seq           uint64        // latest round
	broadcastDue  bool          // a round started since the last heartbeat

	// now counts this core's ticks since New: the lease's clock (the
	// runtime's ticks, so the node's clock). It never resets.
	now uint64
	// Lease (LeaseReads only): rounds sent and not yet confirmed, oldest
	// first; the lease holds while now < leaseUntil, and only under the
	// configuration it was earned in (leaseConf) and while no
	// leadership transfer was started in this term.
	leaseTicks uint64 // Config.LeaseTicks
	rounds     []leaseRound
	leaseUntil uint64
	leaseConf  uint64
	leaseGone  bool
}

// leaseRound is a heartbeat round as the lease needs it: when it was sent
// and under which configuration (the index of the latest conf entry).
type leaseRound struct {
	seq, tick, conf uint64
}

func (r *readIndexState) reset() {
	r.waitingCommit, r.pending, r.broadcastDue = nil, nil, false
	// seq keeps counting across terms: followers' readAck are reset
	// with the follower map, and a stale echo is harmless either way.
	r.rounds, r.leaseUntil, r.leaseConf, r.leaseGone = r.rounds[:0], 0, 0, false
}

// heartbeatContext returns the round to advertise, nil if no read waits
// and no lease is kept. With leases every heartbeat is a round; its send
// tick is recorded (the lease counts from the send: a follower can only
// have received it later).
func (c *Core) heartbeatContext() []byte {
	r := &c.reads
	if c.cfg.LeaseReads {
		if !r.broadcastDue {
			r.seq++
		}
		// Rounds older than a lease can no longer extend it.
		lease := uint64(r.leaseTicks)
		n := 0
		for n < len(r.rounds) && r.rounds[n].tick+lease <= r.now {
			n++
		}
		if n > 0 {
			r.rounds = r.rounds[:copy(r.rounds, r.rounds[n:])]
		}
		r.rounds = append(r.rounds, leaseRound{seq: r.seq, tick: r.now, conf: c.pendingConf})
	} else if len(r.pending) == 0 {
		return nil
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), r.seq)
}

// ClockTicks tells the core that ticks whole ticks of the node's clock
// have passed since New. Lease reads count time in ticks; a driver whose
// Tick calls can fall behind its clock (a ticker that drops ticks while
// the node is stalled) must report the clock before handing the core
// reads, or a stalled leader's lease would outlast the followers'
// election timeouts in real time. Elections keep counting Tick calls: a
// node whose ticks fall behind only votes and campaigns later, which is
// safe. A value below what Tick already counted is ignored.
func (c *Core) ClockTicks(ticks uint64) {
	c.reads.now = max(c.reads.now, ticks)
}

// extendLease moves the lease to the latest round a quorum confirmed.
func (c *Core) extendLease(confirmed uint64) {
	r := &c.reads
	n := 0
	for n < len(r.rounds) && r.rounds[n].seq <= confirmed {
		n++
	}
	if n == 0 {
		return
	}
	latest := r.rounds[n-1]
	if until := latest.tick + uint64(r.leaseTicks); until > r.leaseUntil || latest.conf != r.leaseConf {
		r.leaseUntil, r.leaseConf = until, latest.conf
	}
	r.rounds = r.rounds[:copy(r.rounds, r.rounds[n:])]
}

// leaseHeld reports whether the leader may answer reads from its lease:
// a quorum confirmed a round sent less than LeaseTicks ago, under the
// current configuration, and no transfer was started in this term (a
// transfer's MsgTimeoutNow makes its target campaign at once, and voters
// grant it their vote even while they heard from us recently).
func (c *Core) leaseHeld() bool {
	r := &c.reads
	return c.cfg.LeaseReads && !r.leaseGone && r.now < r.leaseUntil && r.leaseConf == c.pendingConf
}

// giveUpLease ends the lease for the rest of the term (a leadership
// transfer is starting).
func (r *readIndexState) giveUpLease() { r.leaseGone = true }

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
	case c.leaseHeld():
		// Thesis §6.4.1: no other leader can exist while the lease holds,
		// so the commit index is the cluster's.
		c.answerRead(req, c.log.committed)
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
	if c.cfg.LeaseReads {
		c.extendLease(confirmed)
	}
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
	if f := c.prs[req.from]; f != nil {
		// It serves the read once it has applied index.
		f.commitWanted = max(f.commitWanted, index)
	}
}
