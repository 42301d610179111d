package sim

import (
	"bytes"
	"errors"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// applyBatch runs the driver's applier on one Batch (the checker watches
// every entry through applyHooks), serves the reads the read queue
// releases, and takes a snapshot when the applier's policy says so.
func (s *Sim) applyBatch(n *simNode, b *driver.Batch) {
	if b.Snapshot != nil {
		s.stats.SnapsInstalled++
	}
	if err := n.ap.Apply(b, &n.hooks); err != nil {
		s.fail("safety", "state machine safety", "node %d: %v", n.id, err)
		return
	}
	if s.failure != nil {
		return
	}
	for _, r := range b.Reads {
		req := n.readWaiters[r.ID]
		if req == nil {
			continue
		}
		delete(n.readWaiters, r.ID)
		if req.readEvent == s.eventNo && len(n.core.Voters()) > 1 {
			s.stats.LeaseReads++
		}
		s.chk.onReadIndex(s, n, r.Index, req.committedAtRequest)
		n.reads.Add(r.Index, req)
	}
	if n.reads.Len() > 0 {
		applied := n.applied()
		n.reads.Servable(applied, func(index uint64, req *clientMsg) {
			if s.failure != nil {
				return
			}
			if applied < index {
				s.fail("safety", "read served after its index is applied",
					"node %d answered a read with read index %d at applied index %d (thesis §6.4)", n.id, index, applied)
				return
			}
			s.reply(n, req, replyOK, n.store.Query(req.cmd), index)
		})
	}
	if s.failure == nil && n.ap.SnapshotDue() {
		s.takeSnapshot(n)
	}
}

// applyHooks is the checker's view of one node's applier.
type applyHooks struct {
	s      *Sim
	n      *simNode
	first  bool             // the entry being applied is the first at its index anywhere
	before raftpb.ConfState // a conf entry's: the applied configuration it changes
}

// Applying: only committed entries are applied, in log order, and they
// are the log's and the same on every node.
func (h *applyHooks) Applying(e *raftpb.Entry) {
	s, n := h.s, h.n
	if s.failure != nil {
		return
	}
	if e.Index > n.commit {
		s.fail("safety", "apply only committed entries", "node %d applies %d/t%d beyond its commit index %d", n.id, e.Index, e.Term, n.commit)
		return
	}
	h.first = s.chk.onApply(s, n, *e)
	if h.first && e.Type == raftpb.EntryConfChange {
		h.before = n.ap.ConfState()
	}
}

// Applied answers the client waiting on this node, if any, and checks
// the resulting state against every other node's at that index.
func (h *applyHooks) Applied(r *driver.Result) {
	s, n := h.s, h.n
	if s.failure != nil {
		return
	}
	switch r.Kind {
	case driver.ConfChange:
		if h.first {
			s.stats.Membership.count(r.Conf, h.before, r.ConfState)
			if qa, qb, bad := disjointQuorums(h.before, r.ConfState); bad {
				s.fail("safety", "no two disjoint majorities", "committed change %v at index %d goes from %v to %v: quorums %v and %v share no node",
					r.Conf, r.Index, h.before, r.ConfState, qa, qb)
				return
			}
			s.tr.annotate("conf change committed: " + r.Conf.String() + " -> " + r.ConfState.String())
		}
	case driver.Malformed:
		s.fail("harness", "bad entry", "node %d index %d: %v", n.id, r.Index, r.Err)
		return
	case driver.Applied, driver.Duplicate:
		if r.Output != nil {
			s.answer(n, r)
		}
	}
	if s.failure == nil {
		s.chk.onState(s, n, r.Index, s.stateHash(n))
	}
}

// Settled answers the client of a blind command before its batch is
// applied (driver.SettleHooks); the checker sees the answer then, and the
// entry's application and state check still follow in Applied.
func (h *applyHooks) Settled(r *driver.Result) {
	if h.s.failure == nil {
		if h.s.answer(h.n, r) {
			h.s.stats.Settled++
		}
	}
}

// Restored: a snapshot installed or restored gives the state every node
// had at its index.
func (h *applyHooks) Restored(meta raftpb.SnapshotMeta) {
	if h.s.failure == nil {
		h.s.chk.onState(h.s, h.n, meta.Index, h.s.stateHash(h.n))
	}
}

// answer acknowledges a client command applied (or found applied) at r.
// It reports whether a client was waiting.
func (s *Sim) answer(n *simNode, r *driver.Result) bool {
	k := waitKey{client: int(r.Client - 1), seq: r.Seq}
	req := n.waiters[k]
	if req == nil {
		return false
	}
	delete(n.waiters, k)
	// Acknowledging: the entry must be durable on a quorum (§5.3
	// "committed").
	s.chk.onAck(s, n, r.Index, r.Term)
	if s.failure != nil {
		return true
	}
	s.reply(n, req, replyOK, r.Output, r.Index)
	return true
}

// stateHash is a digest of n's whole replicated state: the configuration
// in force, the session table and the KV store (what a snapshot holds).
func (s *Sim) stateHash(n *simNode) uint64 {
	b := n.hashBuf[:0]
	cs := n.ap.ConfState()
	for _, l := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners} {
		for _, v := range l {
			b = append(b, byte(v), byte(v>>8))
		}
		b = append(b, 0xff)
	}
	b = n.ap.AppendSessions(b)
	b = append(b, n.store.Snapshot()...)
	n.hashBuf = b
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// onClientRequest is a node receiving a client's request: reads go
// through ReadIndex, writes and cas are proposed (a follower forwards).
func (s *Sim) onClientRequest(n *simNode, req *clientMsg) {
	if req.isRead {
		n.readSeq++
		if err := n.drv.ReadIndex(n.readSeq); err != nil {
			s.reply(n, req, replyDefiniteFail, []byte(err.Error()), 0)
			return
		}
		req.committedAtRequest = s.chk.maxCommitted
		req.readEvent = s.eventNo
		n.readWaiters[n.readSeq] = req
	} else {
		data := driver.AppendHeader(make([]byte, 0, driver.HeaderLen+len(req.cmd)), uint64(req.client)+1, req.seq)
		err := n.core.Propose(append(data, req.cmd...))
		if err != nil {
			var nl *engine.NotLeaderError
			if !errors.As(err, &nl) && !errors.Is(err, engine.ErrProposalBackpressure) &&
				!errors.Is(err, engine.ErrTransferInProgress) {
				s.fail("harness", "propose", "node %d: unexpected error %v", n.id, err)
				return
			}
			s.reply(n, req, replyDefiniteFail, []byte(err.Error()), 0)
			return
		}
		n.waiters[waitKey{client: req.client, seq: req.seq}] = req
	}
	s.drive(n)
}

// takeSnapshot compacts n's log at its applied index (Raft §7) when the
// driver's policy says so: the applier captures sessions and the
// configuration in force, the KV store adds its state, the log saves it
// and drops the prefix, and Core.Compact lets the core send it to
// followers that fall behind.
func (s *Sim) takeSnapshot(n *simNode) {
	meta, sessions := n.ap.CaptureSnapshot()
	// The state as a running node streams it (the slab image), so every
	// install and every restart after a crash restores that encoding.
	data := bytes.NewBuffer(sessions)
	if _, err := n.store.Capture().WriteTo(data); err != nil {
		s.fail("harness", "snapshot", "node %d at %d: %v", n.id, meta.Index, err)
		return
	}
	snap := raftpb.Snapshot{Meta: meta, Data: data.Bytes()}
	st := &simStorage{s: s, n: n, inc: n.inc}
	if err := st.SaveSnapshot(snap); err != nil {
		s.fail("harness", "save snapshot", "node %d at %d: %v", n.id, meta.Index, err)
		return
	}
	if err := n.drv.Compact(snap); err != nil {
		s.fail("harness", "compact", "node %d: Compact(%d/t%d): %v", n.id, meta.Index, meta.Term, err)
		return
	}
	n.view.compact(meta.Index, meta.Term)
	s.stats.SnapsTaken++
	s.tr.annotate("snapshot n" + itoa(n.id) + " at " + itoa(meta.Index))
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
