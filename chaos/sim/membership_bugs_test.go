//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestMembershipBugsConsequences runs the two membership bug switches
// with the append-time membership rule checks off (ConsequencesOnly), so
// only the end-to-end invariants can catch them, and reports how many
// seeds each took and which invariant caught it, or that none did within
// the budget (SIM_MEMBERSHIP_SEEDS, default 200; the published figures
// in results/membership.md use a larger budget). It fails only if a
// caught failure is not a safety or linearizability violation.
func TestMembershipBugsConsequences(t *testing.T) {
	budget := uint64(200)
	if v, err := strconv.ParseUint(os.Getenv("SIM_MEMBERSHIP_SEEDS"), 10, 64); err == nil && v > 0 {
		budget = v
	}
	var table strings.Builder
	table.WriteString("| bug (rule checks off) | seeds run | first failing seed | caught by |\n| --- | ---: | ---: | --- |\n")
	for _, name := range []string{"conf-change-before-term-commit", "joint-leave-early"} {
		opts := Options{ConsequencesOnly: true}
		if !BugByName(name, &opts) {
			t.Fatalf("unknown bug %q", name)
		}
		caught := false
		for seed := uint64(1); seed <= budget && !caught; seed++ {
			f := Run(seed, opts).Failure
			if f == nil {
				continue
			}
			if f.Kind != "safety" && f.Kind != "linearizability" {
				t.Fatalf("%s seed %d: a %s failure, not a safety or linearizability violation: %v", name, seed, f.Kind, f)
			}
			t.Logf("%s caught at seed %d: %v", name, seed, f)
			fmt.Fprintf(&table, "| %s | %d | %d | %s: %s |\n", name, seed, seed, f.Kind, f.Invariant)
			caught = true
		}
		if !caught {
			fmt.Fprintf(&table, "| %s | %d | none | not caught |\n", name, budget)
		}
	}
	t.Logf("\n%s", table.String())
	if path := os.Getenv("SIM_MEMBERSHIP_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
