package sim

import "slices"

// FaultFilter numbers the faults a run injects, in the order the seed
// draws them (message drops, duplicates and reorders, client message
// drops, snapshot chunks cut, partitions, crashes, targeted (buggify)
// crashes — after a vote, of a leader, mid snapshot transfer — and
// fsync failures), and lets
// a caller suppress any of them. A suppressed fault is still drawn (the
// seed's random stream is consumed as before up to that point), it just
// does not happen, so the run stays as close as it can to the original.
type FaultFilter struct {
	// Keep says whether fault number k happens; nil keeps every fault.
	Keep func(k int) bool
	// Filled in by the run: every fault drawn, kept or not.
	Drawn []DrawnFault
}

// DrawnFault is one fault the seed drew.
type DrawnFault struct {
	Kind  string
	Event uint64 // the event being handled when it was drawn
	Kept  bool
	// Ordinal is the fault's order among those its event drew (in a
	// replay of a script; see TraceStep.Suppress).
	Ordinal int
}

// Injected counts the faults that happened.
func (f *FaultFilter) Injected() int {
	n := 0
	for _, d := range f.Drawn {
		if d.Kept {
			n++
		}
	}
	return n
}

// fault is called where the seed has just decided to inject a fault of
// kind; it reports whether the fault happens.
func (s *Sim) fault(kind string) bool {
	keep, ord := true, 0
	if s.step != nil {
		ord = s.stepFaults
		s.stepFaults++
		keep = !slices.Contains(s.step.Suppress, ord)
	}
	f := s.opts.Faults
	if f == nil {
		return keep
	}
	k := len(f.Drawn)
	keep = keep && (f.Keep == nil || f.Keep(k))
	f.Drawn = append(f.Drawn, DrawnFault{Kind: kind, Event: s.eventNo, Kept: keep, Ordinal: ord})
	return keep
}
