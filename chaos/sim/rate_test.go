//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBugCatchRates measures, for each known bug, how many of seeds
// 1..N catch it and by which invariant (results/sim.md). Opt-in:
//
//	SIM_BUG_RATE_SEEDS=300 go test -tags raftbugs -run TestBugCatchRates -v ./chaos/sim
func TestBugCatchRates(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SIM_BUG_RATE_SEEDS"))
	if n <= 0 {
		t.Skip("set SIM_BUG_RATE_SEEDS")
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| bug | seeds failing (of %d) | by invariant |\n| --- | ---: | --- |\n", n)
	for _, name := range BugNames() {
		var opts Options
		BugByName(name, &opts)
		byKind := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		seeds := make(chan uint64)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seed := range seeds {
					if f := Run(seed, opts).Failure; f != nil {
						mu.Lock()
						byKind[f.Kind+": "+f.Invariant]++
						mu.Unlock()
					}
				}
			}()
		}
		for s := uint64(1); s <= uint64(n); s++ {
			seeds <- s
		}
		close(seeds)
		wg.Wait()
		kinds := make([]string, 0, len(byKind))
		total := 0
		for k, v := range byKind {
			kinds = append(kinds, fmt.Sprintf("%s (%d)", k, v))
			total += v
		}
		sort.Strings(kinds)
		fmt.Fprintf(&table, "| %s | %d | %s |\n", name, total, strings.Join(kinds, "; "))
	}
	t.Logf("\n%s", table.String())
}
