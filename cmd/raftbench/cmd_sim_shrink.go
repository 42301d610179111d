package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/raftbench/raftbench/chaos/sim"
)

// simShrink runs --shrink and --first-bad for one failing seed.
func simShrink(f simFlags, opts sim.Options) error {
	start := time.Now()
	if f.shrink != "" {
		o := opts
		o.Trace, o.TraceEvents = true, 2000
		r, err := sim.Shrink(f.seed, o, 0)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		before, after := r.Original.Failure.Event, r.Reduced.Failure.Event
		fmt.Printf("seed %d fails %s\n", f.seed, r.Invariant)
		fmt.Printf("faults injected: %d -> %d; events to the failure: %d -> %d (%.1f%%); %d runs in %v; one-minimal: %v\n",
			r.OriginalFaults, r.ReducedFaults, before, after, 100*float64(after)/float64(before), r.Runs,
			time.Since(start).Round(time.Millisecond), r.OneMinimal)
		var kept []string
		for i, d := range r.KeptFaults {
			kept = append(kept, fmt.Sprintf("#%d %s at e%d", r.Kept[i], d.Kind, d.Event))
		}
		fmt.Printf("kept faults: %s\n", strings.Join(kept, ", "))
		if len(r.Tuning) > 0 {
			fmt.Printf("schedule tuned: %s\n", strings.Join(r.Tuning, ", "))
		}
		out, err := os.Create(f.shrink)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "# Reduced run of seed %d\n\n", f.seed)
		fmt.Fprintf(out, "`raftbench sim --seed %d --shrink FILE` rebuilds this run (deterministic). It keeps %d of the %d faults the seed injects (every other fault is suppressed) and still fails **%s**, at event %d instead of %d.\n\n",
			f.seed, r.ReducedFaults, r.OriginalFaults, r.Invariant, after, before)
		if len(r.Tuning) > 0 {
			fmt.Fprintf(out, "The seed's drawn parameters are tuned first (a smaller schedule that fails sooner): %s. The parameters below are the tuned ones; fault numbers count the tuned run's draws.\n\n", strings.Join(r.Tuning, ", "))
		}
		fmt.Fprintf(out, "Kept faults (number in the seed's draw order, kind, event drawn): %s\n\n", strings.Join(kept, ", "))
		if err := sim.WriteTrace(out, r.Reduced); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Printf("reduced trace and diagram written to %s\n", f.shrink)
	}
	if f.firstBad {
		fb, err := sim.FindFirstBad(f.seed, opts, 4)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if fb.Faults == 0 {
			fmt.Printf("first bad: before any fault — the failure follows from the seed's scheduling alone (%d runs)\n", fb.Runs)
		} else {
			fmt.Printf("first bad: fault #%d (%s) drawn at event %d — with the first %d faults kept, every continuation tried (%d) still fails (%d runs)\n",
				fb.Faults-1, fb.Kind, fb.Event, fb.Faults, fb.Tries, fb.Runs)
		}
	}
	return nil
}
