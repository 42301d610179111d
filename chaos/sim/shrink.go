package sim

import (
	"errors"
	"fmt"
	"slices"
)

// ShrinkResult is a failing seed reduced by Shrink.
type ShrinkResult struct {
	Seed      uint64
	Invariant string // the invariant every reduced run still fails
	// Original and Reduced are the runs before and after; OriginalFaults
	// and ReducedFaults the faults each injected.
	Original, Reduced             Result
	OriginalFaults, ReducedFaults int
	// Kept lists the original run's fault numbers the reduced run keeps
	// (every other fault the seed draws is suppressed), and KeptFaults
	// what they were.
	Kept       []int
	KeptFaults []DrawnFault
	// Runs counts the simulator runs the search took; OneMinimal says
	// the search finished (removing any single kept fault makes the
	// failure go away or change) rather than hitting MaxRuns.
	Runs       int
	OneMinimal bool
	// Tuning lists the schedule changes the reduced run makes to the
	// seed's parameters (Tuned applies them), in the order found; the
	// reduced run is Run(Seed) with opts.Tune = Tuned.
	Tuning []string
	Tuned  func(*Params)
	// Deadline is the event by which every reduced run had to fail: the
	// original's failure event, or the tuned schedule's if earlier.
	Deadline uint64
}

// tuning is one change the schedule pass may make to a seed's drawn
// parameters. Each keeps the same protocol and fault kinds; it makes
// the run smaller (fewer clients and operations) or brings the faults
// sooner (shorter gaps between crashes and partitions, slower clocks
// so fewer ticks pass per unit of virtual time).
type tuning struct {
	name  string
	apply func(*Params)
}

var tunings = []tuning{
	{"one client", func(p *Params) { p.Clients = 1 }},
	{"clients halved", func(p *Params) { p.Clients = max(1, p.Clients/2) }},
	{"crash gap /4", func(p *Params) { p.CrashGapUs = max(p.CrashGapUs/4, 1000) }},
	{"partition gap /4", func(p *Params) { p.PartGapUs = max(p.PartGapUs/4, 1000) }},
	{"restart delay /4", func(p *Params) {
		p.RestartMinUs, p.RestartMaxUs = max(p.RestartMinUs/4, 1000), max(p.RestartMaxUs/4, 1000)
	}},
	{"think time x4", func(p *Params) { p.ThinkMaxUs *= 4 }},
	{"buggify x4", func(p *Params) {
		p.BuggifyVotePermille, p.BuggifyLeaderPermille = min(1000, 4*p.BuggifyVotePermille), min(1000, 4*p.BuggifyLeaderPermille)
	}},
	{"election ticks min", func(p *Params) { p.ElectionTicks = 6 }},
	{"latency /4", func(p *Params) { p.LatMinUs, p.LatMaxUs = max(p.LatMinUs/4, 50), max(p.LatMaxUs/4, 100) }},
	{"partitions /4 as long", func(p *Params) { p.PartDurUs = max(p.PartDurUs/4, 1000) }},
	{"no leadership transfers", func(p *Params) { p.TransferGapUs = 0 }},
	{"no membership changes", func(p *Params) { p.ConfGapUs = 0 }},
	{"no compaction", func(p *Params) { p.SnapEvery = 0 }},
	{"3 nodes", func(p *Params) {
		if p.Spares == 0 && p.Nodes > 3 {
			p.Nodes, p.MaxDown = 3, min(p.MaxDown, 1)
		}
	}},
}

// tuneSchedule is the shrinker's first pass: it greedily applies every
// tuning under which the seed still fails the same invariant at an
// earlier event, until none helps (at most rounds passes). Fault-level
// delta debugging cannot shorten a run much by itself: most events are
// ticks, deliveries and client traffic that happen whatever the faults,
// and a failure needs its faults to come at their drawn virtual times.
func tuneSchedule(seed uint64, opts Options, kind, inv string, at uint64, runs *int, maxRuns int) ([]string, []tuning, uint64) {
	var names []string
	var chosen []tuning
	with := func(ts []tuning) func(*Params) {
		return func(p *Params) {
			for _, t := range ts {
				t.apply(p)
			}
		}
	}
	for round := 0; round < 3; round++ {
		better := false
		for _, t := range tunings {
			if *runs >= maxRuns/2 {
				return names, chosen, at
			}
			try := append(slices.Clone(chosen), t)
			o := opts
			o.Tune = with(try)
			*runs++
			res := Run(seed, o)
			if sameFailure(res, kind, inv) && res.Failure.Event < at {
				chosen, at, better = try, res.Failure.Event, true
				names = append(names, t.name)
			}
		}
		if !better {
			break
		}
	}
	return names, chosen, at
}

