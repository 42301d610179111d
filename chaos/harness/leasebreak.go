package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// NemesisLeaseBreak is a targeted schedule against lease reads (serve
// clusters only): each start finds the current leader, makes its clock
// run at Config.LeaseBreakRate × real time (0.02 by default: the lease it
// holds, counted on that clock, then lasts 50 times longer in real time
// than the bound it was sized for) and at once isolates it, both ways,
// from every other node; the others elect a new leader and take writes
// while the old one may still believe its lease and answer reads from
// its own, stale, state. The stop heals the links and puts the clock
// right. With lease reads and a rate outside the bound the checker must
// find the stale reads (a test shows it does); with a rate within the
// bound, or without lease reads, the same schedule must stay
// linearizable. It replaces the partition nemesis's grudge while it
// holds, so run it without the partition nemesis.
const NemesisLeaseBreak = "lease-break"

// leaseBreak applies one lease-break event.
func (r *run) leaseBreak(ctx context.Context, e Event, start bool) error {
	s := r.cluster.serveTarget()
	if s == nil {
		return errors.New("lease-break needs a serve cluster")
	}
	if !start {
		r.net.setGrudge(nil)
		if victim := s.takeLeaseVictim(); victim != "" {
			r.cluster.faultLine(victim, map[string]any{"fault": "clock", "mode": "ok"})
		}
		return nil
	}
	leader := s.leader(ctx)
	if leader == "" {
		return errors.New("lease-break: no leader to isolate")
	}
	r.cluster.faultLine(leader, map[string]any{"fault": "clock", "mode": "drift", "rate": e.Rate})
	grudge := map[string][]string{}
	for _, n := range r.cluster.names {
		if n != leader {
			grudge[leader] = append(grudge[leader], n)
			grudge[n] = []string{leader}
		}
	}
	// The fault line goes out before the cut; give the node a moment to
	// take it, so the lease it holds is counted on the slow clock.
	time.Sleep(20 * time.Millisecond)
	r.net.setGrudge(grudge)
	s.noteLeaseVictim(leader, time.Since(r.start))
	fmt.Fprintf(r.cfg.Log, "chaos: lease-break: leader %s's clock at x%.3f, isolated\n", leader, e.Rate)
	return nil
}

// drawBoundedClock draws a clock fault within a lease's bound: a drift
// between 1/(1+bound) and 1+bound, or a forward jump (which only
// shortens a lease).
func drawBoundedClock(rng *rand.Rand, bound float64, e *Event) {
	if rng.IntN(2) == 0 {
		e.Mode, e.OffsetMs = ClockJump, (1+rng.Int64N(60))*1000
		return
	}
	lo, hi := 1/(1+bound), 1+bound
	e.Mode, e.Rate = ClockDrift, lo+rng.Float64()*(hi-lo)
}

func (c *cluster) serveTarget() *serveCluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serve
}

// LeaseBreak is one isolated leader in the summary.
type LeaseBreak struct {
	AtMs   float64 `json:"at_ms"`
	Leader string  `json:"leader"`
}
