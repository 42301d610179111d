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
		r, err := sim.ShrinkTrace(f.seed, o, 0)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		before, after := r.Original.Failure.Event, r.Reduced.Failure.Event
		fmt.Printf("seed %d fails %s\n", f.seed, r.Invariant)
		fmt.Printf("faults injected: %d -> %d; events to the failure: %d -> %d (%.1f%%); %d replays in %v; one-minimal: %v\n",
			r.OriginalFaults, r.ReducedFaults, before, after, 100*float64(after)/float64(before), r.Runs,
			time.Since(start).Round(time.Millisecond), r.OneMinimal)
		var kept []string
		for _, d := range r.Faults {
			kept = append(kept, fmt.Sprintf("%s at step %d", d.Kind, d.Event))
		}
		fmt.Printf("faults kept: %s\n", strings.Join(kept, ", "))
		if len(r.Tuning) > 0 {
			fmt.Printf("schedule tuned before recording: %s (the seed's own trace did not shrink within 10 faults and 10%% of its events)\n", strings.Join(r.Tuning, ", "))
		}
		script := f.shrink + ".json"
		r.Script.Bugs = f.bugs
		if err := r.Script.WriteFile(script); err != nil {
			return err
		}
		out, err := os.Create(f.shrink)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "# Reduced run of seed %d\n\n", f.seed)
		fmt.Fprintf(out, "The seed's run fails **%s** at event %d after %d injected faults. The trace below keeps %d of its %d events, in their order, with %d injected faults, and fails the same invariant. It is replayed through the same cores, drivers, disks and checker: `raftbench sim --replay-trace %s` (the script names its bug switches; a binary built with -tags raftbugs). Events left out never happen (a message never delivered is still in flight when the run fails).\n\n",
			r.Invariant, before, r.OriginalFaults, after, before, r.ReducedFaults, script)
		if len(r.Tuning) > 0 {
			fmt.Fprintf(out, "The seed's drawn parameters were tuned before recording (%s): the seed's own trace did not shrink within 10 faults and 10%% of its events. The tuned run fails the same invariant at event %d; the parameters below are the tuned ones.\n\n", strings.Join(r.Tuning, ", "), r.Recorded.Failure.Event)
		}
		fmt.Fprintf(out, "## Reduced trace (%d steps)\n\n```\n%s```\n\n", len(r.Script.Steps), r.Script)
		fmt.Fprintf(out, "Faults kept: %s\n\n", strings.Join(kept, ", "))
		if err := sim.WriteTrace(out, r.Reduced); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Printf("reduced trace and diagram written to %s, replayable script to %s\n", f.shrink, script)
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

// simReplayTrace replays a script written by --shrink, with the bug
// switches the script names unless --bug names others.
func simReplayTrace(f simFlags, opts sim.Options) error {
	sc, err := sim.ReadScript(f.replayTrace)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if len(f.bugs) == 0 && len(sc.Bugs) > 0 {
		// The bug switches the script was recorded with.
		f.bugs = sc.Bugs
		if opts, err = f.options(); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	opts.Trace, opts.TraceEvents = true, 2000
	res, played := sim.ReplayScript(sc, opts)
	fmt.Printf("replayed %d of %d steps of seed %d's script\n", len(played), len(sc.Steps), sc.Seed)
	if f.trace != "" {
		if err := writeSimTrace(f.trace, res); err != nil {
			return err
		}
	}
	if res.Failure != nil {
		fmt.Printf("FAILED: %v\n", res.Failure)
		return &exitError{code: 1, err: fmt.Errorf("seed %d's script fails %s", sc.Seed, res.Failure.Invariant)}
	}
	fmt.Println("passed")
	return nil
}