// ErrSeedPasses: Shrink was given a seed that does not fail.
var ErrSeedPasses = errors.New("sim: the seed passes; nothing to shrink")

// sameFailure: the run fails the same invariant.
func sameFailure(res Result, kind, inv string) bool {
	return res.Failure != nil && res.Failure.Kind == kind && res.Failure.Invariant == inv
}

// stillFails is the shrinker's test: the same invariant fails, no later
// than at event by (so the reduced trace is never longer).
func stillFails(res Result, kind, inv string, by uint64) bool {
	return sameFailure(res, kind, inv) && res.Failure.Event <= by
}

// runKeeping runs seed with only the faults numbered in keep.
func runKeeping(seed uint64, opts Options, keep []int) (Result, *FaultFilter) {
	set := make(map[int]bool, len(keep))
	for _, k := range keep {
		set[k] = true
	}
	f := &FaultFilter{Keep: func(k int) bool { return set[k] }}
	opts.Faults = f
	return Run(seed, opts), f
}

// Shrink reduces a failing seed's fault schedule by delta debugging
// (Zeller's ddmin) over the faults the seed injects: it looks for a
// small set of them that, with every other fault suppressed, still
// fails the same invariant, no later than the original run did.
// maxRuns bounds the simulator runs (0: 2000).
func Shrink(seed uint64, opts Options, maxRuns int) (*ShrinkResult, error) {
	if maxRuns <= 0 {
		maxRuns = 2000
	}
	all := &FaultFilter{}
	o := opts
	o.Faults = all
	orig := Run(seed, o)
	if orig.Failure == nil {
		return nil, ErrSeedPasses
	}
	kind, inv := orig.Failure.Kind, orig.Failure.Invariant
	r := &ShrinkResult{Seed: seed, Invariant: inv, Original: orig, OriginalFaults: all.Injected(), Runs: 1}
	// Pass 1: a smaller schedule that fails sooner.
	names, chosen, _ := tuneSchedule(seed, opts, kind, inv, orig.Failure.Event, &r.Runs, maxRuns)
	// Pass 2: ddmin over the faults, of the seed as drawn and, if pass 1
	// found one, of the tuned schedule; the smaller result wins (a
	// schedule that fails sooner sometimes needs more faults).
	plain, err := ddminFaults(seed, opts, kind, inv, orig.Failure.Event, all.Drawn, &r.Runs, maxRuns-(maxRuns-r.Runs)/2*boolInt(len(chosen) > 0))
	if err != nil {
		return nil, err
	}
	best := plain
	if len(chosen) > 0 {
		tune := func(p *Params) {
			for _, t := range chosen {
				t.apply(p)
			}
		}
		o := opts
		o.Tune = tune
		tall := &FaultFilter{}
		o.Faults = tall
		tuned := Run(seed, o)
		r.Runs++
		if !stillFails(tuned, kind, inv, orig.Failure.Event) {
			return nil, fmt.Errorf("sim: shrink of seed %d: the tuned schedule no longer fails %s (nondeterminism?)", seed, inv)
		}
		o.Faults = nil
		t, err := ddminFaults(seed, o, kind, inv, tuned.Failure.Event, tall.Drawn, &r.Runs, maxRuns)
		if err != nil {
			return nil, err
		}
		if t.better(plain, orig.Failure.Event) {
			best = t
			r.Tuning, r.Tuned = names, tune
		}
	}
	r.Reduced, r.ReducedFaults, r.Kept, r.KeptFaults, r.OneMinimal, r.Deadline = best.red, best.injected, best.keep, best.kept, best.oneMinimal, best.by
	return r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// reduction is one ddmin result.
type reduction struct {
	keep       []int
	kept       []DrawnFault
	red        Result
	injected   int
	oneMinimal bool
	by         uint64
}

// better ranks reductions by the shrink goals: at most 10 faults, at
// most 10% of the original events; then fewer faults, then fewer events.
func (a reduction) better(b reduction, orig uint64) bool {
	miss := func(r reduction) int {
		m := 0
		if r.injected > 10 {
			m++
		}
		if r.red.Failure.Event*10 > orig {
			m++
		}
		return m
	}
	if ma, mb := miss(a), miss(b); ma != mb {
		return ma < mb
	}
	if a.injected != b.injected {
		return a.injected < b.injected
	}
	return a.red.Failure.Event < b.red.Failure.Event
}

// ddminFaults is Zeller's ddmin over a run's drawn faults: the smallest
// set it finds that, every other fault suppressed, still fails the same
// invariant by event by. It stops at maxRuns (counted in *runs).
func ddminFaults(seed uint64, opts Options, kind, inv string, by uint64, drawn []DrawnFault, runs *int, maxRuns int) (reduction, error) {
	test := func(keep []int) bool {
		*runs++
		res, _ := runKeeping(seed, opts, keep)
		return stillFails(res, kind, inv, by)
	}
	cur := make([]int, len(drawn))
	for i := range cur {
		cur[i] = i
	}
	var r reduction
	// ddmin: try removing chunks, halving the chunk size when nothing
	// can go; finished at chunk size 1 (one-minimal).
	n := 2
	if test(nil) {
		cur = nil // no fault needed at all
	}
	for len(cur) >= 2 && *runs < maxRuns {
		chunk := (len(cur) + n - 1) / n
		removed, tried := false, 0
		for start := 0; start < len(cur) && *runs < maxRuns; start += chunk {
			tried++
			end := min(start+chunk, len(cur))
			rest := append(slices.Clone(cur[:start]), cur[end:]...)
			if test(rest) {
				cur = rest
				n = max(n-1, 2)
				removed = true
				break
			}
		}
		if removed {
			continue
		}
		if chunk == 1 {
			// Every single fault was tried and none could go.
			r.oneMinimal = tried == len(cur)
			break
		}
		n = min(2*n, len(cur))
	}
	if len(cur) <= 1 && *runs < maxRuns {
		r.oneMinimal = len(cur) == 0 || !test(nil)
	}
	red, f := runKeeping(seed, opts, cur)
	*runs++
	if !stillFails(red, kind, inv, by) {
		return r, fmt.Errorf("sim: shrink of seed %d: the reduced schedule no longer fails %s (nondeterminism?)", seed, inv)
	}
	r.red, r.injected, r.keep, r.by = red, f.Injected(), cur, by
	for _, k := range cur {
		if k < len(drawn) {
			r.kept = append(r.kept, drawn[k])
		}
	}
	return r, nil
}

// FirstBad is the earliest point of a failing run after which every
// continuation tried still fails.
type FirstBad struct {
	// Faults is the number of the seed's first faults kept; every later
	// fault is suppressed (and, in the tries, some kept again).
	Faults int
	// Event is the event at which the last of those faults was drawn
	// (0 when no fault is needed: the failure is inevitable from the
	// start under this seed's scheduling).
	Event uint64
	Kind  string // that fault's kind
	Tries int    // continuations tried at the reported point
	Runs  int
}

// FindFirstBad looks for the smallest prefix of the seed's faults such
// that the run still fails the same invariant when every later fault is
// suppressed, and when each of tries random halves of the later faults
// is kept instead (seedfall's "cause": after it, the failure no longer
// depends on what the faults do). Binary search over the prefix length,
// then the continuations are checked at the point found, moving later
// until they all fail.
func FindFirstBad(seed uint64, opts Options, tries int) (*FirstBad, error) {
	all := &FaultFilter{}
	o := opts
	o.Faults = all
	orig := Run(seed, o)
	if orig.Failure == nil {
		return nil, ErrSeedPasses
	}
	kind, inv := orig.Failure.Kind, orig.Failure.Invariant
	total := len(all.Drawn)
	fb := &FirstBad{Runs: 1, Tries: tries}
	prefix := func(p int, extra func(k int) bool) bool {
		fb.Runs++
		f := &FaultFilter{Keep: func(k int) bool { return k < p || (extra != nil && k < total && extra(k)) }}
		o := opts
		o.Faults = f
		return sameFailure(Run(seed, o), kind, inv)
	}
	lo, hi := 0, total // prefix(hi) fails (the original run)
	for lo < hi {
		mid := (lo + hi) / 2
		if prefix(mid, nil) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	p := lo
	r := newRNG(seed ^ 0x9e3779b97f4a7c15)
	for ; p < total; p++ {
		ok := true
		for t := 0; t < tries && ok; t++ {
			salt := r.Uint64()
			ok = prefix(p, func(k int) bool { return (uint64(k)*0x9e3779b97f4a7c15^salt)>>63 == 1 })
		}
		if ok && prefix(p, nil) {
			break
		}
	}
	fb.Faults = p
	if p > 0 && p <= total {
		fb.Event, fb.Kind = all.Drawn[p-1].Event, all.Drawn[p-1].Kind
	}
	return fb, nil
}
