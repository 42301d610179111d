package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Observer sees every finished operation of a run (RunConfig.Observer).
// Started is called once, before the first request of the measured run
// (after the load phase); Observe concurrently by the workers, each
// worker with its own id in [0, workers), so an observer can keep one
// buffer per worker without locks. Both must return quickly.
type Observer interface {
	Started(start, warmEnd time.Time, workers int)
	Observe(worker int, op ObservedOp)
}

// ObservedOp is one finished operation as the workers saw it.
type ObservedOp struct {
	Write    bool // write, cas, insert or read-modify-write: appends to the log
	Intended time.Time
	Done     time.Time
	Err      error
}

// FaultTarget is a target whose nodes the failover measurement can kill,
// restart and cut off.
type FaultTarget interface {
	Target
	// Leader returns the running node that leads in the highest term and
	// that term (0, 0 when none).
	Leader() (id, term uint64)
	Kill(id uint64) error
	Restart(id uint64) error
	Isolate(id uint64) error
	Heal() error
}

// Faults a failover run can inject.
const (
	FaultKill      = "kill"      // stop the leader (its WAL closed; it restarts from it after For)
	FaultPartition = "partition" // cut the leader off from every other node (healed after For)
)

// FailoverConfig is one failover measurement: a run whose leader is
// killed or partitioned At after the end of the warm-up, for For.
type FailoverConfig struct {
	Run   RunConfig
	Fault string
	At    time.Duration
	// For is how long the fault lasts: then the node is restarted or the
	// partition healed (0 = until the end of the run).
	For time.Duration
	// Bin is the width of the timeline's bins (0 = 100 ms).
	Bin time.Duration
}

// Validate reports the first bad setting.
func (c *FailoverConfig) Validate() error {
	if c.Fault != FaultKill && c.Fault != FaultPartition {
		return fmt.Errorf("unknown fault %q (known: %s, %s)", c.Fault, FaultKill, FaultPartition)
	}
	if c.At <= 0 || c.At >= c.Run.Duration {
		return fmt.Errorf("fault time %v must be inside the measured %v", c.At, c.Run.Duration)
	}
	if c.For < 0 || c.Bin < 0 {
		return errors.New("fault duration and bin must not be negative")
	}
	return c.Run.Validate()
}

// FailoverPhase is the latency of the operations sent in one phase.
type FailoverPhase struct {
	Name      string            `json:"name"`
	FromS     float64           `json:"from_s"` // seconds from the fault
	ToS       float64           `json:"to_s"`
	Ops       uint64            `json:"ops"`
	OpsPerSec float64           `json:"ops_per_s"`
	Errors    map[string]uint64 `json:"errors_by_kind"`
	LatencyMs Latency           `json:"latency_ms"`
	Hist      *hdr.Histogram    `json:"-"`
}

// FailoverPoint is one bin of the timeline around the fault.
type FailoverPoint struct {
	T         float64 `json:"t_s"` // bin start, seconds from the fault
	OpsPerSec float64 `json:"ops_per_s"`
	Errors    uint64  `json:"errors"`
	P99Ms     float64 `json:"p99_ms"`
}

// FailoverResult is what a failover run measured.
type FailoverResult struct {
	Target string  `json:"target"`
	Fault  string  `json:"fault"`
	AtS    float64 `json:"at_s"` // after the end of the warm-up
	ForS   float64 `json:"for_s"`
	// ElectionTimeoutMs is the target's base election timeout (0: the
	// target does not say).
	ElectionTimeoutMs float64 `json:"election_timeout_ms"`
	OldLeader         uint64  `json:"old_leader"`
	NewLeader         uint64  `json:"new_leader"`
	// NewLeaderMs: from the fault (the moment Kill or Isolate returned)
	// until another node leads in a higher
	// term (polled every millisecond); -1 if none did.
	NewLeaderMs float64 `json:"new_leader_ms"`
	// FirstWriteMs: from the fault until the first successful write sent
	// after it was answered; -1 if none was.
	FirstWriteMs float64 `json:"first_write_ms"`
	// Failed (definitely not done) and Unknown (outcome unknown:
	// timeouts, indeterminate, unfinished) count errors of operations
	// sent from the fault to the first successful write.
	Failed  uint64 `json:"failed"`
	Unknown uint64 `json:"unknown"`
	// Phases: before the fault, during (fault to first successful write),
	// after; by intended send time, measured window only.
	Phases   []FailoverPhase `json:"phases"`
	Timeline []FailoverPoint `json:"timeline"`
	Summary  *Summary        `json:"summary"`
}

