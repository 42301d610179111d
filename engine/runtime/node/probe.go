package node

import (
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Stage is a point on one write's way through a node, reported to a
// Probe. The stages of one index across the leader and its followers are
// its critical path: queued, proposed and handed on the leader (its
// MsgApps leave at handing), received, stepped, handed and durable on
// each follower (its ack leaves at durable), the acks received and
// stepped on the leader, committed, and returned to the client.
type Stage uint8

const (
	// StageQueued: a client's proposal entered the node's queue (the
	// time Propose was called; per index, on the leader).
	StageQueued Stage = iota
	// StageProposed: the loop proposed it to the core (leader).
	StageProposed
	// StageHanded: the loop took the Ready carrying it and handed it to
	// the driver, which sends its messages first and then submits the WAL
	// write (the time is taken before both).
	StageHanded
	// StageDurable: the WAL write carrying it completed (flusher
	// goroutine; a follower's ack leaves right after).
	StageDurable
	// StageReleased: the loop reported that write to the core as
	// persisted (on a leader, its own vote towards the commit).
	StageReleased
	// StageReceived: a MsgApp carrying it entered the inbox (follower).
	StageReceived
	// StageStepped: the loop stepped that MsgApp (follower).
	StageStepped
	// StageAckReceived: an ack covering it entered the leader's inbox;
	// reported with the node set to the follower that sent it.
	StageAckReceived
	// StageAckStepped: the leader's loop stepped that ack; node is the
	// follower.
	StageAckStepped
	// StageCommitted: the loop took a Ready whose commit index covers it.
	StageCommitted
	// StageAnswered: the apply goroutine handed the proposal's result to
	// its waiting client (per index, on the node it was proposed to).
	StageAnswered
	// StageReturned: Propose returned its result to the client (per
	// index, on the node it was proposed to).
	StageReturned
	// NumStages counts the stages.
	NumStages
)

var stageNames = [NumStages]string{"queued", "proposed", "handed", "durable", "released", "received",
	"stepped", "ack-received", "ack-stepped", "committed", "answered", "returned"}

func (s Stage) String() string {
	if s < NumStages {
		return stageNames[s]
	}
	return "stage?"
}

// Probe receives the time each index reached each Stage on each node:
// an opt-in tracing hook for attributing one write's latency to the
// hops between goroutines and replicas (Config.Probe; nil, the default,
// costs one nil check per site). Mark is called from the loop, the WAL's
// flusher, the transport's delivery, the apply goroutine and client
// goroutines concurrently, and must not block. For StageQueued,
// StageAnswered and StageReturned first == last, the index of one
// proposal; for every other stage first is 0 and the
// stage now covers every index up to last (the probe keeps the first
// time it saw each index).
type Probe interface {
	Mark(node uint64, stage Stage, first, last uint64, at time.Time)
}

// ReadStage is a point on one ReadIndex round's way through the node that
// serves it, reported to a Probe that also implements ReadProbe. A round
// is every read the loop drained in one turn (they share one ReadIndex);
// round numbers count per node from 1.
type ReadStage uint8

const (
	// ReadQueued: the round's oldest read entered the node's queue (the
	// time Read was called).
	ReadQueued ReadStage = iota
	// ReadIssued: the loop asked the core for the round's read index;
	// the heartbeat round leaves with the Ready the loop takes next in
	// the same turn.
	ReadIssued
	// ReadConfirmed: the loop took the Ready carrying the round's read
	// state (a quorum answered the heartbeat round) and handed it to the
	// apply goroutine.
	ReadConfirmed
	// ReadServed: the apply goroutine answered the round's reads (applied
	// had reached their read index).
	ReadServed
	// ReadReturned: Read returned the answer to its client (the first of
	// the round's reads to return).
	ReadReturned
	// NumReadStages counts the read stages.
	NumReadStages
)

var readStageNames = [NumReadStages]string{"queued", "issued", "confirmed", "served", "returned"}

func (s ReadStage) String() string {
	if s < NumReadStages {
		return readStageNames[s]
	}
	return "read-stage?"
}

// ReadProbe is what a Probe also implements to receive the stages of
// each ReadIndex round (the node checks for it once, at Start): what a
// read waits for, hop by hop. Like Mark, MarkRead is called from the
// loop, the apply goroutine and client goroutines concurrently and must
// not block.
type ReadProbe interface {
	MarkRead(node, round uint64, stage ReadStage, at time.Time)
}

// probeReadIssued reports a round the loop just sent to the core (loop
// goroutine) and tags its reads' waiters with it, for the apply
// goroutine's ReadServed and the clients' ReadReturned.
func (n *Node) probeReadIssued(p ReadProbe, round uint64, reads []readReq) {
	now := time.Now()
	oldest := now
	for _, r := range reads {
		if !r.w.start.IsZero() && r.w.start.Before(oldest) {
			oldest = r.w.start
		}
		r.w.probeIndex.Store(round)
	}
	p.MarkRead(n.cfg.ID, round, ReadQueued, oldest)
	p.MarkRead(n.cfg.ID, round, ReadIssued, now)
}

// probeMessage reports an inbound MsgApp (follower) or MsgAppResp
// (leader) at stage s (received or stepped).
func (n *Node) probeMessage(p Probe, m *raftpb.Message, stepped bool) {
	switch {
	case m.Type == raftpb.MsgApp && len(m.Entries) > 0:
		s := StageReceived
		if stepped {
			s = StageStepped
		}
		p.Mark(n.cfg.ID, s, 0, m.Entries[len(m.Entries)-1].Index, time.Now())
	case m.Type == raftpb.MsgAppResp && !m.Reject:
		s := StageAckReceived
		if stepped {
			s = StageAckStepped
		}
		p.Mark(m.From, s, 0, m.Index, time.Now())
	}
}

// probeProposed reports the proposals a leader just appended (the last
// len(props) entries of its log): queued and proposed.
func (n *Node) probeProposed(p Probe, props []proposal) {
	now := time.Now()
	_, last := n.core.LogBounds()
	first := last + 1 - uint64(len(props))
	for i := range props {
		idx := first + uint64(i)
		if w := props[i].w; w != nil {
			w.probeIndex.Store(idx)
			if !w.start.IsZero() {
				p.Mark(n.cfg.ID, StageQueued, idx, idx, w.start)
			}
		}
	}
	p.Mark(n.cfg.ID, StageProposed, 0, last, now)
}

// probeDone wraps a WAL write's done callback to report StageDurable
// before the driver sends the acks that waited for it.
func (n *Node) probeDone(p Probe, last uint64, done func(error)) func(error) {
	return func(err error) {
		if err == nil {
			p.Mark(n.cfg.ID, StageDurable, 0, last, time.Now())
		}
		done(err)
	}
}

// probeWrites is owned by the loop goroutine: every WAL Submit counts
// one (the done callbacks complete in Submit order, each adding one to
// Node.durable), and those carrying entries remember their last index.
type probeWrites struct {
	submits uint64
	pending []probeWrite
}

type probeWrite struct{ seq, last uint64 }

// submitted records one Submit; last is 0 for a write without entries.
func (w *probeWrites) submitted(last uint64) {
	w.submits++
	if last != 0 {
		w.pending = append(w.pending, probeWrite{w.submits, last})
	}
}

// released returns the last index of the newest write among the first
// durable Submits not reported yet (0: none), and forgets them.
func (w *probeWrites) released(durable uint64) uint64 {
	var last uint64
	k := 0
	for k < len(w.pending) && w.pending[k].seq <= durable {
		last = w.pending[k].last
		k++
	}
	if k > 0 {
		w.pending = append(w.pending[:0], w.pending[k:]...)
	}
	return last
}
