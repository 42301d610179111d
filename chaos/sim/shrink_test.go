//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestShrinkEveryBug is the published table's source (SIM_SHRINK_TABLE
// names a file to write it to). Slow: run by `scripts/explore.sh shrink`.
func TestShrinkEveryBug(t *testing.T) {
	if os.Getenv("SIM_SHRINK_TABLE") == "" {
		t.Skip("set SIM_SHRINK_TABLE=file to run (scripts/explore.sh shrink)")
	}
	var table strings.Builder
	table.WriteString("| bug | seed | invariant | faults before → after | events to failure before → after (%) | reduced trace by kind | replays | wall | one-minimal | same trace without the bug | schedule tuning | first bad (faults kept, event, kind) |\n| --- | ---: | --- | ---: | ---: | --- | ---: | ---: | --- | --- | --- | --- |\n")
	for _, name := range BugNames() {
		var opts Options
		BugByName(name, &opts)
		seed, ok := failingSeed(opts)
		if !ok {
			// TestBugsAreCaught reports it; the table says so.
			fmt.Fprintf(&table, "| %s | — | not caught within %d seeds | | | | | | | | | |\n", name, maxSeedsToCatch)
			continue
		}
		start := time.Now()
		r, err := ShrinkTrace(seed, opts, 0) // the command's default cap
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		wall := time.Since(start)
		fb, err := FindFirstBad(seed, opts, 4)
		if err != nil {
			t.Errorf("%s first bad: %v", name, err)
			continue
		}
		kinds := map[string]int{}
		for _, st := range r.Script.Steps {
			kinds[strings.Fields(st.What)[1]]++
		}
		var mix []string
		for k, n := range kinds {
			mix = append(mix, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(mix)
		without := "passes"
		if res, _ := ReplayScript(r.Script, Options{}); res.Failure != nil {
			without = "fails: " + res.Failure.Invariant
		}
		before, after := r.Original.Failure.Event, r.Reduced.Failure.Event
		fmt.Fprintf(&table, "| %s | %d | %s | %d → %d | %d → %d (%.1f%%) | %s | %d | %.1f s | %v | %s | %s | %d, e%d, %s |\n", name, seed, r.Invariant,
			r.OriginalFaults, r.ReducedFaults, before, after, 100*float64(after)/float64(before), strings.Join(mix, ", "), r.Runs,
			wall.Seconds(), r.OneMinimal, without, strings.Join(r.Tuning, ", "), fb.Faults, fb.Event, fb.Kind)
	}
	t.Logf("\n%s", table.String())
	if err := os.WriteFile(os.Getenv("SIM_SHRINK_TABLE"), []byte(table.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
