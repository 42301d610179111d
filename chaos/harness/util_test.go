package harness

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func readHistory(t *testing.T, dir string) []check.Op {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h []check.Op
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// earliestViolation finds, by bisection, the shortest time T such that
// the history as seen at T (ops completed by T, ops still running at T
// indeterminate) is already not linearizable.
func earliestViolation(h []check.Op) time.Duration {
	cut := func(T int64) []check.Op {
		var out []check.Op
		for _, op := range h {
			if op.Call > T {
				continue
			}
			if op.Outcome != check.Info && op.Return > T {
				op.Outcome, op.Return = check.Info, 0
			}
			out = append(out, op)
		}
		return out
	}
	var times []int64
	for _, op := range h {
		if op.Outcome == check.OK {
			times = append(times, op.Return)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	i := sort.Search(len(times), func(i int) bool {
		return check.Check(cut(times[i]), check.Options{Timeout: 5 * time.Second}).Linearizable == check.NotLinearizable
	})
	if i == len(times) {
		return -1
	}
	return time.Duration(times[i])
}
