package sim

import (
	"slices"

	"github.com/raftbench/raftbench/engine"
)

// transfer is a leadership transfer the driver asked for (thesis §3.10).
type transfer struct {
	from, to uint64
	term     uint64 // the leader's term when it was asked
}

// onTransferEvent asks the current leader to hand leadership to a random
// other voter of its configuration, as an operator would before taking
// a node down.
func (s *Sim) onTransferEvent() {
	if !s.faultsOn() {
		return
	}
	s.push(&event{at: s.gap(s.p.TransferGapUs), kind: evTransfer})
	li := s.currentLeader()
	if li < 0 {
		return
	}
	l := s.nodes[li]
	if l.core.Role() != roleLeader || l.core.Status().LeadTransferee != 0 {
		return
	}
	var others []uint64
	for _, v := range l.core.Voters() {
		if v != l.id {
			others = append(others, v)
		}
	}
	if len(others) == 0 {
		return
	}
	to := others[s.r.Intn(len(others))]
	if err := l.core.TransferLeadership(to); err != nil {
		s.stats.TransfersRefused++
		s.tr.annotate("transfer to n" + itoa(to) + " refused: " + err.Error())
		return
	}
	if s.xfer != nil {
		s.stats.TransfersAborted++ // superseded before it resolved
	}
	s.xfer = &transfer{from: l.id, to: to, term: l.core.Term()}
	s.stats.TransfersStarted++
	s.tr.annotate("leader n" + itoa(l.id) + " transfers to n" + itoa(to))
	s.drive(l)
}

// checkTransferAbort resolves a transfer the old leader gave up on (it
// aborts after an election timeout, or when the target is removed).
func (s *Sim) checkTransferAbort(n *simNode) {
	x := s.xfer
	if x == nil || n.id != x.from || !n.up || n.core.Role() != roleLeader || n.core.Term() != x.term {
		return
	}
	if n.core.Status().LeadTransferee != x.to {
		s.stats.TransfersAborted++
		s.xfer = nil
		s.tr.annotate("transfer to n" + itoa(x.to) + " aborted")
	}
}

// onNewLeader resolves a pending transfer at the next election.
func (s *Sim) onNewLeader(n *simNode, term uint64) {
	x := s.xfer
	if x == nil || term <= x.term {
		return
	}
	if n.id == x.to {
		s.stats.TransfersCompleted++
		s.tr.annotate("transfer to n" + itoa(x.to) + " completed")
	} else {
		s.stats.TransfersAborted++
	}
	s.xfer = nil
}

// onConfChangeEvent asks the current leader to add a non-voter (a
// spare or a removed node, never a dead one) or remove a voter (dead
// ones too), one server at a time (thesis §4.1), never leaving fewer
// than MinVoters voters.
//
// Like etcd's strict reconfiguration check, a change must leave a
// quorum of the new configuration running: an operator does not remove
// a live voter while others are down, nor grow the quorum beyond the
// voters that are up (the node being added is not counted). Without it
// a change could make permanently dead nodes a majority, and no leader
// could ever be elected again. Nodes may lag or miss configuration
// entries: the core accepts messages from any sender (thesis §4.1).
func (s *Sim) onConfChangeEvent() {
	if !s.faultsOn() {
		return
	}
	s.push(&event{at: s.gap(s.p.ConfGapUs), kind: evConfChange})
	li := s.currentLeader()
	if li < 0 {
		return
	}
	l := s.nodes[li]
	if s.p.RichConfPermille > 0 && s.r.Permille(s.p.RichConfPermille) && s.onRichConfChange(l) {
		return
	}
	st := l.core.Status()
	up := 0
	for _, v := range st.Voters {
		if s.nodes[v-1].up {
			up++
		}
	}
	var adds, removes []uint64
	strict := false // a change was possible but the strict check refused it
	for _, n := range s.nodes {
		_, isVoter := slices.BinarySearch(st.Voters, n.id)
		switch {
		case isVoter && len(st.Voters) > MinVoters:
			upAfter := up
			if n.up {
				upAfter--
			}
			if upAfter >= quorum(len(st.Voters)-1) {
				removes = append(removes, n.id)
			} else {
				strict = true
			}
		case !isVoter && n.up:
			if up >= quorum(len(st.Voters)+1) {
				adds = append(adds, n.id)
			} else {
				strict = true
			}
		}
	}
	if len(adds)+len(removes) == 0 && strict {
		s.stats.ConfChangesSkipped++
		s.tr.annotate("conf change skipped: it would leave too few voters up")
		return
	}
	var cc engine.ConfChange
	switch {
	case len(adds) > 0 && (len(removes) == 0 || s.r.Permille(500)):
		cc = engine.Change(engine.AddVoter, adds[s.r.Intn(len(adds))])
	case len(removes) > 0:
		cc = engine.Change(engine.RemoveVoter, removes[s.r.Intn(len(removes))])
	default:
		return
	}
	// The core may have advanced its commit index since its last Ready
	// (a commit alone makes no Ready): record it under the configuration
	// that committed it, before the change replaces that configuration.
	if !s.advanceCommit(l, st.Commit) {
		return
	}
	if err := l.core.ProposeConfChange(cc); err != nil {
		s.stats.ConfChangesRefused++
		s.tr.annotate("conf change " + cc.String() + " refused: " + err.Error())
		return
	}
	s.stats.ConfChangesProposed++
	s.tr.annotate("leader n" + itoa(l.id) + " proposes " + cc.String())
	s.drive(l)
}
