//go:build raftbugs

package engine

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// The two membership bug switches, each shown by its end-to-end
// consequence on a fixed schedule (the targeted scenario the seeded
// simulator reaches only rarely), and the same schedule on the correct
// core, where the step that lets the bug through is refused or cannot
// commit.

// committedAt returns the entry id committed (applied) at index, if any.
func (cl *cluster) committedAt(id, index uint64) (raftpb.Entry, bool) {
	for _, e := range cl.applied[id] {
		if e.Index == index {
			return e, true
		}
	}
	return raftpb.Entry{}, false
}

// cutLink drops messages both ways between a and b.
func (cl *cluster) cutLink(a, b uint64) {
	cl.cut[[2]uint64{a, b}] = true
	cl.cut[[2]uint64{b, a}] = true
}

// winElection lets id campaign, round after round, until it leads.
func (cl *cluster) winElection(id uint64) {
	cl.t.Helper()
	for round := 0; round < 10 && cl.cores[id].Role() != Leader; round++ {
		for _, o := range cl.ids {
			if c := cl.cores[o]; o != id && c.Role() != Leader {
				c.electionElapsed = c.cfg.ElectionTicks
			}
		}
		c := cl.cores[id]
		for i := 0; i < 2*c.cfg.ElectionTicks && c.Role() != Leader; i++ {
			c.Tick()
			cl.stabilize()
		}
	}
	if cl.cores[id].Role() != Leader {
		cl.t.Fatalf("node %d did not win an election", id)
	}
}

