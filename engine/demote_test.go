package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestDemoteVoter is the scenario table for demoting a voter to a
// learner (etcd's LearnersNext): the change always goes through a joint
// configuration in which the node still votes in the outgoing half, and
// the node is a learner once the joint configuration is left.
func TestDemoteVoter(t *testing.T) {
	t.Run("follower", func(t *testing.T) {
		cl := newCluster(t, 3, nil)
		cl.elect(1)
		l := cl.cores[1]
		if err := l.ProposeConfChange(Change(DemoteVoter, 3)); err != nil {
			t.Fatal(err)
		}
		cs := l.ConfState()
		if !cs.Joint() || !cs.AutoLeave || !slices.Equal(cs.Voters, []uint64{1, 2}) ||
			!slices.Equal(cs.VotersOutgoing, []uint64{1, 2, 3}) || !slices.Equal(cs.LearnersNext, []uint64{3}) || cs.IsLearner(3) {
			t.Fatalf("demotion must enter a joint configuration with 3 in learners-next, got %v", cs)
		}
		cl.stabilize()
		for id := uint64(1); id <= 3; id++ {
			cs := cl.cores[id].ConfState()
			if cs.Joint() || !slices.Equal(cs.Voters, []uint64{1, 2}) || !slices.Equal(cs.Learners, []uint64{3}) || len(cs.LearnersNext) != 0 {
				t.Fatalf("node %d after leaving: %v", id, cs)
			}
		}
		if cl.cores[3].promotable() {
			t.Fatal("a demoted node may not stand for election")
		}
		// The learner still receives the log, and no longer counts.
		if !commitsWith(cl, l, "a") || !slices.Contains(cl.appliedData(3), "a") {
			t.Fatal("demoted learner does not receive the log")
		}
		cl.isolate(2)
		if commitsWith(cl, l, "b") {
			t.Fatal("leader + demoted learner counted as a quorum of voters {1,2}")
		}
		cl.heal()
		l.Tick()
		cl.stabilize()
		// And it can be promoted back.
		if err := l.ProposeConfChange(Change(AddVoter, 3)); err != nil {
			t.Fatalf("promoting the demoted node back: %v", err)
		}
		cl.stabilize()
		if cs := cl.cores[3].ConfState(); !slices.Equal(cs.Voters, []uint64{1, 2, 3}) || len(cs.Learners) != 0 {
			t.Fatalf("after promotion back: %v", cs)
		}
	})
	t.Run("outgoing half still votes while joint", func(t *testing.T) {
		cl := newCluster(t, 3, nil)
		cl.elect(1)
		l := cl.cores[1]
		cc := Change(DemoteVoter, 3)
		cc.Transition = TransitionJointExplicit
		if err := l.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		if cs := l.ConfState(); !cs.Joint() || !cs.IsVoter(3) || cs.IsLearner(3) {
			t.Fatalf("explicit joint demotion: %v", cs)
		}
		// {1,2} is a majority of both halves; {1,3} is not a majority of
		// the incoming {1,2}: with 2 cut off nothing commits.
		cl.isolate(2)
		if commitsWith(cl, l, "x") {
			t.Fatal("committed without a majority of the incoming voters {1,2}")
		}
		cl.heal()
		l.Tick()
		cl.stabilize()
		if err := l.ProposeConfChange(ConfChange{Leave: true}); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		if cs := cl.cores[3].ConfState(); cs.Joint() || !slices.Equal(cs.Learners, []uint64{3}) {
			t.Fatalf("after explicit leave: %v", cs)
		}
	})
	t.Run("leader steps down once leaving commits", func(t *testing.T) {
		cl := newCluster(t, 3, nil)
		cl.elect(1)
		l := cl.cores[1]
		if err := l.ProposeConfChange(Change(DemoteVoter, 1)); err != nil {
			t.Fatal(err)
		}
		if l.Role() != Leader {
			t.Fatal("the leader must lead through the joint phase (it still votes in the outgoing half)")
		}
		cl.stabilize()
		if l.Role() == Leader {
			t.Fatalf("demoted leader still leads: %v", l.ConfState())
		}
		if cs := l.ConfState(); !slices.Equal(cs.Learners, []uint64{1}) || cs.Joint() {
			t.Fatalf("configuration after demoting the leader: %v", cs)
		}
		if l.promotable() {
			t.Fatal("the demoted leader may not campaign again")
		}
		cl.elect(2)
		if !commitsWith(cl, cl.cores[2], "z") || !slices.Contains(cl.appliedData(1), "z") {
			t.Fatal("new leader cannot commit, or the demoted leader does not learn")
		}
	})
	t.Run("bad requests change nothing", func(t *testing.T) {
		cl := newCluster(t, 3, nil)
		cl.elect(1)
		l := cl.cores[1]
		if err := l.ProposeConfChange(Change(DemoteVoter, 3)); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		two := ConfChange{Changes: steps(ConfChangeSingle{Type: DemoteVoter, Node: 1}, ConfChangeSingle{Type: DemoteVoter, Node: 2})}
		for name, tc := range map[string]struct {
			cc   ConfChange
			want string
		}{
			"demote a learner":      {Change(DemoteVoter, 3), "node 3 is already a learner"},
			"demote a non-member":   {Change(DemoteVoter, 9), "node 9 is not a voter"},
			"demote the last voter": {two, "it would demote the last voter"},
			"add-learner on voter":  {Change(AddLearner, 2), "demote it"},
		} {
			before, last := l.ConfState(), l.log.lastIndex()
			err := l.ProposeConfChange(tc.cc)
			if !errors.Is(err, ErrBadConfChange) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want ErrBadConfChange saying %q", name, err, tc.want)
			}
			if l.log.lastIndex() != last || !l.ConfState().Equal(before) {
				t.Errorf("%s: refused change changed something", name)
			}
		}
		// One voter left: demoting it is the last-voter case.
		cl1 := newCluster(t, 1, nil)
		cl1.elect(1)
		if err := cl1.cores[1].ProposeConfChange(Change(DemoteVoter, 1)); !errors.Is(err, ErrBadConfChange) {
			t.Fatalf("demoting the only voter: %v", err)
		}
	})
}
