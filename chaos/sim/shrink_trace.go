package sim

import (
	"cmp"
	"fmt"
	"slices"
)

// TraceShrinkResult is a failing seed's event trace reduced by
// ShrinkTrace.
type TraceShrinkResult struct {
	Seed      uint64
	Kind      string // the failure's kind and invariant, which the reduced trace still fails
	Invariant string
	// Original is the seed's run and OriginalFaults the faults it
	// injected: what the reduction is measured against.
	Original       Result
	OriginalFaults int
	// Tuning names the changes made to the seed's drawn parameters before
	// recording (none: the seed as drawn); Recorded is the recorded run
	// the reduction started from (the seed's own unless tuned).
	Tuning   []string
	Recorded Result
	// Reduced is the replay of Script, the reduced trace; ReducedFaults
	// counts the faults it injects (the same way as the original's: each
	// message drop, duplicate, reorder, client message drop, snapshot
	// chunk cut, partition, crash, buggify crash and fsync failure), and
	// Faults lists them.
	Reduced       Result
	Script        *Script
	ReducedFaults int
	Faults        []DrawnFault
	// Runs counts the runs and replays the search took; OneMinimal says
	// the search finished: leaving out any single remaining step, or
	// suppressing any single remaining fault, makes the replay pass or
	// fail differently.
	Runs       int
	OneMinimal bool
}

// MeetsGoals: at most 10 injected faults and at most 10% of the
// original run's events.
func (r *TraceShrinkResult) MeetsGoals() bool { return r.misses() == 0 }

func (r *TraceShrinkResult) misses() int {
	m := 0
	if r.ReducedFaults > 10 {
		m++
	}
	if r.Reduced.Failure.Event*10 > r.Original.Failure.Event {
		m++
	}
	return m
}

// better ranks reductions: fewer goals missed, then fewer events, then
// fewer faults.
func (r *TraceShrinkResult) better(o *TraceShrinkResult) bool {
	if a, b := r.misses(), o.misses(); a != b {
		return a < b
	}
	if r.Reduced.Failure.Event != o.Reduced.Failure.Event {
		return r.Reduced.Failure.Event < o.Reduced.Failure.Event
	}
	return r.ReducedFaults < o.ReducedFaults
}

// ShrinkTrace reduces a failing seed's run to a short event trace that
// fails the same invariant. It records the run (Record) and delta-debugs
// the trace: ddmin over its events (every kind may go — timer ticks,
// message deliveries, syncs, client traffic, crashes, partitions), then
// a pass that suppresses the remaining steps' faults one at a time,
// repeated while the fault pass removes something; the result replays
// with ReplayScript. When the seed's own trace does not get within the
// goals (MeetsGoals), the same is done to the seed run with one schedule
// tuning at a time (the tunings that change the run and under which the
// seed still fails the same invariant, shortest run first, at most
// maxTuned of them), and the best
// reduction is returned; it is always measured against the seed's own
// run. maxRuns bounds the replays of each search (0: 20000).
func ShrinkTrace(seed uint64, opts Options, maxRuns int) (*TraceShrinkResult, error) {
	if maxRuns <= 0 {
		maxRuns = 20000
	}
	best, err := shrinkRecorded(seed, opts, nil, maxRuns)
	if err != nil || best.MeetsGoals() {
		return best, err
	}
	type cand struct {
		name  string
		event uint64
	}
	var cands []cand
	runs := best.Runs
	for _, t := range tunings {
		o := opts
		o.Tune, o.Faults, o.Trace, o.Observer = t.apply, nil, false, nil
		res := Run(seed, o)
		runs++
		if sameFailure(res, best.Kind, best.Invariant) && res.TraceHash != best.Original.TraceHash {
			cands = append(cands, cand{t.name, res.Failure.Event})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(a.event, b.event) })
	for i, c := range cands {
		if i == maxTuned {
			break
		}
		r, err := shrinkRecorded(seed, opts, []string{c.name}, maxRuns/maxTuned)
		if err != nil {
			return nil, err
		}
		runs += r.Runs
		if r.better(best) {
			best = r
		}
		if best.MeetsGoals() {
			break
		}
	}
	best.Runs = runs
	return best, nil
}

// maxTuned bounds the tuned runs ShrinkTrace tries.
const maxTuned = 4

