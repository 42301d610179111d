package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// growCluster is a 3-voter cluster led by 1 with extra nodes started on
// the bootstrap configuration, as a joining node does.
func growCluster(t *testing.T, extra ...uint64) *cluster {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	for _, id := range extra {
		cl.addNode(id, []uint64{1, 2, 3})
	}
	return cl
}

func steps(cs ...ConfChangeSingle) []ConfChangeSingle { return cs }

// commitsWith proposes x on leader l and reports whether it commits.
func commitsWith(cl *cluster, l *Core, x string) bool {
	if err := l.Propose([]byte(x)); err != nil {
		cl.t.Fatalf("propose: %v", err)
	}
	cl.stabilize()
	return slices.Contains(cl.appliedData(l.id), x)
}

// TestJointConsensus is the scenario table for joint consensus (thesis
// §4.3): entering, leaving (automatically or explicitly), a leader that
// is not in the new configuration, and a partition during the joint
// phase.
func TestJointConsensus(t *testing.T) {
	replace := ConfChange{Changes: steps(
		ConfChangeSingle{Type: AddVoter, Node: 4}, ConfChangeSingle{Type: AddVoter, Node: 5},
		ConfChangeSingle{Type: RemoveVoter, Node: 2}, ConfChangeSingle{Type: RemoveVoter, Node: 3})}
	t.Run("enter and auto-leave", func(t *testing.T) {
		cl := growCluster(t, 4, 5)
		l := cl.cores[1]
		if err := l.ProposeConfChange(replace); err != nil {
			t.Fatal(err)
		}
		if cs := l.ConfState(); !cs.Joint() || !cs.AutoLeave || !slices.Equal(cs.Voters, []uint64{1, 4, 5}) || !slices.Equal(cs.VotersOutgoing, []uint64{1, 2, 3}) {
			t.Fatalf("two voters changed at once must enter a joint configuration, got %v", cs)
		}
		cl.stabilize()
		for _, id := range []uint64{1, 4, 5} {
			if cs := cl.cores[id].ConfState(); cs.Joint() || !slices.Equal(cs.Voters, []uint64{1, 4, 5}) {
				t.Fatalf("node %d did not leave the joint configuration: %v", id, cs)
			}
		}
		cl.isolate(2)
		cl.isolate(3)
		if !commitsWith(cl, l, "after") {
			t.Fatal("the new configuration {1,4,5} cannot commit alone")
		}
	})
	t.Run("explicit leave", func(t *testing.T) {
		cl := growCluster(t, 4, 5)
		l := cl.cores[1]
		cc := replace
		cc.Transition = TransitionJointExplicit
		if err := l.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		if !l.ConfState().Joint() {
			t.Fatal("explicit joint configuration left by itself")
		}
		if err := l.ProposeConfChange(Change(RemoveVoter, 4)); !errors.Is(err, ErrConfChangeInProgress) {
			t.Fatalf("change inside a joint configuration: %v", err)
		}
		if err := l.ProposeConfChange(ConfChange{Leave: true}); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		if cs := l.ConfState(); cs.Joint() {
			t.Fatalf("still joint after leaving: %v", cs)
		}
		if err := l.ProposeConfChange(ConfChange{Leave: true}); !errors.Is(err, ErrBadConfChange) {
			t.Fatalf("leaving a simple configuration: %v", err)
		}
	})
	t.Run("both majorities needed while joint", func(t *testing.T) {
		cl := growCluster(t, 4, 5)
		l := cl.cores[1]
		cc := replace
		cc.Transition = TransitionJointExplicit
		if err := l.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		// Partition the old majority away: the new one alone must not commit.
		cl.isolate(2)
		cl.isolate(3)
		if commitsWith(cl, l, "x") {
			t.Fatal("committed without a majority of the outgoing voters {1,2,3}")
		}
		cl.heal()
		cl.isolate(4)
		cl.isolate(5)
		if commitsWith(cl, l, "y") {
			t.Fatal("committed without a majority of the incoming voters {1,4,5}")
		}
		cl.heal()
		l.Tick()
		cl.stabilize()
		if !slices.Contains(cl.appliedData(1), "y") {
			t.Fatal("healed joint cluster did not commit")
		}
	})
	t.Run("leader not in the new configuration", func(t *testing.T) {
		cl := growCluster(t, 4, 5)
		l := cl.cores[1]
		cc := ConfChange{Changes: steps(ConfChangeSingle{Type: AddVoter, Node: 4}, ConfChangeSingle{Type: RemoveVoter, Node: 1})}
		if err := l.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		if l.Role() == Leader {
			t.Fatalf("leader 1 still leads after its removal committed: %v", l.ConfState())
		}
		cl.elect(2)
		if cs := cl.cores[2].ConfState(); cs.Joint() || !slices.Equal(cs.Voters, []uint64{2, 3, 4}) {
			t.Fatalf("configuration after removing the leader: %v", cs)
		}
		if !commitsWith(cl, cl.cores[2], "z") {
			t.Fatal("new leader cannot commit")
		}
	})
}

