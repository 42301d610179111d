//go:build raftbugs

package sim

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestShrinkTraceOneMinimal: the trace shrinker's output fails the same
// invariant as the seed, within the shrink goals for this bug, and is
// one-minimal — the spot check removes each remaining step, and
// suppresses each remaining fault, one at a time, and every such replay
// no longer fails that invariant. The search is deterministic (two
// searches give the same script) and the written script replays to the
// same run.
func TestShrinkTraceOneMinimal(t *testing.T) {
	var opts Options
	BugByName("forget-vote", &opts)
	seed := firstFailingSeed(t, opts)
	r, err := ShrinkTrace(seed, opts, 0)
	if err != nil {
		t.Fatal(err)
	}
	before, after := r.Original.Failure.Event, r.Reduced.Failure.Event
	t.Logf("seed %d: %s; faults %d -> %d, events %d -> %d, %d replays, faults kept %v",
		seed, r.Invariant, r.OriginalFaults, r.ReducedFaults, before, after, r.Runs, r.Faults)
	kind := r.Original.Failure.Kind
	if !sameFailure(r.Reduced, kind, r.Invariant) || r.Reduced.Failure.Invariant != r.Original.Failure.Invariant {
		t.Fatalf("reduced run: %v, original: %v", r.Reduced.Failure, r.Original.Failure)
	}
	if r.ReducedFaults > 10 || after*10 > before {
		t.Fatalf("reduced to %d faults and %d of %d events: the goals are at most 10 faults and 10%%", r.ReducedFaults, after, before)
	}
	if len(r.Faults) == 0 {
		t.Fatalf("the reduced trace injects no fault: pick a bug whose failure needs one, so the fault half of the spot check runs")
	}
	if !r.OneMinimal || int(after) != len(r.Script.Steps) {
		t.Fatalf("one-minimal %v; %d steps, failure at event %d", r.OneMinimal, len(r.Script.Steps), after)
	}
	for i := range r.Script.Steps {
		keep := make([]int, 0, len(r.Script.Steps)-1)
		for j := range r.Script.Steps {
			if j != i {
				keep = append(keep, j)
			}
		}
		if res, _ := ReplayScript(r.Script.Subset(keep), opts); sameFailure(res, kind, r.Invariant) {
			t.Fatalf("without step %d (%s) the replay still fails: not one-minimal", i+1, r.Script.Steps[i].What)
		}
	}
	for _, d := range r.Faults {
		try := r.Script.Subset(nil)
		try.Steps = slices.Clone(r.Script.Steps)
		st := &try.Steps[d.Event-1]
		st.Suppress = append(slices.Clone(st.Suppress), d.Ordinal)
		if res, _ := ReplayScript(try, opts); sameFailure(res, kind, r.Invariant) {
			t.Fatalf("without fault %v the replay still fails: not one-minimal", d)
		}
	}
	// Without the bug, the same trace does not fail at all.
	if res, _ := ReplayScript(r.Script, Options{}); res.Failure != nil && res.Failure.Kind != "harness" {
		t.Fatalf("the reduced trace fails without the bug: %v", res.Failure)
	}
	// Deterministic search; the script file replays to the same run.
	again, err := ShrinkTrace(seed, opts, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Script.Steps) != len(r.Script.Steps) || again.Reduced.TraceHash != r.Reduced.TraceHash {
		t.Fatalf("second search: %d steps, trace %x; first: %d steps, trace %x",
			len(again.Script.Steps), again.Reduced.TraceHash, len(r.Script.Steps), r.Reduced.TraceHash)
	}
	path := filepath.Join(t.TempDir(), "s.json")
	if err := r.Script.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	sc, err := ReadScript(path)
	if err != nil {
		t.Fatal(err)
	}
	if res, played := ReplayScript(sc, opts); res.TraceHash != r.Reduced.TraceHash || len(played) != len(sc.Steps) {
		t.Fatalf("the written script replays %d of %d steps, trace %x; want all, %x", len(played), len(sc.Steps), res.TraceHash, r.Reduced.TraceHash)
	}
}
