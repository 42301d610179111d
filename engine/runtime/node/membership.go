package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// PeerSet is implemented by transports whose peers can change at run
// time (transport.TCP). The node adds the address of every member that
// the replicated configuration carries one for, and removes it once the
// member is gone, as soon as the configuration changes in its log.
type PeerSet interface {
	AddPeer(id uint64, addr string) error
	RemovePeer(id uint64)
}

// membership is the node's view of the configuration: the one applied
// (for callers and Status) and the waiters of proposed changes.
type membership struct {
	mu      sync.Mutex
	applied raftpb.ConfState
	changed chan struct{} // closed and replaced whenever applied changes
	waits   map[uint64]*confWait
	pending atomic.Int64 // len(waits), read without the lock on every applied entry

	// Owned by the loop goroutine.
	gen   uint64            // core.ConfGen() last synced to the transport
	added map[uint64]string // addresses this node gave the transport
}

// confWait is a proposed change waiting for its entry at index (of term)
// to be applied.
type confWait struct {
	term uint64
	ch   chan confResult
}

type confResult struct {
	cs  raftpb.ConfState
	err error
}

func (m *membership) init(cs raftpb.ConfState) {
	m.applied = cs.Clone()
	m.changed = make(chan struct{})
	m.waits = map[uint64]*confWait{}
	m.added = map[uint64]string{}
}

// AppliedConf returns the configuration in force at the applied index.
func (n *Node) AppliedConf() raftpb.ConfState {
	n.conf.mu.Lock()
	defer n.conf.mu.Unlock()
	return n.conf.applied.Clone()
}

// setAppliedConf publishes a newly applied configuration (apply goroutine).
func (n *Node) setAppliedConf(cs raftpb.ConfState) {
	n.conf.mu.Lock()
	n.conf.applied = cs.Clone()
	close(n.conf.changed)
	n.conf.changed = make(chan struct{})
	n.conf.mu.Unlock()
}

// settleConfWait answers the change waiting at index, if any: applied
// if the entry there has its term, dropped if another entry took the
// slot (apply goroutine).
func (n *Node) settleConfWait(index, term uint64, cs raftpb.ConfState, isConf bool) {
	n.conf.mu.Lock()
	w := n.conf.waits[index]
	delete(n.conf.waits, index)
	n.conf.pending.Store(int64(len(n.conf.waits)))
	n.conf.mu.Unlock()
	switch {
	case w == nil:
	case w.term == term && isConf:
		w.ch <- confResult{cs: cs.Clone()}
	default:
		w.ch <- confResult{err: ErrProposalDropped}
	}
}

// settleConfWaitsCoveredBy answers the changes a leader's snapshot
// covered without showing their entries: whether they took effect is
// unknown here.
func (n *Node) settleConfWaitsCoveredBy(index uint64) {
	n.conf.mu.Lock()
	defer n.conf.mu.Unlock()
	for i, w := range n.conf.waits {
		if i <= index {
			delete(n.conf.waits, i)
			n.conf.pending.Store(int64(len(n.conf.waits)))
			w.ch <- confResult{err: indeterminate(fmt.Errorf("%w: the change's entry was covered by a snapshot", ErrLeaderChanged))}
		}
	}
}

func (n *Node) failConfWaits(err error) {
	n.conf.mu.Lock()
	defer n.conf.mu.Unlock()
	for i, w := range n.conf.waits {
		delete(n.conf.waits, i)
		n.conf.pending.Store(0)
		w.ch <- confResult{err: err}
	}
}

