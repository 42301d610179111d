package sim

import (
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
