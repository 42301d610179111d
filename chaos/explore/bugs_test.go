//go:build raftbugs

package explore

import (
	"reflect"
	"testing"
)

// TestPlantedBugShortestCounterexample: a planted driver bug is found,
// with the same shortest counterexample on every run, and replaying it
// reproduces the violation.
func TestPlantedBugShortestCounterexample(t *testing.T) {
	cfg := Config{Nodes: 3, MaxDepth: 8, MaxInFlight: 4, MaxProposals: 1, MaxTerm: 2, MaxStates: 100_000,
		Bugs: []string{"driver-apply-uncommitted"}}
	var first *Counterexample
	for run := 0; run < 2; run++ {
		res, err := Run(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cx := res.Counterexample
		if cx == nil {
			t.Fatal("bug not found")
		}
		if cx.Violation.Invariant != InvApplyCommitted || len(cx.Actions) != 5 {
			t.Fatalf("got %s after %d actions:\n%s", cx.Violation.Invariant, len(cx.Actions), cx.Text())
		}
		if first == nil {
			first = cx
		} else if !reflect.DeepEqual(first.Actions, cx.Actions) {
			t.Fatalf("counterexample differs between runs:\n%s\n%s", first.Text(), cx.Text())
		}
	}
	_, v, err := Replay(first)
	if err != nil || v == nil || v.Invariant != InvApplyCommitted {
		t.Fatalf("replay: violation %v, err %v", v, err)
	}
}

// TestCommitPriorTermCaught: the 15-action shortest counterexample for
// commit-prior-term-by-count (BFS, budgets in results/explore.md)
// reproduces leader-commits-own-term on this build.
func TestCommitPriorTermCaught(t *testing.T) {
	cx, err := ReadFile("testdata/commit-prior-term-by-count.json")
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := Replay(cx)
	if err != nil || v == nil || v.Invariant != InvLeaderOwnTerm || len(cx.Actions) != 15 {
		t.Fatalf("replay of %d actions: violation %v, err %v", len(cx.Actions), v, err)
	}
}