// shrinkRecorded is ShrinkTrace on one recording: the seed with the
// named tunings.
func shrinkRecorded(seed uint64, opts Options, tuning []string, maxRuns int) (*TraceShrinkResult, error) {
	o := opts
	all := &FaultFilter{}
	o.Faults, o.Trace, o.Observer = all, false, nil
	orig, sc := record(seed, o, nil)
	if orig.Failure == nil {
		return nil, ErrSeedPasses
	}
	r := &TraceShrinkResult{Seed: seed, Kind: orig.Failure.Kind, Invariant: orig.Failure.Invariant,
		Original: orig, OriginalFaults: all.Injected(), Recorded: orig, Tuning: tuning, Runs: 1}
	if len(tuning) > 0 {
		var tuned Result
		tuned, sc = record(seed, o, tuning)
		r.Runs++
		if !sameFailure(tuned, r.Kind, r.Invariant) {
			return nil, fmt.Errorf("sim: trace shrink of seed %d: tuned by %v it no longer fails %s", seed, tuning, r.Invariant)
		}
		r.Recorded = tuned
	}
	quiet := opts
	quiet.Trace, quiet.Observer, quiet.Faults = false, nil, nil
	script := sc
	for round := 0; ; round++ {
		script, r.OneMinimal = r.shrinkSteps(script, quiet, maxRuns)
		var changed bool
		script, changed = r.shrinkFaults(script, quiet, maxRuns)
		if !changed || round == 9 || r.Runs >= maxRuns {
			r.OneMinimal = r.OneMinimal && !changed && r.Runs < maxRuns
			break
		}
	}
	r.Script = script
	final := opts
	f := &FaultFilter{}
	final.Faults = f
	red, played := ReplayScript(r.Script, final)
	r.Runs++
	if !sameFailure(red, r.Kind, r.Invariant) || len(played) != len(script.Steps) {
		return nil, fmt.Errorf("sim: trace shrink of seed %d: the reduced trace does not replay to the same failure (nondeterminism?)", seed)
	}
	r.Reduced, r.ReducedFaults = red, f.Injected()
	for _, d := range f.Drawn {
		if d.Kept {
			r.Faults = append(r.Faults, d)
		}
	}
	return r, nil
}

// replayFails replays sc and, when it fails the same invariant, returns
// the script of the steps that happened (a step that did not happen
// changes nothing, so it is an equivalent, shorter script).
func (r *TraceShrinkResult) replayFails(sc *Script, opts Options) (*Script, bool) {
	r.Runs++
	res, played := ReplayScript(sc, opts)
	if !sameFailure(res, r.Kind, r.Invariant) {
		return nil, false
	}
	return sc.Subset(played), true
}

// shrinkSteps is the event pass: ddmin over the script's steps. It
// reports whether it finished (the result is one-minimal).
func (r *TraceShrinkResult) shrinkSteps(sc *Script, opts Options, maxRuns int) (*Script, bool) {
	test := func(keep []int) ([]int, bool) {
		r.Runs++
		res, played := ReplayScript(sc.Subset(keep), opts)
		if !sameFailure(res, r.Kind, r.Invariant) {
			return nil, false
		}
		out := make([]int, len(played))
		for i, p := range played {
			out[i] = keep[p]
		}
		return out, true
	}
	cur := make([]int, len(sc.Steps))
	for i := range cur {
		cur[i] = i
	}
	cur, done := ddminSteps(test, cur, &r.Runs, maxRuns)
	return sc.Subset(cur), done
}

// shrinkFaults is the fault pass: the faults the script's replay injects
// (drops, duplicates, crashes... drawn while handling its steps) are
// suppressed one at a time, last first, keeping each suppression under
// which the replay still fails the same invariant. It reports whether
// any was kept.
func (r *TraceShrinkResult) shrinkFaults(sc *Script, opts Options, maxRuns int) (*Script, bool) {
	faults := func(sc *Script) []DrawnFault {
		o := opts
		f := &FaultFilter{}
		o.Faults = f
		r.Runs++
		ReplayScript(sc, o)
		var kept []DrawnFault
		for _, d := range f.Drawn {
			if d.Kept {
				kept = append(kept, d)
			}
		}
		return kept
	}
	changed := false
	list := faults(sc)
	for i := len(list) - 1; i >= 0 && r.Runs < maxRuns; i-- {
		d := list[i]
		if d.Event == 0 {
			continue // drawn while starting the cluster: not a step's
		}
		try := sc.Subset(nil)
		try.Steps = slices.Clone(sc.Steps)
		st := &try.Steps[d.Event-1]
		st.Suppress = append(slices.Clone(st.Suppress), d.Ordinal)
		if got, ok := r.replayFails(try, opts); ok {
			sc, changed = got, true
			list = faults(sc)
			i = min(i, len(list))
		}
	}
	return sc, changed
}

// ddminSteps is delta debugging over trace positions (Zeller's ddmin,
// in the sweeping form): for chunk sizes from half the trace down to 1,
// it sweeps the trace from the back, leaving out each chunk whose
// removal still fails; at chunk size 1 it sweeps until nothing can go,
// so the result is one-minimal. test returns the (possibly shorter)
// equivalent set that happened. Sweeping on after a removal, rather than
// restarting, keeps the number of replays near linear in the trace
// length. It stops at maxRuns (counted in *runs).
func ddminSteps(test func([]int) ([]int, bool), cur []int, runs *int, maxRuns int) ([]int, bool) {
	if len(cur) == 0 {
		return cur, true
	}
	if _, ok := test(nil); ok {
		return nil, true
	}
	c := max(1, len(cur)/2)
	for {
		changed := false
		for end := len(cur); end > 0; {
			if *runs >= maxRuns {
				return cur, false
			}
			start := max(0, end-c)
			rest := append(slices.Clone(cur[:start]), cur[end:]...)
			if got, ok := test(rest); ok {
				// The steps in front of start replay as before, so got
				// keeps them: the sweep goes on at start.
				cur, changed = got, true
			}
			end = start
		}
		if c > 1 {
			c /= 2
			continue
		}
		if !changed {
			return cur, true
		}
	}
}