// ProposeConfChange proposes a membership change on this node, which
// must be the leader, and waits until it is applied here; it returns the
// configuration then in force. A change that enters a joint
// configuration with auto-leave also waits (until ctx ends) for the
// leader to leave it.
//
// Errors: a NotLeaderError, ErrConfChangeInProgress, ErrBadConfChange,
// ErrLearnerBehind and ErrTransferInProgress (from the engine) are
// definite: nothing was appended. ErrProposalDropped is definite too.
// A context that ends before the change is applied gives an indefinite
// ErrTimeout: the change may still take effect.
func (n *Node) ProposeConfChange(ctx context.Context, cc engine.ConfChange) (raftpb.ConfState, error) {
	w := &confWait{ch: make(chan confResult, 1)}
	var perr error
	if err := n.do(ctx, func() {
		_, last := n.core.LogBounds()
		if perr = n.core.ProposeConfChange(cc); perr != nil {
			return
		}
		w.term = n.core.Term()
		n.conf.mu.Lock()
		n.conf.waits[last+1] = w
		n.conf.pending.Store(int64(len(n.conf.waits)))
		n.conf.mu.Unlock()
	}); err != nil {
		return raftpb.ConfState{}, err
	}
	if perr != nil {
		return raftpb.ConfState{}, perr
	}
	var res confResult
	select {
	case res = <-w.ch:
	case <-ctx.Done():
		return raftpb.ConfState{}, ctxError(ctx.Err())
	case <-n.stopc:
		return raftpb.ConfState{}, indeterminate(ErrStopped)
	}
	if res.err != nil || !res.cs.Joint() || !res.cs.AutoLeave {
		return res.cs, res.err
	}
	for {
		n.conf.mu.Lock()
		cs, ch := n.conf.applied.Clone(), n.conf.changed
		n.conf.mu.Unlock()
		if !cs.Joint() {
			return cs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cs, nil // the change is in force; leaving is the leader's job
		case <-n.stopc:
			return cs, nil
		}
	}
}

// WaitConf waits until the applied configuration satisfies ok or ctx
// ends, and returns the last one seen.
func (n *Node) WaitConf(ctx context.Context, ok func(raftpb.ConfState) bool) (raftpb.ConfState, error) {
	for {
		n.conf.mu.Lock()
		cs, ch := n.conf.applied.Clone(), n.conf.changed
		n.conf.mu.Unlock()
		if ok(cs) {
			return cs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cs, ctxError(ctx.Err())
		case <-n.stopc:
			return cs, ErrStopped
		}
	}
}

// syncPeers gives the transport the addresses the configuration in the
// log carries, as soon as it changes (before the Ready's messages to a
// new member leave). Loop goroutine.
func (n *Node) syncPeers() {
	gen := n.core.ConfGen()
	if gen == n.conf.gen {
		return
	}
	n.conf.gen = gen
	ps, ok := n.cfg.Transport.(PeerSet)
	if !ok {
		return
	}
	cs := n.core.ConfState()
	for _, a := range cs.Addrs {
		if a.ID == n.cfg.ID || n.conf.added[a.ID] == a.Addr {
			continue
		}
		if err := ps.AddPeer(a.ID, a.Addr); err != nil {
			n.logger.Warn("cannot add peer from the configuration", "peer", a.ID, "addr", a.Addr, "err", err)
			continue
		}
		n.conf.added[a.ID] = a.Addr
	}
	for id := range n.conf.added {
		if !cs.IsMember(id) {
			ps.RemovePeer(id)
			delete(n.conf.added, id)
		}
	}
}

// confStatus fills Status's membership fields from the core's.
func confStatus(st *Status, cs raftpb.ConfState) {
	st.Voters, st.VotersOutgoing, st.Learners = cs.Voters, cs.VotersOutgoing, cs.Learners
	st.LearnersNext = cs.LearnersNext
	st.Joint, st.AutoLeave = cs.Joint(), cs.AutoLeave
	if len(cs.Addrs) > 0 {
		st.Addrs = make(map[uint64]string, len(cs.Addrs))
		for _, a := range cs.Addrs {
			st.Addrs[a.ID] = a.Addr
		}
	}
	if st.Voters == nil {
		st.Voters = []uint64{}
	}
	slices.Sort(st.Voters)
}

// BootstrapVoters returns the configuration this node was started with
// (Config.Voters): what a node joining the cluster must start with too.
func (n *Node) BootstrapVoters() []uint64 { return slices.Clone(n.cfg.Voters) }
