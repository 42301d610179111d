//go:build raftbugs

package sim

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestShrinkEventMix measures why a shrunk run still has many events:
// for every bug's first failing seed it counts, by kind, the events up
// to the failure of the original run and of the run with every fault
// suppressed (the floor fault-level shrinking can reach). Writes the
// table to SIM_SHRINK_EVENTS; skipped otherwise.
func TestShrinkEventMix(t *testing.T) {
	if os.Getenv("SIM_SHRINK_EVENTS") == "" {
		t.Skip("set SIM_SHRINK_EVENTS=file to run")
	}
	mix := func(seed uint64, opts Options, keepNone bool) (Result, map[string]int) {
		m := map[string]int{}
		opts.Observer = func(st Step) { m[st.Kind]++ }
		if keepNone {
			opts.Faults = &FaultFilter{Keep: func(int) bool { return false }}
		}
		return Run(seed, opts), m
	}
	show := func(m map[string]int, total int) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] || m[ks[i]] == m[ks[j]] && ks[i] < ks[j] })
		var parts []string
		for _, k := range ks {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(m[k])/float64(total)))
		}
		return strings.Join(parts, ", ")
	}
	var b strings.Builder
	b.WriteString("| bug | seed | original: events to failure (by kind) | every fault suppressed: fails? events (by kind) |\n| --- | ---: | --- | --- |\n")
	for _, name := range BugNames() {
		var opts Options
		BugByName(name, &opts)
		seed, ok := failingSeed(opts)
		if !ok {
			continue
		}
		orig, om := mix(seed, opts, false)
		none, nm := mix(seed, opts, true)
		ot := int(orig.Failure.Event)
		row := fmt.Sprintf("| %s | %d | %d (%s) | ", name, seed, ot, show(om, ot))
		if sameFailure(none, orig.Failure.Kind, orig.Failure.Invariant) && none.Failure.Event <= orig.Failure.Event {
			nt := int(none.Failure.Event)
			row += fmt.Sprintf("yes, %d = %.1f%% (%s) |", nt, 100*float64(nt)/float64(ot), show(nm, nt))
		} else {
			row += "no |"
		}
		b.WriteString(row + "\n")
	}
	t.Logf("\n%s", b.String())
	if err := os.WriteFile(os.Getenv("SIM_SHRINK_EVENTS"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