// TestSingleServerBugLosesCommittedWrite is Ongaro's single-server
// change bug (2015) on the core: leader 1 of {1,2,3,4} appends "add 5",
// which reaches only 5. Node 2 is elected (votes 2,3,4), and before its
// term's no-op has committed under {1,2,3,4} it appends "remove 1":
// {2,3} commit it and a client write w under {2,3,4}. Node 1 is
// elected by {1,4,5} (a majority of its {1,...,5}, node 4 never having
// seen term 2's entries) and commits its own log. Consequence: two
// different entries committed at the same index (state machine safety)
// and the committed write w lost once the cluster heals. On the correct
// core node 2's change is refused until its no-op commits, which needs
// node 4, and node 4 then would not vote for node 1.
func TestSingleServerBugLosesCommittedWrite(t *testing.T) {
	for _, bug := range []bool{true, false} {
		name := map[bool]string{true: "bug", false: "correct"}[bug]
		t.Run(name, func(t *testing.T) {
			cl := newCluster(t, 4, func(c *Config) {
				if bug {
					c.Bugs = []Bug{BugConfChangeBeforeTermCommit}
				}
			})
			cl.addNode(5, []uint64{1, 2, 3, 4})
			cl.elect(1)
			for _, o := range []uint64{2, 3, 4} {
				cl.cutLink(1, o)
			}
			if err := cl.cores[1].ProposeConfChange(Change(AddVoter, 5)); err != nil {
				t.Fatal(err)
			}
			cl.stabilize() // "add 5" on nodes 1 and 5 only, uncommitted
			addIdx := cl.cores[1].log.lastIndex()
			// Node 1 hears from too few voters and steps down (check-quorum).
			for i := 0; i < 3*cl.cores[1].cfg.ElectionTicks && cl.cores[1].Role() == Leader; i++ {
				cl.cores[1].Tick()
				cl.stabilize()
			}
			if cl.cores[1].Role() == Leader {
				t.Fatal("isolated leader 1 did not step down")
			}
			cl.heal()
			cl.isolate(1)
			cl.isolate(5)
			// Node 2 wins with 2,3,4; its first appends reach only 3.
			cl.observe = func(id uint64, _ *Ready) {
				if id == 2 && cl.cores[2].Role() == Leader {
					cl.cutLink(2, 4)
				}
			}
			cl.winElection(2)
			cl.observe = nil
			l2 := cl.cores[2]
			err := l2.ProposeConfChange(Change(RemoveVoter, 1))
			if !bug {
				if !errors.Is(err, ErrConfChangeInProgress) {
					t.Fatalf("correct core: change before the term's first commit: %v, want ErrConfChangeInProgress", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl.stabilize()
			if !commitsWith(cl, l2, "w") {
				t.Fatal("bug: {2,3} did not commit w under {2,3,4}")
			}
			mine, ok2 := cl.committedAt(2, addIdx)
			// Node 1 is elected by 1, 4, 5 and commits its log.
			cl.heal()
			cl.isolate(2)
			cl.isolate(3)
			cl.winElection(1)
			if !commitsWith(cl, cl.cores[1], "x") {
				for _, id := range cl.ids {
					st := cl.cores[id].Status()
					t.Logf("node %d: %v term %d commit %d last %d conf %v", id, st.Role, st.Term, st.Commit, cl.cores[id].log.lastIndex(), cl.cores[id].ConfState())
				}
				t.Fatal("bug: node 1 did not commit with {1,4,5}")
			}
			theirs, ok1 := cl.committedAt(1, addIdx)
			if !ok1 || !ok2 || (theirs.Term == mine.Term && bytes.Equal(theirs.Data, mine.Data)) {
				t.Fatalf("bug: expected two different entries committed at index %d: node 1 %v (%v), node 2 %v (%v)", addIdx, theirs, ok1, mine, ok2)
			}
			t.Logf("consequence: index %d committed as term %d (%v) by {2,3} and as term %d (%v) by {1,4,5}: disjoint majorities",
				addIdx, mine.Term, mine.Type, theirs.Term, theirs.Type)
			// Healed, the cluster follows node 1's log: w is gone.
			cl.heal()
			for i := 0; i < 5; i++ {
				cl.cores[1].Tick()
				cl.stabilize()
			}
			ld := cl.leader()
			if ld == 0 {
				t.Fatal("no leader after healing")
			}
			if l := cl.cores[ld]; slices.Contains(logData(l), "w") {
				t.Fatalf("expected the committed write w to be lost, leader %d still has it", ld)
			}
			t.Logf("consequence: committed write w (acknowledged by node 2) is not in leader %d's log after healing", ld)
		})
	}
}

// TestJointLeaveEarlyDisjointMajorities: leader 1 of {1,2,3}, cut off
// from 2 and 3, replaces them by 4 and 5 through a joint configuration.
// With the bug the leave entry is appended at once, so {1,4,5} commits
// the change and a write alone, while {2,3} (a majority of the old
// configuration, which never heard of it) elect node 2 and commit
// another entry at the same index: disjoint majorities deciding apart.
// On the correct core the joint entry needs a majority of {1,2,3} too,
// so nothing commits on node 1's side.
func TestJointLeaveEarlyDisjointMajorities(t *testing.T) {
	for _, bug := range []bool{true, false} {
		name := map[bool]string{true: "bug", false: "correct"}[bug]
		t.Run(name, func(t *testing.T) {
			cl := newCluster(t, 3, func(c *Config) {
				if bug {
					c.Bugs = []Bug{BugJointLeaveEarly}
				}
			})
			cl.addNode(4, []uint64{1, 2, 3})
			cl.addNode(5, []uint64{1, 2, 3})
			cl.elect(1)
			cl.cutLink(1, 2)
			cl.cutLink(1, 3)
			for _, o := range []uint64{4, 5} {
				cl.cutLink(o, 2)
				cl.cutLink(o, 3)
			}
			l := cl.cores[1]
			base := l.log.lastIndex()
			cc := ConfChange{Changes: steps(ConfChangeSingle{Type: AddVoter, Node: 4}, ConfChangeSingle{Type: AddVoter, Node: 5},
				ConfChangeSingle{Type: RemoveVoter, Node: 2}, ConfChangeSingle{Type: RemoveVoter, Node: 3})}
			if err := l.ProposeConfChange(cc); err != nil {
				t.Fatal(err)
			}
			cl.stabilize()
			committed := commitsWith(cl, l, "a")
			if !bug {
				if committed {
					t.Fatal("correct core: {1,4,5} committed without a majority of the old {1,2,3}")
				}
				return
			}
			if !committed {
				t.Fatal("bug: {1,4,5} did not commit alone")
			}
			one, ok1 := cl.committedAt(1, base+1)
			cl.winElection(2) // votes of 2 and 3: a majority of {1,2,3}
			if !commitsWith(cl, cl.cores[2], "b") {
				t.Fatal("bug: {2,3} did not commit")
			}
			two, ok2 := cl.committedAt(2, base+1)
			if !ok1 || !ok2 || (one.Term == two.Term && bytes.Equal(one.Data, two.Data)) {
				t.Fatalf("bug: expected two different entries committed at index %d: node 1 %v, node 2 %v", base+1, one, two)
			}
			t.Logf("consequence: index %d committed as %v (term %d) by {1,4,5} and as %v (term %d) by {2,3}; leaders %d (term %d) and %d (term %d)",
				base+1, one.Type, one.Term, two.Type, two.Term, 1, cl.cores[1].Term(), 2, cl.cores[2].Term())
		})
	}
}

// logData lists the normal entries' data in c's log.
func logData(c *Core) []string {
	var out []string
	for _, e := range c.log.all() {
		if e.Type == raftpb.EntryNormal {
			out = append(out, string(e.Data))
		}
	}
	return out
}