type opRec struct {
	intended, done int64 // ns from the run's start
	write          bool
	kind           int8 // -1 ok, else errKind
}

type failoverObserver struct {
	start, warmEnd time.Time
	per            [][]opRec
	started        chan struct{}
}

func (o *failoverObserver) Started(start, warmEnd time.Time, workers int) {
	o.start, o.warmEnd = start, warmEnd
	o.per = make([][]opRec, workers)
	close(o.started)
}

func (o *failoverObserver) Observe(worker int, op ObservedOp) {
	k := int8(-1)
	if op.Err != nil {
		k = int8(classify(op.Err))
	}
	o.per[worker] = append(o.per[worker], opRec{intended: int64(op.Intended.Sub(o.start)), done: int64(op.Done.Sub(o.start)), write: op.Write, kind: k})
}

// Failover runs cfg.Run against t and injects the fault on its leader.
func Failover(ctx context.Context, cfg FailoverConfig, t FaultTarget, sink ProgressSink) (*FailoverResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	obs := &failoverObserver{started: make(chan struct{})}
	cfg.Run.Observer = obs
	type runOut struct {
		s   *Summary
		err error
	}
	done := make(chan runOut, 1)
	go func() {
		s, err := Run(ctx, cfg.Run, t, sink)
		done <- runOut{s, err}
	}()
	res := &FailoverResult{Target: t.Name(), Fault: cfg.Fault, AtS: cfg.At.Seconds(), ForS: cfg.For.Seconds(), NewLeaderMs: -1, FirstWriteMs: -1}
	if tt, ok := t.(TimedTarget); ok {
		res.ElectionTimeoutMs = float64(tt.ElectionTimeout()) / float64(time.Millisecond)
	}
	var faultAt time.Time
	var faultErr error
	select {
	case <-obs.started:
		faultAt, faultErr = inject(ctx, &cfg, t, obs.warmEnd.Add(cfg.At), res)
	case out := <-done:
		if out.err == nil {
			out.err = errors.New("run ended before it started")
		}
		return nil, out.err
	}
	out := <-done
	if err := errors.Join(faultErr, out.err); err != nil {
		return nil, err
	}
	res.Summary = out.s
	analyse(&cfg, obs, faultAt, res)
	return res, nil
}

