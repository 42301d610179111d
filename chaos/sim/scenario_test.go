//go:build raftbugs

package sim

import (
	"testing"

	"github.com/raftbench/raftbench/engine"
)

// scriptedSim is one simulator run with its fault generators off and a
// script that acts between events instead: a fixed schedule, judged by
// the simulator's own invariants (election safety, leader completeness,
// state machine safety, disjoint majorities, the client history).
func scriptedSim(t *testing.T, nodes, spares int, opts Options, script func(s *Sim) bool) Result {
	t.Helper()
	const seed = 1
	r := newRNG(seed)
	p := drawParams(seed, r)
	p.Nodes, p.Spares = nodes, spares
	p.TickSkewPermille = make([]int, nodes+spares)
	p.PreVote, p.CheckQuorum = true, true
	p.PartGapUs, p.CrashGapUs = 1<<50, 1<<50
	p.DropPermille, p.DupPermille, p.ReorderPermille, p.ClientDropPermille, p.LatTailPermille = 0, 0, 0, 0, 0
	p.FsyncFailPermille, p.FsyncSlowPermille, p.BuggifyVotePermille, p.BuggifyLeaderPermille, p.FlipPermille = 0, 0, 0, 0, 0
	p.TransferGapUs, p.ConfGapUs, p.SnapEvery, p.SnapCutPermille, p.SnapCrashPermille = 0, 0, 0, 0, 0
	p.FaultPhaseUs = 20_000_000
	s := newSim(p, r, opts)
	s.bootstrap()
	done := false
	for s.failure == nil && s.phase != phaseDone {
		e := s.q.pop()
		if e == nil {
			t.Fatal("event queue empty")
		}
		s.now = e.at
		s.eventNo++
		if s.eventNo > 2_000_000 {
			t.Fatal("scripted run did not end")
		}
		s.tr.record(s.eventNo, e)
		s.dispatch(e)
		s.chk.afterEvent(s)
		if s.failure == nil && !done {
			done = script(s)
		}
	}
	if s.failure == nil {
		s.checkHistory()
	}
	if !done && s.failure == nil {
		t.Fatal("the script did not run to its end")
	}
	return s.result()
}

// cutBetween blocks the links both ways between every node of a and
// every node of b (indexes).
func (s *Sim) cutBetween(a, b []int) {
	n := s.p.procs()
	if s.cut == nil {
		s.cut = make([]bool, n*n)
	}
	for _, x := range a {
		for _, y := range b {
			s.cut[x*n+y], s.cut[y*n+x] = true, true
		}
	}
}

