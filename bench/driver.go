package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// ProgressSink receives one IntervalStats a second while a run is under
// way, from a single goroutine. It must return quickly.
type ProgressSink interface {
	Progress(s IntervalStats)
}

// Run drives target with cfg's load and returns the summary of the
// measured window (warm-up excluded). The caller fills the Summary's
// environment fields (FillEnvironment) and writes the output
// (bench/report.WriteResults). sink may be nil. Run never closes target.
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
	r.rec.expectKinds(cfg.Mix.fractions())
	if cfg.History != nil {
		r.hist = newHistoryRecorder(cfg.History, cfg.Keys, r.wl)
	}
	if cfg.Preload {
		t0 := time.Now()
		if err := r.preload(ctx); err != nil {
			return nil, err
		}
		r.preloadTime = time.Since(t0)
	}
	if cfg.AfterPreload != nil {
		if err := cfg.AfterPreload(); err != nil {
			return nil, err
		}
	}
	return r.run(ctx)
}

type runner struct {
	cfg    RunConfig
	target Target
	sink   ProgressSink
	wl     *workload
	rec    *recorder
	hist   *historyRecorder // nil unless cfg.History
	// second is the collector's bucket for the second just ended, reused
	// (three histograms of ~170 KB each: a new one every second was half a
	// megabyte of garbage a second).
	second *bucket

	preloadTime time.Duration

	start, warmEnd, end time.Time

	statsStart, statsWarm, statsEnd TargetStats
	prevStats                       TargetStats // at the last interval
	cpuWarm, cpuEnd                 CPUTimes
	cpuKnown                        bool // ProcessCPU answered at every sample
	gcWarm, gcEnd                   GCWork
	gcKnown                         bool // ReadGCWork answered at every sample
	series                          []IntervalStats
}

