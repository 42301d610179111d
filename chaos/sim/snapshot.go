package sim

import (
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// takeSnapshot compacts n's log at its applied index (Raft §7): the
// driver saves the state machine and session table to the log, which
// drops the prefix, then hands the snapshot to Core.Compact so the core
// can send it to followers that fall behind.
func (s *Sim) takeSnapshot(n *simNode) {
	snap := raftpb.Snapshot{
		Meta: raftpb.SnapshotMeta{Index: n.applied, Term: n.appliedTerm, Voters: slices.Clone(n.sm.voters)},
		Data: n.sm.encode(),
	}
	if err := n.disk.log.SaveSnapshot(snap); err != nil {
		s.fail("harness", "save snapshot", "node %d at %d: %v", n.id, snap.Meta.Index, err)
		return
	}
	// SaveSnapshot synced every pending write before it: queue the
	// snapshot behind them so the durable mirror follows disk order.
	n.persistQ = append(n.persistQ, &persistRec{hasWrite: true, done: true, snap: &snap.Meta})
	if err := n.core.Compact(snap); err != nil {
		s.fail("harness", "compact", "node %d: Compact(%d/t%d): %v", n.id, snap.Meta.Index, snap.Meta.Term, err)
		return
	}
	n.view.compact(snap.Meta.Index, snap.Meta.Term)
	n.snapIndex = snap.Meta.Index
	s.stats.SnapsTaken++
	s.tr.annotate("snapshot n" + itoa(n.id) + " at " + itoa(snap.Meta.Index))
}

// installSnapshot performs the driver's duties for Ready.Snapshot (a
// leader's MsgSnap the core accepted): check it, make the hard state and
// then the snapshot durable (so a crash can never leave a durable
// snapshot newer than the durable term), and restore the state machine
// and session table from it before any later entry is applied.
func (s *Sim) installSnapshot(n *simNode, rd engine.Ready) bool {
	snap := rd.Snapshot
	meta := snap.Meta
	sm := newStateMachine(nil)
	if err := sm.restore(snap.Data); err != nil {
		s.fail("harness", "snapshot data", "node %d: snapshot at %d: %v", n.id, meta.Index, err)
		return false
	}
	if !s.chk.onInstall(s, n, meta, sm) {
		return false
	}
	rec := &persistRec{hasWrite: true, done: true, snap: &meta}
	if hs := rd.HardState; hs != n.lastHS {
		if err := n.disk.log.SaveHardState(hs); err != nil {
			s.fail("harness", "save hard state", "node %d: %v", n.id, err)
			return false
		}
		n.lastHS, rec.hs = hs, &hs
	}
	if err := n.disk.log.SaveSnapshot(*snap); err != nil {
		s.fail("harness", "save snapshot", "node %d at %d: %v", n.id, meta.Index, err)
		return false
	}
	n.persistQ = append(n.persistQ, rec)
	n.view.reset(meta.Index, meta.Term)
	n.sm = sm
	n.applied, n.appliedTerm, n.snapIndex = meta.Index, meta.Term, meta.Index
	s.stats.SnapsInstalled++
	s.tr.annotate("install snapshot n" + itoa(n.id) + " at " + itoa(meta.Index))
	return true
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
