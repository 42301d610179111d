package bench

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ProgressSink receives one IntervalStats a second while a run is under
// way, from a single goroutine. It must return quickly.
type ProgressSink interface {
	Progress(s IntervalStats)
}

// Run drives target with cfg's load and returns the summary of the
// measured window (warm-up excluded). The caller fills the Summary's
// environment fields (FillEnvironment) and writes the output
// (WriteResults). sink may be nil. Run never closes target.
func Run(ctx context.Context, cfg RunConfig, target Target, sink ProgressSink) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{
		cfg:    cfg,
		target: target,
		sink:   sink,
		wl:     newWorkload(&cfg),
		rec:    newRecorder(cfg.workers()),
	}
	return r.run(ctx)
}

type runner struct {
	cfg    RunConfig
	target Target
	sink   ProgressSink
	wl     *workload
	rec    *recorder

	start, warmEnd, end time.Time
	next                atomic.Uint64 // open loop: next schedule slot

	statsStart, statsWarm, statsEnd TargetStats
	prevStats                       TargetStats // at the last interval
	series                          []IntervalStats
}

func (r *runner) run(parent context.Context) (*Summary, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	r.statsStart = r.target.Stats()
	r.statsWarm, r.prevStats = r.statsStart, r.statsStart
	r.start = time.Now()
	r.warmEnd = r.start.Add(r.cfg.Warmup)
	r.end = r.warmEnd.Add(r.cfg.Duration)

	var wg sync.WaitGroup
	for i := 0; i < r.cfg.workers(); i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			r.worker(ctx, id)
		}(i)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	r.collect(ctx, cancel, done)
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("run interrupted: %w", err)
	}
	return r.summary(), nil
}

// collect samples once a second until every worker has returned. After
// the end of the run it gives in-flight requests cfg.Drain to finish,
// then cancels them.
func (r *runner) collect(ctx context.Context, cancel context.CancelFunc, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	warm := time.NewTimer(time.Until(r.warmEnd))
	defer warm.Stop()
	endT := time.NewTimer(time.Until(r.end))
	defer endT.Stop()
	var drain <-chan time.Time
	last := r.start
	sec := 0
	flush := func(now time.Time) {
		sec++
		r.interval(sec, last, now)
		last = now
	}
	for {
		select {
		case now := <-tick.C:
			flush(now)
		case <-warm.C:
			r.statsWarm = r.target.Stats()
		case <-endT.C:
			r.statsEnd = r.target.Stats()
			dt := time.NewTimer(r.cfg.drain())
			defer dt.Stop()
			drain = dt.C
		case <-drain:
			cancel() // stragglers become "unfinished" errors
			drain = nil
		case <-done:
			if r.statsEnd == (TargetStats{}) || time.Now().Before(r.end) {
				r.statsEnd = r.target.Stats() // interrupted before the end
			}
			if now := time.Now(); now.Sub(last) > 10*time.Millisecond {
				flush(now)
			}
			return
		case <-ctx.Done():
			// The parent was cancelled; keep waiting for workers, which
			// see the same cancellation.
			ctx = context.Background()
		}
	}
}

func (r *runner) worker(ctx context.Context, id int) {
	gen := r.wl.generator(r.cfg.Seed, id)
	if r.cfg.OpenLoop() {
		r.openWorker(ctx, id, gen)
		return
	}
	r.closedWorker(ctx, id, gen)
}

// closedWorker sends its next request as soon as the last one answers.
func (r *runner) closedWorker(ctx context.Context, id int, gen *generator) {
	done := ctx.Done()
	var s sample
	for {
		select {
		case <-done:
			return
		default:
		}
		now := time.Now()
		if !now.Before(r.end) {
			return
		}
		op, req := gen.next()
		s = sample{op: op, intended: now, sent: now, measured: !now.Before(r.warmEnd)}
		s.res, s.err = r.target.Do(ctx, req)
		s.done = time.Now()
		if s.err != nil && ctx.Err() != nil {
			s.err = context.Canceled
		}
		r.rec.record(id, &s)
	}
}

// openWorker takes the next free slot of the run's fixed schedule
// (slot k is due at start + k/rate), waits for its time, and sends. A
// slot that finds every worker busy goes out late, and its latency still
// counts from when it was due: a stalled target shows up as latency
// instead of vanishing from the figures (coordinated omission).
func (r *runner) openWorker(ctx context.Context, id int, gen *generator) {
	done := ctx.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var s sample
	for {
		intended := r.intended(r.next.Add(1) - 1)
		if !intended.Before(r.end) {
			return
		}
		if !r.waitUntil(done, timer, intended) {
			// Cancelled with this slot claimed but not sent: it counts.
			if !intended.Before(r.warmEnd) {
				s = sample{intended: intended, measured: true, err: context.Canceled}
				r.rec.record(id, &s)
			}
			return
		}
		op, req := gen.next()
		sent := time.Now()
		s = sample{op: op, intended: intended, sent: sent, measured: !intended.Before(r.warmEnd), openLoop: true}
		s.res, s.err = r.target.Do(ctx, req)
		s.done = time.Now()
		if s.err != nil && ctx.Err() != nil {
			s.err = context.Canceled
		}
		r.rec.record(id, &s)
	}
}

// waitUntil sleeps until t; false if done closed first.
func (r *runner) waitUntil(done <-chan struct{}, timer *time.Timer, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	timer.Reset(wait)
	select {
	case <-done:
		return false
	case <-timer.C:
		return true
	}
}

// intended is open-loop slot k's due time.
func (r *runner) intended(k uint64) time.Time {
	return r.start.Add(time.Duration(float64(k) * 1e9 / r.cfg.Rate))
}

// slotsBefore is the number of schedule slots due before t.
func (r *runner) slotsBefore(t time.Time) uint64 {
	ns := 1e9 / r.cfg.Rate
	n := uint64(max(0, math.Ceil(float64(t.Sub(r.start))/ns)))
	for n > 0 && !r.intended(n-1).Before(t) {
		n--
	}
	for r.intended(n).Before(t) {
		n++
	}
	return n
}

// unsentSlots counts measured slots no worker ever claimed because the
// run was cancelled; they are failures, not omissions.
func (r *runner) unsentSlots() uint64 {
	if !r.cfg.OpenLoop() {
		return 0
	}
	lo, hi := r.slotsBefore(r.warmEnd), r.slotsBefore(r.end)
	claimed := min(max(r.next.Load(), lo), hi)
	return hi - claimed
}
