package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/raftbench/raftbench/engine/embed/cluster"
)

// DefaultTimelineBucket is the resolution of a Timeline.
const DefaultTimelineBucket = 10 * time.Millisecond

// Timeline is latency over time at a fine resolution (buckets by each
// operation's intended send time), with what else happened in the process
// beside it: the garbage collector's cycles and, for an in-process cluster,
// every node's snapshots. It is for finding what makes a tail: a stall
// shows as a run of buckets whose worst latency jumps, and the events
// column says what ran then. It is an Observer (pass it as
// RunConfig.Observer; it forwards to next, if any).
type Timeline struct {
	bucket time.Duration
	next   Observer
	nodes  func() map[uint64]uint64 // snapshots taken so far, per node (nil: none)

	mu      sync.Mutex
	start   time.Time
	buckets []timelineBucket
	events  []timelineEvent

	stop, done chan struct{}
}

type timelineBucket struct {
	ops, errs uint64
	sumMs     float64
	maxMs     float64
}

type timelineEvent struct {
	at   time.Duration // since start
	what string
}

// NewTimeline returns a timeline with the given bucket width (0:
// DefaultTimelineBucket) that watches target (snapshots are seen on the
// in-process target only) and forwards every observation to next.
func NewTimeline(bucket time.Duration, target Target, next Observer) *Timeline {
	if bucket <= 0 {
		bucket = DefaultTimelineBucket
	}
	tl := &Timeline{bucket: bucket, next: next}
	if ct, ok := target.(interface{ Cluster() *cluster.Cluster }); ok {
		c := ct.Cluster()
		tl.nodes = func() map[uint64]uint64 {
			m := map[uint64]uint64{}
			for _, id := range c.IDs() {
				if n := c.Node(id); n != nil {
					m[id] = n.Stats().Snapshots
				}
			}
			return m
		}
	}
	return tl
}

// Started begins the clock and the event watcher.
func (tl *Timeline) Started(start, warmEnd time.Time, workers int) {
	tl.mu.Lock()
	tl.start = start
	tl.mu.Unlock()
	tl.stop, tl.done = make(chan struct{}), make(chan struct{})
	go tl.watch(start)
	if tl.next != nil {
		tl.next.Started(start, warmEnd, workers)
	}
}

// Observe files one finished operation under its intended send time.
func (tl *Timeline) Observe(worker int, op ObservedOp) {
	tl.mu.Lock()
	if k := int(op.Intended.Sub(tl.start) / tl.bucket); k >= 0 {
		for len(tl.buckets) <= k {
			tl.buckets = append(tl.buckets, timelineBucket{})
		}
		b := &tl.buckets[k]
		if op.Err != nil {
			b.errs++
		} else {
			ms := float64(op.Done.Sub(op.Intended)) / 1e6
			b.ops++
			b.sumMs += ms
			b.maxMs = max(b.maxMs, ms)
		}
	}
	tl.mu.Unlock()
	if tl.next != nil {
		tl.next.Observe(worker, op)
	}
}

// watch polls the GC cycle count and the nodes' snapshot counts every
// half bucket until Close (runtime/metrics: no stop-the-world).
func (tl *Timeline) watch(start time.Time) {
	defer close(tl.done)
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	gcs := sample[0].Value.Uint64()
	var snaps map[uint64]uint64
	if tl.nodes != nil {
		snaps = tl.nodes()
	}
	tick := time.NewTicker(tl.bucket / 2)
	defer tick.Stop()
	for {
		select {
		case <-tl.stop:
			return
		case <-tick.C:
		}
		at := time.Since(start)
		metrics.Read(sample)
		if n := sample[0].Value.Uint64(); n != gcs {
			tl.event(at, fmt.Sprintf("gc cycles ended: %d", n-gcs))
			gcs = n
		}
		if tl.nodes != nil {
			for id, n := range tl.nodes() {
				if n != snaps[id] {
					tl.event(at, fmt.Sprintf("snapshot taken by node %d", id))
					snaps[id] = n
				}
			}
		}
	}
}

func (tl *Timeline) event(at time.Duration, what string) {
	tl.mu.Lock()
	tl.events = append(tl.events, timelineEvent{at: at, what: what})
	tl.mu.Unlock()
}

// Close stops the event watcher (call after Run returns).
func (tl *Timeline) Close() {
	if tl.stop != nil {
		close(tl.stop)
		<-tl.done
		tl.stop = nil
	}
}

// WriteCSV writes one row per bucket: its start (ms since the run
// started, warm-up included), operations answered, errors, mean and
// worst latency from intended send time (ms), and the events seen while
// the bucket's operations were due ("; "-separated).
func (tl *Timeline) WriteCSV(path string) error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "start_ms,ops,errors,mean_ms,max_ms,events")
	ev, n := 0, len(tl.buckets)
	if k := len(tl.events); k > 0 {
		n = max(n, int(tl.events[k-1].at/tl.bucket)+1) // events after the last answer still show
	}
	for k := 0; k < n; k++ {
		var b timelineBucket
		if k < len(tl.buckets) {
			b = tl.buckets[k]
		}
		end := time.Duration(k+1) * tl.bucket
		var what []string
		for ev < len(tl.events) && tl.events[ev].at < end {
			what = append(what, tl.events[ev].what)
			ev++
		}
		mean := 0.0
		if b.ops > 0 {
			mean = b.sumMs / float64(b.ops)
		}
		fmt.Fprintf(w, "%d,%d,%d,%.3f,%.3f,%s\n", (time.Duration(k) * tl.bucket).Milliseconds(), b.ops, b.errs, mean, b.maxMs, strings.Join(what, "; "))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
