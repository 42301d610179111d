package bench

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Histogram geometry: microseconds from 1 µs to 10 minutes with 3
// significant digits (0.1% resolution). Larger values are clamped to the
// top, so a pathological stall still counts instead of being dropped.
const (
	histMinUs  = 1
	histMaxUs  = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMinUs, histMaxUs, histDigits) }

func recordUs(h *hdr.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	if us > histMaxUs {
		us = histMaxUs
	}
	_ = h.RecordValue(us) // cannot fail: clamped into range
}

// Sentinel errors a Target wraps so the driver can count errors by kind.
var (
	// ErrUnavailable: the operation was definitely not done (no leader,
	// every node refused); safe to retry.
	ErrUnavailable = errors.New("bench: target unavailable, operation not done")
	// ErrIndeterminate: the operation may or may not have happened.
	ErrIndeterminate = errors.New("bench: outcome of operation unknown")
)

// errKind is a fixed set, so counting an error never allocates.
type errKind uint8

const (
	errTimeout errKind = iota
	errUnavailable
	errIndeterminate
	errUnfinished // cancelled at the end of the run's drain period
	errBadCommand // the state machine said StatusBadCommand: a bug
	errOther
	numErrKinds
)

var errKindNames = [numErrKinds]string{"timeout", "unavailable", "indeterminate", "unfinished", "bad_command", "other"}

func classify(err error) errKind {
	switch {
	case errors.Is(err, ErrUnavailable):
		return errUnavailable
	case errors.Is(err, ErrIndeterminate):
		return errIndeterminate
	case errors.Is(err, context.DeadlineExceeded):
		return errTimeout
	case errors.Is(err, context.Canceled):
		return errUnfinished
	}
	return errOther
}

// counters are plain integers; a stripe's mutex guards them.
type counters struct {
	ops     [numOps]uint64 // successful results by slot (opWrite...)
	status  [3]uint64      // ok, not found, mismatch
	errs    [numErrKinds]uint64
	late    uint64 // open loop: sent more than lateThreshold after intended
	maxLate time.Duration
}

func (c *counters) add(o *counters) {
	for i := range c.ops {
		c.ops[i] += o.ops[i]
	}
	for i := range c.status {
		c.status[i] += o.status[i]
	}
	for i := range c.errs {
		c.errs[i] += o.errs[i]
	}
	c.late += o.late
	c.maxLate = max(c.maxLate, o.maxLate)
}

func (c *counters) total() uint64 {
	var n uint64
	for _, v := range c.ops {
		n += v
	}
	return n
}
func (c *counters) errors() uint64 { return sumErrs(c.errs[:]) }

func sumErrs(e []uint64) uint64 {
	var n uint64
	for _, v := range e {
		n += v
	}
	return n
}

// lateThreshold: an open-loop send this much behind schedule is "late"
// (every worker was busy, or the generator itself could not keep up).
const lateThreshold = time.Millisecond

// bucket is what one second (or a whole run) of recording produces.
type bucket struct {
	lat *hdr.Histogram // from intended send time (open loop) or send time
	// svc is from the actual send time: raw service time. Only the open
	// loop records it; in a closed loop a request is sent when it is
	// intended, so it would be lat sample for sample, and each recording
	// is a cache miss somewhere in a histogram's counts (two of the five
	// per operation, ~2% of a 256-client run's CPU). Read it with
	// service().
	svc *hdr.Histogram
	lag *hdr.Histogram // open loop: actual minus intended send time
	c   counters
	// byOp (measured-window buckets only) splits lat by operation slot,
	// each allocated when its first sample arrives: a mix whose kinds
	// wait for different things (a read's ReadIndex round, a write's
	// fsyncs) is only explained per kind.
	byOp    [numOps]*hdr.Histogram
	splitOp bool
}

func newBucket() *bucket { return &bucket{lat: newHist(), svc: newHist(), lag: newHist()} }

// service is the bucket's service-time histogram: svc where the open loop
// recorded it, otherwise lat, which a closed loop's service times equal.
func (b *bucket) service() *hdr.Histogram {
	if b.svc.TotalCount() == 0 {
		return b.lat
	}
	return b.svc
}

// newTotalBucket is a bucket that also keeps the latency of each kind of
// operation apart.
func newTotalBucket() *bucket {
	b := newBucket()
	b.splitOp = true
	return b
}

