package sim

import (
	"errors"
	"fmt"
	"slices"
)

// tuning is one change the trace shrinker may make to a seed's drawn
// parameters when the seed's own trace does not shrink far enough (see
// ShrinkTrace). Each keeps the same protocol and fault kinds; it makes
// the run smaller (fewer clients and operations), brings the faults
// sooner (shorter gaps between crashes and partitions) or shortens the
// timers (the fewest election ticks the simulator draws).
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

// tuneByNames is the tuning the named changes make, in order.
func tuneByNames(names []string) (func(*Params), error) {
	var ts []tuning
	for _, n := range names {
		i := slices.IndexFunc(tunings, func(t tuning) bool { return t.name == n })
		if i < 0 {
			return nil, fmt.Errorf("sim: unknown schedule tuning %q", n)
		}
		ts = append(ts, tunings[i])
	}
	return func(p *Params) {
		for _, t := range ts {
			t.apply(p)
		}
	}, nil
}

// ErrSeedPasses: ShrinkTrace was given a seed that does not fail.
var ErrSeedPasses = errors.New("sim: the seed passes; nothing to shrink")

// sameFailure: the run fails the same invariant.
func sameFailure(res Result, kind, inv string) bool {
	return res.Failure != nil && res.Failure.Kind == kind && res.Failure.Invariant == inv
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
