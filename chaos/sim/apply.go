package sim

import (
	"encoding/binary"
	"errors"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// applyEntry applies one committed entry on n (a client command, or a
// membership change to the state machine's voter list), answers the
// client waiting for it there, if any, and checks the resulting state
// against every other node's state at that index.
func (s *Sim) applyEntry(n *simNode, e raftpb.Entry) {
	if e.Index != n.applied+1 {
		s.fail("safety", "state machine safety", "node %d applied index %d after %d (out of order)", n.id, e.Index, n.applied)
		return
	}
	n.applied, n.appliedTerm = e.Index, e.Term
	first := s.chk.onApply(s, n, e)
	if s.failure != nil {
		return
	}
	switch e.Type {
	case raftpb.EntryNormal:
		s.applyClientEntry(n, e)
	case raftpb.EntryConfChange:
		cc, err := n.sm.applyConf(e.Data)
		if err != nil {
			s.fail("harness", "bad entry", "node %d index %d: %v", n.id, e.Index, err)
			return
		}
		if first {
			s.stats.ConfChangesApplied[cc.Type%3]++
			s.tr.annotate("conf change committed: " + confString(cc))
		}
	}
	if s.failure == nil {
		s.chk.onState(s, n, e.Index, n.sm.hash())
	}
}

func confString(cc engine.ConfChange) string {
	if cc.Type == engine.AddVoter {
		return "add n" + itoa(cc.Node)
	}
	return "remove n" + itoa(cc.Node)
}

// applyClientEntry applies a client command through the session layer.
func (s *Sim) applyClientEntry(n *simNode, e raftpb.Entry) {
	client, seq, sess, out, err := n.sm.apply(e.Index, e.Term, e.Data)
	if err != nil {
		s.fail("harness", "bad entry", "node %d index %d: %v", n.id, e.Index, err)
		return
	}
	if out == applyStale {
		return
	}
	k := waitKey{client: int(client), seq: seq}
	req := n.waiters[k]
	if req == nil {
		return
	}
	delete(n.waiters, k)
	// Acknowledging: the entry that took effect must be durable on a
	// quorum (§5.3 "committed"; DESIGN.md safety rules).
	s.chk.onAck(s, n, sess.index, sess.term)
	if s.failure != nil {
		return
	}
	s.reply(n, req, replyOK, sess.result, sess.index)
}

// readStates matches confirmed read indexes to the clients waiting.
func (s *Sim) readStates(n *simNode, rss []engine.ReadState) []pendingRead {
	var out []pendingRead
	for _, rs := range rss {
		req := n.readWaiters[string(rs.Context)]
		if req == nil {
			continue
		}
		delete(n.readWaiters, string(rs.Context))
		s.chk.onReadIndex(s, n, rs.Index, req.committedAtRequest)
		out = append(out, pendingRead{index: rs.Index, req: req})
	}
	return out
}

// serveReads answers every read whose index n has applied (thesis §6.4).
func (s *Sim) serveReads(n *simNode) {
	kept := n.reads[:0]
	for _, pr := range n.reads {
		if pr.index > n.applied {
			kept = append(kept, pr)
			continue
		}
		s.reply(n, pr.req, replyOK, n.sm.store.Query(pr.req.cmd), pr.index)
	}
	n.reads = kept
}

func readCtx(client int, seq uint64, attempt int) []byte {
	b := make([]byte, 0, 24)
	b = binary.LittleEndian.AppendUint64(b, uint64(client))
	b = binary.LittleEndian.AppendUint64(b, seq)
	return binary.LittleEndian.AppendUint64(b, uint64(attempt))
}

// onClientRequest is a node receiving a client's request: reads go
// through ReadIndex, writes and cas are proposed (a follower forwards).
func (s *Sim) onClientRequest(n *simNode, req *clientMsg) {
	if req.isRead {
		ctx := readCtx(req.client, req.seq, req.attempt)
		if err := n.core.ReadIndex(ctx); err != nil {
			s.reply(n, req, replyDefiniteFail, []byte(err.Error()), 0)
			return
		}
		req.committedAtRequest = s.chk.maxCommitted
		n.readWaiters[string(ctx)] = req
	} else {
		err := n.core.Propose(encodeEntry(uint64(req.client), req.seq, req.cmd))
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
