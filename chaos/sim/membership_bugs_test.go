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
// the budget (SIM_MEMBERSHIP_SEEDS; make membership-sim runs 3000, the
// figures in results/membership.md). It fails only if a
// caught failure is not a safety or linearizability violation.
func TestMembershipBugsConsequences(t *testing.T) {
	budget, err := strconv.ParseUint(os.Getenv("SIM_MEMBERSHIP_SEEDS"), 10, 64)
	if err != nil || budget == 0 {
		t.Skip("set SIM_MEMBERSHIP_SEEDS (make membership-sim: 3000) to measure seeds-to-catch with the rule checks off")
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