// TestSingleServerBugScenario is the single-server change bug (Ongaro
// 2015) on a fixed schedule in the simulator, with the append-time rule
// checks off, so that the simulator's end-to-end invariants must catch
// it: leader L of {1,2,3,4} appends "add 5", which reaches only 5; L and
// 5 are cut off; X is elected by the three others and its first appends
// reach only Y; X appends "remove L" before its term's no-op has
// committed under {1,2,3,4} (the bug), and {X,Y} commit it; then X and Y
// are cut off, and L is elected by {L,Z,5}, a majority of its
// configuration {1,...,5}, without the entries {X,Y} committed. On the
// correct core X's change is refused and the same schedule ends clean.
func TestSingleServerBugScenario(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(map[bool]string{true: "bug", false: "correct"}[bug], func(t *testing.T) {
			opts := Options{ConsequencesOnly: true}
			if bug {
				opts.EngineBugs = []engine.Bug{engine.BugConfChangeBeforeTermCommit}
			}
			step, l, x, y, z := 0, -1, -1, -1, -1
			var addIdx, removeIdx uint64
			refused := false
			res := scriptedSim(t, 4, 1, opts, func(s *Sim) bool {
				switch step {
				case 0: // a settled leader: cut it off from all but node 5, propose "add 5"
					li := s.currentLeader()
					if li < 0 || li == 4 || s.nodes[li].commit == 0 {
						return false
					}
					l = li
					var others []int
					for i := 0; i < 4; i++ {
						if i != l {
							others = append(others, i)
						}
					}
					x, y, z = others[0], others[1], others[2]
					s.cutBetween([]int{l}, others)
					n := s.nodes[l]
					if err := n.core.ProposeConfChange(engine.Change(engine.AddVoter, 5)); err != nil {
						t.Fatalf("add 5: %v", err)
					}
					addIdx = n.core.Status().LastIndex
					s.drive(n)
					step++
				case 1: // "add 5" reached 5: cut L and 5 off from the rest
					if s.nodes[4].view.last() < addIdx {
						return false
					}
					s.cutBetween([]int{l, 4}, []int{x, y, z})
					step++
				case 2: // a new leader among the rest: its appends reach one follower only
					li := s.currentLeader()
					if li < 0 || li == l || li == 4 || s.nodes[li].term <= s.nodes[l].term {
						return false
					}
					x = li
					var rest []int
					for _, i := range []int{0, 1, 2, 3} {
						if i != l && i != x {
							rest = append(rest, i)
						}
					}
					y, z = rest[0], rest[1]
					s.cutBetween([]int{x}, []int{z})
					n := s.nodes[x]
					err := n.core.ProposeConfChange(engine.Change(engine.RemoveVoter, uint64(l+1)))
					if err != nil {
						if bug {
							t.Fatalf("remove %d with the bug on: %v", l+1, err)
						}
						refused = true
						return true // the correct core refuses: nothing more to show
					}
					removeIdx = n.core.Status().LastIndex
					s.drive(n)
					step++
				case 3: // {X,Y} committed it: now cut X and Y off, L with Z and 5
					if s.nodes[x].commit < removeIdx {
						return false
					}
					s.cut = nil
					s.cutBetween([]int{x, y}, []int{l, z, 4})
					step++
					return true
				}
				return false
			})
			f := res.Failure
			if !bug {
				if !refused {
					t.Fatal("correct core: the new leader's change before its term's first commit was not refused")
				}
				if f != nil {
					t.Fatalf("correct core failed: %v", f)
				}
				return
			}
			if f == nil {
				t.Fatalf("bug: the scenario ended without a violation (add at %d, remove at %d)", addIdx, removeIdx)
			}
			if f.Kind != "safety" && f.Kind != "linearizability" {
				t.Fatalf("bug: a %s failure: %v", f.Kind, f)
			}
			t.Logf("bug caught by the end-to-end invariants: %v", f)
		})
	}
}

// TestJointLeaveEarlyScenario: leader L of {1,2,3}, cut off from the two
// other voters but not from spares 4 and 5, replaces the two by 4 and 5
// through a joint configuration. With the bug the leave entry follows at
// once, so {L,4,5} commit the change alone; the two cut-off voters, a
// majority of the old configuration, elect a leader and commit too. The
// simulator's invariants must catch the two sides deciding apart (rule
// checks off). On the correct core nothing commits on L's side.
func TestJointLeaveEarlyScenario(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(map[bool]string{true: "bug", false: "correct"}[bug], func(t *testing.T) {
			opts := Options{ConsequencesOnly: true}
			if bug {
				opts.EngineBugs = []engine.Bug{engine.BugJointLeaveEarly}
			}
			step, l := 0, -1
			var enterIdx uint64
			res := scriptedSim(t, 3, 2, opts, func(s *Sim) bool {
				switch step {
				case 0:
					li := s.currentLeader()
					if li < 0 || li > 2 || s.nodes[li].commit == 0 {
						return false
					}
					l = li
					var old []int
					for i := 0; i < 3; i++ {
						if i != l {
							old = append(old, i)
						}
					}
					s.cutBetween([]int{l, 3, 4}, old)
					cc := engine.ConfChange{Changes: []engine.ConfChangeSingle{
						{Type: engine.AddVoter, Node: 4}, {Type: engine.AddVoter, Node: 5},
						{Type: engine.RemoveVoter, Node: uint64(old[0] + 1)}, {Type: engine.RemoveVoter, Node: uint64(old[1] + 1)}}}
					n := s.nodes[l]
					if err := n.core.ProposeConfChange(cc); err != nil {
						t.Fatalf("replace: %v", err)
					}
					enterIdx = n.core.Status().LastIndex
					s.drive(n)
					step++
					return true // the partition stays until the fault phase ends
				}
				return false
			})
			f := res.Failure
			if !bug {
				if f != nil {
					t.Fatalf("correct core failed: %v", f)
				}
				return
			}
			if f == nil {
				t.Fatalf("bug: the scenario ended without a violation (joint entered at %d)", enterIdx)
			}
			if f.Kind != "safety" && f.Kind != "linearizability" {
				t.Fatalf("bug: a %s failure: %v", f.Kind, f)
			}
			t.Logf("bug caught by the end-to-end invariants: %v", f)
		})
	}
}