// inject waits for at, applies the fault to the leader, measures the time
// to a new leader and restores the node after cfg.For.
func inject(ctx context.Context, cfg *FailoverConfig, t FaultTarget, at time.Time, res *FailoverResult) (time.Time, error) {
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	old, oldTerm := t.Leader()
	if old == 0 {
		return time.Time{}, errors.New("failover: no leader at the fault time")
	}
	res.OldLeader = old
	var err error
	if cfg.Fault == FaultKill {
		err = t.Kill(old)
	} else {
		err = t.Isolate(old)
	}
	// The fault counts from the moment it is in effect: a write sent
	// while Kill or Isolate was still running could reach the old leader
	// and succeed, which is not a write after the fault.
	faultAt := time.Now()
	if err != nil {
		return faultAt, fmt.Errorf("failover: %s node %d: %w", cfg.Fault, old, err)
	}
	end := at.Add(cfg.Run.Duration - cfg.At)
	restoreAt := end
	if cfg.For > 0 {
		restoreAt = faultAt.Add(cfg.For)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(restoreAt) {
		if id, term := t.Leader(); id != 0 && id != old && term > oldTerm && res.NewLeader == 0 {
			res.NewLeader, res.NewLeaderMs = id, float64(time.Since(faultAt).Microseconds())/1000
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return faultAt, ctx.Err()
		}
	}
	if cfg.Fault == FaultKill {
		err = t.Restart(old)
	} else {
		err = t.Heal()
	}
	if err != nil {
		return faultAt, fmt.Errorf("failover: restore node %d: %w", old, err)
	}
	return faultAt, nil
}

func analyse(cfg *FailoverConfig, o *failoverObserver, faultAt time.Time, res *FailoverResult) {
	fault := int64(faultAt.Sub(o.start))
	warm := int64(o.warmEnd.Sub(o.start))
	end := warm + int64(cfg.Run.Duration)
	first := int64(-1)
	for _, w := range o.per {
		for _, r := range w {
			if r.write && r.kind < 0 && r.intended >= fault && (first < 0 || r.done < first) {
				first = r.done
			}
		}
	}
	during := end
	if first >= 0 {
		res.FirstWriteMs = float64(first-fault) / 1e6
		during = first
	}
	bounds := []struct {
		name     string
		from, to int64
	}{{"before", warm, fault}, {"during", fault, during}, {"after", during, end}}
	bin := cfg.Bin
	if bin <= 0 {
		bin = 100 * time.Millisecond
	}
	type binAcc struct {
		ops, errs uint64
		h         *hdr.Histogram
	}
	bins := map[int64]*binAcc{}
	for _, b := range bounds {
		ph := FailoverPhase{Name: b.name, FromS: float64(b.from-fault) / 1e9, ToS: float64(b.to-fault) / 1e9, Errors: map[string]uint64{}, Hist: newHist()}
		for _, w := range o.per {
			for _, r := range w {
				if r.intended < b.from || r.intended >= b.to {
					continue
				}
				if r.kind >= 0 {
					ph.Errors[errKindNames[r.kind]]++
					if b.name == "during" {
						if errKind(r.kind) == errUnavailable {
							res.Failed++
						} else {
							res.Unknown++
						}
					}
					continue
				}
				ph.Ops++
				recordUs(ph.Hist, time.Duration(r.done-r.intended))
			}
		}
		if d := float64(b.to-b.from) / 1e9; d > 0 {
			ph.OpsPerSec = float64(ph.Ops) / d
		}
		ph.LatencyMs = latencyOf(ph.Hist)
		res.Phases = append(res.Phases, ph)
	}
	for _, w := range o.per {
		for _, r := range w {
			k := int64(math.Floor(float64(r.done-fault) / float64(bin)))
			a := bins[k]
			if a == nil {
				a = &binAcc{h: newHist()}
				bins[k] = a
			}
			if r.kind >= 0 {
				a.errs++
				continue
			}
			a.ops++
			recordUs(a.h, time.Duration(r.done-r.intended))
		}
	}
	lo := int64(math.Floor(float64(warm-fault) / float64(bin)))
	hi := int64(math.Floor(float64(end-fault) / float64(bin)))
	for k := lo; k <= hi; k++ {
		p := FailoverPoint{T: float64(k) * bin.Seconds()}
		if a := bins[k]; a != nil {
			p.OpsPerSec, p.Errors = float64(a.ops)/bin.Seconds(), a.errs
			p.P99Ms = usToMs(a.h.ValueAtPercentile(99))
		}
		res.Timeline = append(res.Timeline, p)
	}
}

// The inproc target can be killed, restarted and partitioned.
var _ FaultTarget = (*inprocTarget)(nil)

func (t *inprocTarget) Leader() (uint64, uint64) {
	if n := t.c.Leader(); n != nil {
		return n.ID(), n.Term()
	}
	return 0, 0
}

func (t *inprocTarget) Kill(id uint64) error    { return t.c.Kill(id) }
func (t *inprocTarget) Restart(id uint64) error { return t.c.Restart(id) }
func (t *inprocTarget) Isolate(id uint64) error { t.c.Network().Isolate(id); return nil }
func (t *inprocTarget) Heal() error             { t.c.Network().Heal(); return nil }