func (b *bucket) reset() {
	b.lat.Reset()
	b.svc.Reset()
	b.lag.Reset()
	for _, h := range b.byOp {
		if h != nil {
			h.Reset()
		}
	}
	b.c = counters{}
}

func (b *bucket) merge(o *bucket) {
	b.lat.Merge(o.lat)
	b.svc.Merge(o.svc)
	b.lag.Merge(o.lag)
	if b.splitOp {
		for i, h := range o.byOp {
			if h == nil {
				continue
			}
			if b.byOp[i] == nil {
				b.byOp[i] = newHist()
			}
			b.byOp[i].Merge(h)
		}
	}
	b.c.add(&o.c)
}

// stripe is a shard of the recorder. Workers share stripes round-robin;
// with a few stripes per core, the mutex is nearly always uncontended.
type stripe struct {
	mu    sync.Mutex
	cur   *bucket // this second; swapped out by the collector
	total *bucket // measured window only
	_     [64]byte
}

// recorder collects results without per-op allocation: per-stripe
// histograms, swapped once a second and merged by the collector.
type recorder struct {
	stripes []stripe
	spare   []*bucket // collector-owned, one per stripe
}

func newRecorder(workers int) *recorder {
	n := min(workers, 4*runtime.GOMAXPROCS(0), 64)
	n = max(n, 1)
	r := &recorder{stripes: make([]stripe, n), spare: make([]*bucket, n)}
	for i := range r.stripes {
		r.stripes[i].cur = newBucket()
		r.stripes[i].total = newTotalBucket()
		r.spare[i] = newBucket()
	}
	return r
}

// expectKinds allocates each stripe's per-kind histograms for the kinds
// the mix draws, before the run, so the first measured operation of a
// kind does not allocate (a kind not announced still gets one then).
func (r *recorder) expectKinds(f [numOps]float64) {
	for i := range r.stripes {
		b := r.stripes[i].total
		for k, w := range f {
			if w > 0 && b.byOp[k] == nil {
				b.byOp[k] = newHist()
			}
		}
	}
}

// sample is one finished operation.
type sample struct {
	op       int // slot: opWrite...opRMW
	intended time.Time
	sent     time.Time
	done     time.Time
	measured bool // inside the measured window (after warm-up)
	res      kv.Result
	err      error
	openLoop bool
}

func (r *recorder) record(worker int, s *sample) {
	st := &r.stripes[worker%len(r.stripes)]
	st.mu.Lock()
	addSample(st.cur, s)
	if s.measured {
		addSample(st.total, s)
	}
	st.mu.Unlock()
}

func addSample(b *bucket, s *sample) {
	if s.openLoop && !s.sent.IsZero() {
		lag := s.sent.Sub(s.intended)
		recordUs(b.lag, lag)
		if lag > lateThreshold {
			b.c.late++
			b.c.maxLate = max(b.c.maxLate, lag)
		}
	}
	if s.err != nil {
		b.c.errs[classify(s.err)]++
		return
	}
	if s.res.Status == kv.StatusBadCommand || s.res.Status > kv.StatusMismatch {
		b.c.errs[errBadCommand]++
		return
	}
	b.c.ops[s.op]++
	b.c.status[s.res.Status]++
	recordUs(b.lat, s.done.Sub(s.intended))
	if s.openLoop {
		recordUs(b.svc, s.done.Sub(s.sent))
	}
	if b.splitOp {
		if b.byOp[s.op] == nil {
			b.byOp[s.op] = newHist()
		}
		recordUs(b.byOp[s.op], s.done.Sub(s.intended))
	}
}

// swap takes every stripe's current second and merges it into into,
// leaving the stripes recording into fresh buckets.
//
// It yields the P after each stripe: merging a second's histograms walks
// their counts (7 ms for eight stripes holding 40,000 samples between
// 0.3 and 5 ms, on this project's loaded 2-core machine), and a goroutine
// that runs that long keeps whatever the cluster queued on its P waiting
// (the scheduler preempts only after 10 ms): a stall of the system under
// test that the generator itself made once a second.
func (r *recorder) swap(into *bucket) {
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		st.cur, r.spare[i] = r.spare[i], st.cur
		st.mu.Unlock()
		into.merge(r.spare[i])
		r.spare[i].reset()
		runtime.Gosched()
	}
}

// totals merges every stripe's measured-window bucket. Call only after
// all workers have stopped.
func (r *recorder) totals() *bucket {
	b := newTotalBucket()
	for i := range r.stripes {
		b.merge(r.stripes[i].total)
	}
	return b
}
