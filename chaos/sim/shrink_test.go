//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// failingSeed finds the bug's first failing seed, if any within
// maxSeedsToCatch.
func failingSeed(opts Options) (uint64, bool) {
	for seed := uint64(1); seed <= maxSeedsToCatch; seed++ {
		if Run(seed, opts).Failure != nil {
			return seed, true
		}
	}
	return 0, false
}

func firstFailingSeed(t *testing.T, opts Options) uint64 {
	seed, ok := failingSeed(opts)
	if !ok {
		t.Fatalf("no failing seed within %d", maxSeedsToCatch)
	}
	return seed
}

// TestShrinkOneMinimal: the shrinker's output still fails the same
// invariant, and removing any one of its kept faults does not (the
// one-minimality spot check), for one core bug whose failure needs
// some faults (so the check has something to remove).
func TestShrinkOneMinimal(t *testing.T) {
	var opts Options
	BugByName("vote-ignores-log", &opts)
	seed := firstFailingSeed(t, opts)
	r, err := Shrink(seed, opts, 400)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: %s; tuning %v; faults %d -> %d, events %d -> %d, %d runs, kept %v",
		seed, r.Invariant, r.Tuning, r.OriginalFaults, r.ReducedFaults, r.Original.Failure.Event, r.Reduced.Failure.Event, r.Runs, r.KeptFaults)
	if !stillFails(r.Reduced, r.Original.Failure.Kind, r.Invariant, r.Deadline) || r.Deadline > r.Original.Failure.Event {
		t.Fatalf("reduced run: %v", r.Reduced.Failure)
	}
	if r.ReducedFaults > r.OriginalFaults {
		t.Fatalf("reduced run injects %d faults, more than the original %d", r.ReducedFaults, r.OriginalFaults)
	}
	if len(r.Kept) == 0 {
		t.Fatalf("seed %d fails without any fault: pick a bug whose failure needs faults", seed)
	}
	if !r.OneMinimal {
		t.Fatalf("search stopped before one-minimality after %d runs", r.Runs)
	}
	tuned := opts
	tuned.Tune = r.Tuned
	for i := range r.Kept {
		smaller := append(append([]int(nil), r.Kept[:i]...), r.Kept[i+1:]...)
		if res, _ := runKeeping(seed, tuned, smaller); stillFails(res, r.Original.Failure.Kind, r.Invariant, r.Deadline) {
			t.Fatalf("without kept fault %d (%v) the run still fails: not one-minimal", r.Kept[i], r.KeptFaults[i])
		}
	}
}

// TestShrinkEveryBug is the published table's source (SIM_SHRINK_TABLE
// names a file to write it to). Slow: run by `make shrink`.
func TestShrinkEveryBug(t *testing.T) {
	if os.Getenv("SIM_SHRINK_TABLE") == "" {
		t.Skip("set SIM_SHRINK_TABLE=file to run (make shrink)")
	}
	var table strings.Builder
	table.WriteString("| bug | seed | invariant | faults before → after | events to failure before → after (%) | runs | one-minimal | first bad (faults kept, event, kind) | schedule tuning |\n| --- | ---: | --- | ---: | ---: | ---: | --- | --- | --- |\n")
	for _, name := range BugNames() {
		var opts Options
		BugByName(name, &opts)
		seed, ok := failingSeed(opts)
		if !ok {
			// TestBugsAreCaught reports it; the table says so.
			fmt.Fprintf(&table, "| %s | — | not caught within %d seeds | | | | | | |\n", name, maxSeedsToCatch)
			continue
		}
		r, err := Shrink(seed, opts, 0) // the command's default cap (2000 runs)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		fb, err := FindFirstBad(seed, opts, 4)
		if err != nil {
			t.Errorf("%s first bad: %v", name, err)
			continue
		}
		before, after := r.Original.Failure.Event, r.Reduced.Failure.Event
		fmt.Fprintf(&table, "| %s | %d | %s | %d → %d | %d → %d (%.1f%%) | %d | %v | %d, e%d, %s | %s |\n", name, seed, r.Invariant,
			r.OriginalFaults, r.ReducedFaults, before, after, 100*float64(after)/float64(before), r.Runs, r.OneMinimal, fb.Faults, fb.Event, fb.Kind,
			strings.Join(r.Tuning, ", "))
	}
	t.Logf("\n%s", table.String())
	if err := os.WriteFile(os.Getenv("SIM_SHRINK_TABLE"), []byte(table.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
