package sim

import (
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// MembershipStats counts committed membership changes by kind (each
// counted once, by the first node to apply it).
type MembershipStats struct {
	AddVoter   uint64 // voters added directly (not promotions)
	Remove     uint64 // members removed
	AddLearner uint64
	Promote    uint64 // learners made voters
	Demote     uint64 // voters made learners (through a joint configuration)
	EnterJoint uint64 // changes that entered a joint configuration
	LeaveJoint uint64
}

// count classifies cc, which changed before into after.
func (m *MembershipStats) count(cc engine.ConfChange, before, after raftpb.ConfState) {
	if cc.Leave {
		m.LeaveJoint++
		return
	}
	if !before.Joint() && after.Joint() {
		m.EnterJoint++
	}
	for _, ch := range cc.Changes {
		switch {
		case ch.Type == engine.AddVoter && before.IsLearner(ch.Node):
			m.Promote++
		case ch.Type == engine.AddVoter:
			m.AddVoter++
		case ch.Type == engine.RemoveVoter:
			m.Remove++
		case ch.Type == engine.AddLearner:
			m.AddLearner++
		case ch.Type == engine.DemoteVoter:
			m.Demote++
		}
	}
}

func (m *MembershipStats) add(o MembershipStats) {
	m.AddVoter += o.AddVoter
	m.Remove += o.Remove
	m.AddLearner += o.AddLearner
	m.Promote += o.Promote
	m.Demote += o.Demote
	m.EnterJoint += o.EnterJoint
	m.LeaveJoint += o.LeaveJoint
}

// disjointQuorums reports whether some quorum of a and some quorum of b
// share no node: if so, the two configurations could decide apart, and a
// committed change from a to b (thesis §4.1, §4.3) would be unsafe.
// Quorum membership is monotone, so it suffices to test, for every
// quorum S of a, whether the remaining nodes form a quorum of b.
func disjointQuorums(a, b raftpb.ConfState) (sa, sb []uint64, found bool) {
	universe := append(a.Members(), b.Members()...)
	slices.Sort(universe)
	universe = slices.Compact(universe)
	if len(universe) > 16 {
		return nil, nil, false // the simulator never has that many nodes
	}
	pick := func(mask uint32) []uint64 {
		var out []uint64
		for i, id := range universe {
			if mask&(1<<i) != 0 {
				out = append(out, id)
			}
		}
		return out
	}
	full := uint32(1)<<len(universe) - 1
	for mask := uint32(0); mask <= full; mask++ {
		s := pick(mask)
		if isQuorum(a, s) {
			if rest := pick(full &^ mask); isQuorum(b, rest) {
				return s, rest, true
			}
		}
	}
	return nil, nil, false
}

// isQuorum reports whether the nodes in set form a quorum of cs: a
// majority of its voters, of each half when joint. Learners never count.
func isQuorum(cs raftpb.ConfState, set []uint64) bool {
	for _, half := range [][]uint64{cs.Voters, cs.VotersOutgoing} {
		if len(half) == 0 {
			continue
		}
		n := 0
		for _, v := range half {
			if slices.Contains(set, v) {
				n++
			}
		}
		if n < quorum(len(half)) {
			return false
		}
	}
	return len(cs.Voters) > 0
}

// drawMembership draws how often a membership event is one of the
// richer changes (learners, joint consensus, removing the leader)
// rather than a single voter added or removed. Drawn after every other
// parameter, so earlier ones keep their meaning.
func drawMembership(p *Params, r *rng) {
	if p.ConfGapUs > 0 && r.Permille(700) {
		p.RichConfPermille = int(r.Between(200, 800))
	}
}

// onRichConfChange asks leader l for one of: add a learner, promote a
// learner, replace a voter through a joint configuration (auto-leave or
// explicit), leave an explicit joint configuration, remove the leader
// itself, or demote a voter (the leader too) to a learner. Like onConfChangeEvent it never leaves fewer than MinVoters
// voters and keeps a quorum of every half of the new configuration up
// (the strict check). It reports whether it proposed or was refused
// (false: nothing applicable, the caller falls back to a single change).
func (s *Sim) onRichConfChange(l *simNode) bool {
	cs := l.core.ConfState()
	up := func(ids []uint64) int {
		k := 0
		for _, id := range ids {
			if s.nodes[id-1].up {
				k++
			}
		}
		return k
	}
	var outsiders, learners []uint64
	for _, n := range s.nodes {
		switch {
		case cs.IsLearner(n.id):
			learners = append(learners, n.id)
		case !cs.IsMember(n.id) && n.up:
			outsiders = append(outsiders, n.id)
		}
	}
	var options []engine.ConfChange
	if cs.Joint() {
		if !cs.AutoLeave {
			options = append(options, engine.ConfChange{Leave: true})
		}
	} else {
		if len(outsiders) > 0 {
			options = append(options, engine.ConfChange{Changes: []engine.ConfChangeSingle{
				{Type: engine.AddLearner, Node: outsiders[s.r.Intn(len(outsiders))]}}})
		}
		if len(learners) > 0 && up(cs.Voters) >= quorum(len(cs.Voters)+1) {
			options = append(options, engine.Change(engine.AddVoter, learners[s.r.Intn(len(learners))]))
		}
		// Replace a voter: one in, one out, through a joint configuration.
		if in := append(slices.Clone(outsiders), learners...); len(in) > 0 {
			add := in[s.r.Intn(len(in))]
			drop := cs.Voters[s.r.Intn(len(cs.Voters))]
			next := append(slices.DeleteFunc(slices.Clone(cs.Voters), func(v uint64) bool { return v == drop }), add)
			if s.nodes[add-1].up && up(next) >= quorum(len(next)) {
				tr := engine.TransitionJoint
				if s.r.Permille(300) {
					tr = engine.TransitionJointExplicit
				}
				options = append(options, engine.ConfChange{Transition: tr, Changes: []engine.ConfChangeSingle{
					{Type: engine.AddVoter, Node: add}, {Type: engine.RemoveVoter, Node: drop}}})
			}
		}
		// Remove the leader itself (it steps down once that commits).
		if len(cs.Voters) > MinVoters && slices.Contains(cs.Voters, l.id) && up(cs.Voters)-1 >= quorum(len(cs.Voters)-1) {
			options = append(options, engine.Change(engine.RemoveVoter, l.id))
		}
		// Demote a voter, the leader included: joint, then a learner.
		if len(cs.Voters) > MinVoters {
			v := cs.Voters[s.r.Intn(len(cs.Voters))]
			next := slices.DeleteFunc(slices.Clone(cs.Voters), func(x uint64) bool { return x == v })
			if up(next) >= quorum(len(next)) {
				options = append(options, engine.Change(engine.DemoteVoter, v))
			}
		}
	}
	if len(options) == 0 {
		return false
	}
	cc := options[s.r.Intn(len(options))]
	if !s.advanceCommit(l, l.core.Status().Commit) {
		return true
	}
	if err := l.core.ProposeConfChange(cc); err != nil {
		s.stats.ConfChangesRefused++
		s.tr.annotate("conf change " + cc.String() + " refused: " + err.Error())
		return true
	}
	s.stats.ConfChangesProposed++
	s.tr.annotate("leader n" + itoa(l.id) + " proposes " + cc.String())
	s.drive(l)
	return true
}

// onNewConfEntry checks the rules a leader must follow when it appends
// a configuration change (entry e, first seen in leader n's log):
//
//   - the previous configuration change in its log is committed
//     (thesis §4.1; for joint consensus, §4.3: C_new is appended only
//     once C_old,new is committed);
//   - it has committed an entry of its own term (the single-server
//     change bug, Ongaro 2015: a new leader's log may hold an
//     uncommitted change of an earlier leader that a change based on
//     a different configuration would contradict).
//
// Breaking either lets two configurations decide apart; the other
// invariants catch the consequences only when a schedule lines them up.
func (c *checker) onNewConfEntry(s *Sim, n *simNode, e raftpb.Entry) {
	if n.core.Role() != roleLeader || e.Term != n.core.Term() {
		return
	}
	commit := n.core.Status().Commit
	for i := e.Index - 1; i > n.view.offset; i-- {
		t, _ := n.view.termAt(i)
		if c.confEntries[logKey{i, t}] {
			if i > commit {
				s.fail("safety", "one configuration change at a time", "leader %d appended a configuration change at %d/t%d while the one at %d/t%d is uncommitted (commit %d)",
					n.id, e.Index, e.Term, i, t, commit)
			}
			break
		}
	}
	if t, ok := n.view.termAt(commit); !ok || t != e.Term {
		s.fail("safety", "configuration change after own-term commit", "leader %d of term %d appended a configuration change at %d before committing an entry of its term (commit %d has term %d)",
			n.id, e.Term, e.Index, commit, t)
	}
}
