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
		}
	}
}

func (m *MembershipStats) add(o MembershipStats) {
	m.AddVoter += o.AddVoter
	m.Remove += o.Remove
	m.AddLearner += o.AddLearner
	m.Promote += o.Promote
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