func (r *runner) run(parent context.Context) (*Summary, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	r.statsStart = r.target.Stats()
	r.statsWarm, r.prevStats = r.statsStart, r.statsStart
	r.cpuWarm, r.cpuKnown = ProcessCPU()
	r.gcWarm, r.gcKnown = ReadGCWork()
	r.start = time.Now()
	r.warmEnd = r.start.Add(r.cfg.Warmup)
	r.end = r.warmEnd.Add(r.cfg.Duration)

	if r.cfg.Observer != nil {
		r.cfg.Observer.Started(r.start, r.warmEnd, r.cfg.workers())
	}
	var slots chan uint64
	if r.cfg.OpenLoop() {
		slots = make(chan uint64, r.cfg.workers())
		go r.pace(ctx.Done(), slots)
	}
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.workers(); i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			// Each worker its own child context: a request blocked in the
			// target waits on ctx.Done(), and one Done channel shared by
			// every worker is a lock all of them take twice per request
			// (clients of a real system are separate processes). The
			// parent's cancel still reaches every child.
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			r.worker(wctx, id, slots)
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
	endSampled := false
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
			r.cpuWarm, r.gcWarm = r.sampleCPU(), r.sampleGC()
		case <-endT.C:
			r.statsEnd, r.cpuEnd, r.gcEnd = r.target.Stats(), r.sampleCPU(), r.sampleGC()
			endSampled = true
			dt := time.NewTimer(r.cfg.drain())
			defer dt.Stop()
			drain = dt.C
		case <-drain:
			cancel() // stragglers become "unfinished" errors
			drain = nil
		case <-done:
			if !endSampled { // workers finished first (or the run was interrupted)
				r.statsEnd, r.cpuEnd, r.gcEnd = r.target.Stats(), r.sampleCPU(), r.sampleGC()
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

// sampleCPU reads the process's CPU time; one failed read leaves the
// summary without CPU figures.
func (r *runner) sampleCPU() CPUTimes {
	c, ok := ProcessCPU()
	r.cpuKnown = r.cpuKnown && ok
	return c
}

// sampleGC reads the runtime's allocation and collection work, as
// sampleCPU does the CPU.
func (r *runner) sampleGC() GCWork {
	g, ok := ReadGCWork()
	r.gcKnown = r.gcKnown && ok
	return g
}

func (r *runner) worker(ctx context.Context, id int, slots <-chan uint64) {
	gen := r.wl.generator(r.cfg.Seed, id)
	if slots != nil {
		r.openWorker(ctx, id, gen, slots)
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
		s.res, s.err = r.exec(ctx, id, gen, op, req)
		s.done = time.Now()
		if s.err != nil && ctx.Err() != nil {
			s.err = context.Canceled
		}
		r.record(id, &s)
	}
}

// record counts a finished operation and shows it to the observer.
func (r *runner) record(id int, s *sample) {
	r.rec.record(id, s)
	if r.cfg.Observer != nil {
		err := s.err
		if err == nil && (s.res.Status == kv.StatusBadCommand || s.res.Status > kv.StatusMismatch) {
			err = errors.New("bad command")
		}
		r.cfg.Observer.Observe(id, ObservedOp{Write: s.op != opRead, Intended: s.intended, Done: s.done, Err: err})
	}
}

// pace releases the open loop's fixed schedule: slot k is due at
// start + k/rate. It sleeps on a sleeper that wakes on time both when
// the process is idle and when it is busy (see sleeper; lateness would
// count as latency) and hands each due slot to whichever worker is free. When
// every worker is busy, slots wait in the channel and go out late; their
// latency still counts from when they were due, so a stalled target
// shows up as latency instead of vanishing (coordinated omission).
//
// Above 1/pacerQuantum requests per second it wakes once a quantum and
// releases every slot due by then.
func (r *runner) pace(done <-chan struct{}, slots chan<- uint64) {
	defer close(slots)
	sl := newSleeper()
	defer sl.close()
	var woke time.Time
	for k := uint64(0); ; k++ {
		due := r.intended(k)
		if !due.Before(r.end) {
			return
		}
		for {
			wait := time.Until(due)
			if wait < 20*time.Microsecond {
				break // due, or overdue after a stall: release it now
			}
			if rest := time.Until(woke.Add(pacerQuantum)); rest > wait {
				wait = rest
			}
			select {
			case <-done:
				return
			default:
			}
			target := time.Now().Add(wait)
			sl.sleep(wait, done)
			// An early wake-up (the sleeper may wake early) is not a
			// quantum's start: only a punctual one holds the next back.
			if now := time.Now(); !now.Before(target.Add(-20 * time.Microsecond)) {
				woke = now
			}
		}
		// A free worker is nearly always waiting: hand the slot over
		// without a select over two channels (whose locks every one of
		// the workers parked on them contends for).
		select {
		case slots <- k:
			continue
		default:
		}
		select {
		case slots <- k:
		case <-done:
			return
		}
	}
}

// pacerQuantum is the open-loop pacer's shortest sleep. Each sleep costs
// a timer syscall and two goroutine wake-ups (sleeper), and the pacer
// shares the cores with the cluster it measures: waking once or twice per
// slot, it was 12% of the process's CPU at 20,000 requests per second
// (9% in timerfd_settime alone). Waking at most once a quantum releases a
// slot up to a quantum after it was due; that lateness counts as latency
// like any other (latency is measured from the due time), so it costs
// the measured figures at most a quantum, against a p99 in milliseconds.
const pacerQuantum = 100 * time.Microsecond

// openWorker sends the slots the pacer releases. It waits on the slots
// alone: parked in a select on the context too, each of a thousand
// workers queued on the context's channel as well, and every hand-over
// locked both channels (selects were 19% of an 80,000 ops/s run's CPU
// profile, three fifths of that the pacer's and the workers'). The pacer closes the slots
// when the context ends, which ends the workers; a slot taken after the
// end is not sent.
func (r *runner) openWorker(ctx context.Context, id int, gen *generator, slots <-chan uint64) {
	var s sample
	for k := range slots {
		if ctx.Err() != nil {
			return
		}
		intended := r.intended(k)
		op, req := gen.next()
		sent := time.Now()
		s = sample{op: op, intended: intended, sent: sent, measured: !intended.Before(r.warmEnd), openLoop: true}
		s.res, s.err = r.exec(ctx, id, gen, op, req)
		s.done = time.Now()
		if s.err != nil && ctx.Err() != nil {
			s.err = context.Canceled
		}
		r.record(id, &s)
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

// unsentSlots counts measured slots that never produced a sample because
// the run was cancelled (recorded ones are ops or errors); they are
// failures, not omissions.
func (r *runner) unsentSlots(recorded uint64) uint64 {
	if !r.cfg.OpenLoop() {
		return 0
	}
	want := r.slotsBefore(r.end) - r.slotsBefore(r.warmEnd)
	return want - min(want, recorded)
}

// exec carries out one drawn operation: one request, or for a
// read-modify-write the read and then, if the key had a value, a cas from
// it (the operation's result is the cas's; its latency covers both).
func (r *runner) exec(ctx context.Context, id int, gen *generator, op int, req Request) (kv.Result, error) {
	if op == opCas && r.hist != nil {
		req = r.hist.casFrom(req)
	}
	res, err := r.do(ctx, id, req)
	if op != opRMW || err != nil || res.Status != kv.StatusOK {
		return res, err
	}
	return r.do(ctx, id, gen.modify(req, res.Value))
}

// preloadWorkers is the load phase's concurrency, whatever the run's.
const preloadWorkers = 64

// preload is YCSB's load phase: every key 0..Keys-1 written once, by
// preloadWorkers goroutines. A write the target refused or left unknown
// is sent again (it writes the same value); the load fails after a
// minute without progress.
func (r *runner) preload(ctx context.Context) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, preloadWorkers)
	for w := 0; w < preloadWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var key [KeyBytes]byte
			for {
				i := int(next.Add(1)) - 1
				if i >= r.cfg.Keys {
					return
				}
				putKey(key[:], i)
				req := Request{Op: kv.OpWrite, Key: key[:], Value: r.wl.preloadValue(i)}
				deadline := time.Now().Add(time.Minute)
				for {
					octx, cancel := context.WithTimeout(ctx, 10*time.Second)
					// Client ids past the workers' mark the load phase in the history.
					_, err := r.do(octx, r.cfg.workers()+w, req)
					cancel()
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						errc <- fmt.Errorf("preload interrupted: %w", ctx.Err())
						return
					}
					if time.Now().After(deadline) {
						errc <- fmt.Errorf("preload: key %d not written after a minute: %w", i, err)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	return <-errc
}
