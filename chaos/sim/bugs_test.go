//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// maxSeedsToCatch bounds how many seeds each known bug may survive. The
// fault distributions are tuned so every bug is caught well within it
// while correct code passes thousands of seeds (see results/sim.md); the
// slowest, driver-session-window-short, needs 301 since the seeds also
// draw snapshot streaming faults (chunks cut, crashes mid-transfer),
// which moved every run's events (it needed 152 before).
const maxSeedsToCatch = 400

// TestBugsAreCaught is the proof that the checks have teeth: for each
// known bug (the core's, forget-vote, and the driver's that the runtime
// shares), the simulator with that bug switched on must report a safety
// or linearizability violation within maxSeedsToCatch seeds. It logs how
// many seeds each took and which invariant caught it.
func TestBugsAreCaught(t *testing.T) {
	var table strings.Builder
	table.WriteString("| bug | seeds to catch | first failing seed | caught by |\n| --- | ---: | ---: | --- |\n")
	for _, name := range BugNames() {
		t.Run(name, func(t *testing.T) {
			var opts Options
			if !BugByName(name, &opts) {
				t.Fatalf("unknown bug %q", name)
			}
			for seed := uint64(1); seed <= maxSeedsToCatch; seed++ {
				res := Run(seed, opts)
				f := res.Failure
				if f == nil {
					continue
				}
				if f.Kind != "safety" && f.Kind != "linearizability" {
					t.Fatalf("seed %d: bug %s produced a %s failure, not a safety or linearizability violation: %v", seed, name, f.Kind, f)
				}
				t.Logf("%s caught after %d seeds (seed %d): %v", name, seed, seed, f)
				fmt.Fprintf(&table, "| %s | %d | %d | %s: %s |\n", name, seed, seed, f.Kind, f.Invariant)
				return
			}
			t.Fatalf("bug %s not caught within %d seeds", name, maxSeedsToCatch)
		})
	}
	t.Logf("\n%s", table.String())
	if path := os.Getenv("SIM_BUG_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