// TestLearners: a learner gets the log, never counts toward a quorum,
// never campaigns, and is promoted only once within MaxPromoteLag.
func TestLearners(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.MaxPromoteLag = 2 })
	cl.elect(1)
	cl.addNode(4, []uint64{1, 2, 3})
	l := cl.cores[1]
	if err := l.ProposeConfChange(ConfChange{Changes: steps(ConfChangeSingle{Type: AddLearner, Node: 4, Addr: "127.0.0.1:9"})}); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if !commitsWith(cl, l, "a") || !slices.Contains(cl.appliedData(4), "a") {
		t.Fatal("learner did not receive the log")
	}
	if got := cl.cores[4].ConfState().Addr(4); got != "127.0.0.1:9" {
		t.Fatalf("learner's address not carried by the change: %q", got)
	}
	if cl.cores[4].promotable() {
		t.Fatal("a learner may not stand for election")
	}
	cl.isolate(2)
	cl.isolate(3)
	if commitsWith(cl, l, "b") {
		t.Fatal("leader + learner counted as a quorum of 3 voters")
	}
	cl.heal()
	l.Tick()
	cl.stabilize()
	// Fall behind, then ask for promotion.
	cl.isolate(4)
	for i := 0; i < 5; i++ {
		commitsWith(cl, l, "c")
	}
	if err := l.ProposeConfChange(Change(AddVoter, 4)); !errors.Is(err, ErrLearnerBehind) {
		t.Fatalf("promotion of a lagging learner: %v", err)
	}
	cl.heal()
	l.Tick()
	cl.stabilize()
	if err := l.ProposeConfChange(Change(AddVoter, 4)); err != nil {
		t.Fatalf("promotion of a caught-up learner: %v", err)
	}
	cl.stabilize()
	if cs := cl.cores[4].ConfState(); !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) || len(cs.Learners) != 0 {
		t.Fatalf("after promotion: %v", cs)
	}
}

// TestConfChangeBadRequests: changes that do not apply are refused and
// change nothing.
func TestConfChangeBadRequests(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	l := cl.cores[1]
	for name, cc := range map[string]ConfChange{
		"unknown node":     Change(RemoveVoter, 9),
		"already voter":    Change(AddVoter, 2),
		"learner on voter": Change(AddLearner, 2),
		"no steps":         {},
		"node twice":       {Changes: steps(ConfChangeSingle{Type: AddVoter, Node: 4}, ConfChangeSingle{Type: RemoveVoter, Node: 4})},
		"remove all":       {Changes: steps(ConfChangeSingle{Type: RemoveVoter, Node: 1}, ConfChangeSingle{Type: RemoveVoter, Node: 2}, ConfChangeSingle{Type: RemoveVoter, Node: 3})},
		"leave non-joint":  {Leave: true},
	} {
		last := l.log.lastIndex()
		if err := l.ProposeConfChange(cc); !errors.Is(err, ErrBadConfChange) {
			t.Errorf("%s: %v", name, err)
		}
		if l.log.lastIndex() != last {
			t.Errorf("%s: refused change appended something", name)
		}
	}
}

// TestNewLeaderChangesOnlyAfterOwnCommit pins the fix of the
// single-server change bug (Ongaro 2015): a new leader may propose a
// membership change only once an entry of its own term is committed.
func TestNewLeaderChangesOnlyAfterOwnCommit(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	c := cl.cores[2]
	c.becomeCandidate(false)
	c.becomeLeader()
	if err := c.ProposeConfChange(Change(RemoveVoter, 3)); !errors.Is(err, ErrConfChangeInProgress) {
		t.Fatalf("change before the term's first commit: %v", err)
	}
}

// TestSnapshotCarriesConfiguration: a compaction's snapshot holds the
// configuration in force at its index (joint state, learners and
// addresses too), and a node restarting from it uses it.
func TestSnapshotCarriesConfiguration(t *testing.T) {
	cl := growCluster(t, 4, 5)
	l := cl.cores[1]
	cc := ConfChange{Changes: steps(ConfChangeSingle{Type: AddVoter, Node: 4}, ConfChangeSingle{Type: AddLearner, Node: 5, Addr: "h:5"}),
		Transition: TransitionJointExplicit}
	if err := l.ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	st := l.Status()
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: st.Applied, Term: l.Term()}}); err != nil {
		t.Fatal(err)
	}
	want := l.ConfState()
	if got := l.snapshot.Meta.ConfState; !got.Equal(want) {
		t.Fatalf("snapshot configuration %v, want %v", got, want)
	}
	r, err := New(Config{ID: 5, Snapshot: &l.snapshot.Meta})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ConfState(); !got.Equal(want) || r.promotable() {
		t.Fatalf("restarted configuration %v (promotable %v), want %v", got, r.promotable(), want)
	}
}
