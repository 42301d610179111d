package bench

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
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
// every node's snapshots, each as the window from its capture until it
// was installed (the nodes writing one in each bucket). It is for
// finding what makes a tail: a stall shows as a run of buckets whose
// worst latency jumps, and the saving and events columns say what ran
// then. It is an Observer (pass it as RunConfig.Observer; it forwards to
// next, if any).
type Timeline struct {
	bucket time.Duration
	next   Observer
	nodes  func() map[uint64]nodeSnapshots // per node (nil: none)

	mu      sync.Mutex
	start   time.Time
	warmEnd time.Time
	buckets []timelineBucket
	events  []timelineEvent
	// saving[k]: the nodes seen writing a snapshot while bucket k's
	// operations were due (bit id-1; ids above 64 are not shown).
	saving []uint64

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

// nodeSnapshots is what the timeline polls from each node.
type nodeSnapshots struct {
	taken  uint64 // snapshots taken so far
	saving bool   // one being written now
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
		tl.nodes = func() map[uint64]nodeSnapshots {
			m := map[uint64]nodeSnapshots{}
			for _, id := range c.IDs() {
				if n := c.Node(id); n != nil {
					st := n.Stats()
					m[id] = nodeSnapshots{taken: st.Snapshots, saving: st.SnapshotSaving}
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
	tl.start, tl.warmEnd = start, warmEnd
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

// watch polls the GC cycle count and the nodes' snapshots every half
// bucket until Close (runtime/metrics: no stop-the-world).
func (tl *Timeline) watch(start time.Time) {
	defer close(tl.done)
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	gcs := sample[0].Value.Uint64()
	var snaps map[uint64]nodeSnapshots
	if tl.nodes != nil {
		snaps = tl.nodes()
	}
	tick := time.NewTicker(tl.bucket / 2)
	defer tick.Stop()
	var prev time.Duration // the last poll
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
				was := snaps[id]
				if n.saving && !was.saving {
					tl.event(at, fmt.Sprintf("snapshot begun by node %d", id))
				}
				if n.taken != was.taken {
					tl.event(at, fmt.Sprintf("snapshot taken by node %d", id))
				}
				switch {
				case was.saving:
					// Writing since the last poll at least: every
					// bucket in between, even if this watcher was late.
					tl.markSaving(prev, at, id)
				case n.saving || n.taken != was.taken:
					// Begun since the last poll (a window shorter
					// than a poll still marks the bucket it ended in).
					tl.markSaving(at, at, id)
				}
				snaps[id] = n
			}
		}
		prev = at
	}
}

// markSaving records that node id was writing a snapshot from from to
// to.
func (tl *Timeline) markSaving(from, to time.Duration, id uint64) {
	if id == 0 || id > 64 {
		return
	}
	tl.mu.Lock()
	for k := int(from / tl.bucket); k <= int(to/tl.bucket); k++ {
		for len(tl.saving) <= k {
			tl.saving = append(tl.saving, 0)
		}
		tl.saving[k] |= 1 << (id - 1)
	}
	tl.mu.Unlock()
}

func (tl *Timeline) event(at time.Duration, what string) {
	tl.mu.Lock()
	tl.events = append(tl.events, timelineEvent{at: at, what: what})
	tl.mu.Unlock()
}

// SnapshotWindows is how the measured run (after the warm-up) went
// while some node was writing a snapshot (Timeline's saving column) and
// while none was: at a large state the windows are where throughput
// falls and the worst latencies are.
type SnapshotWindows struct {
	// Share is the fraction of the measured buckets with a snapshot
	// being written.
	Share float64 `json:"share"`
	// OpsPerSecInside and OpsPerSecOutside are the mean throughput of
	// the buckets inside the windows and of the others.
	OpsPerSecInside  float64 `json:"ops_per_s_inside"`
	OpsPerSecOutside float64 `json:"ops_per_s_outside"`
	// WorstInside of the Worst buckets with the slowest answers were
	// inside a window.
	WorstInside int     `json:"worst_inside"`
	Worst       int     `json:"worst"`
	BucketMs    float64 `json:"bucket_ms"`
}

// timelineWorst is how many of the slowest buckets SnapshotWindows
// places.
const timelineWorst = 20

// SnapshotWindows summarises the measured buckets by whether a snapshot
// was being written; nil when the target reports no snapshots (not an
// in-process cluster) or nothing was measured. Call after Close.
func (tl *Timeline) SnapshotWindows() *SnapshotWindows {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.nodes == nil {
		return nil
	}
	first := max(0, int((tl.warmEnd.Sub(tl.start)+tl.bucket-1)/tl.bucket))
	type row struct {
		ops    uint64
		maxMs  float64
		inside bool
	}
	var rows []row
	for k := first; k < len(tl.buckets)-1; k++ { // the last is cut short by the run's end
		rows = append(rows, row{tl.buckets[k].ops, tl.buckets[k].maxMs, k < len(tl.saving) && tl.saving[k] != 0})
	}
	if len(rows) == 0 {
		return nil
	}
	w := &SnapshotWindows{BucketMs: float64(tl.bucket) / 1e6}
	var in, out, opsIn, opsOut uint64
	for _, r := range rows {
		if r.inside {
			in, opsIn = in+1, opsIn+r.ops
		} else {
			out, opsOut = out+1, opsOut+r.ops
		}
	}
	perSec := func(ops, buckets uint64) float64 {
		if buckets == 0 {
			return 0
		}
		return float64(ops) / (float64(buckets) * tl.bucket.Seconds())
	}
	w.Share = float64(in) / float64(len(rows))
	w.OpsPerSecInside, w.OpsPerSecOutside = perSec(opsIn, in), perSec(opsOut, out)
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(b.maxMs, a.maxMs) })
	w.Worst = min(timelineWorst, len(rows))
	for _, r := range rows[:w.Worst] {
		if r.inside {
			w.WorstInside++
		}
	}
	return w
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
// worst latency from intended send time (ms), the nodes writing a
// snapshot meanwhile (space-separated ids), and the events seen while
// the bucket's operations were due ("; "-separated).
func (tl *Timeline) WriteCSV(path string) error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "start_ms,ops,errors,mean_ms,max_ms,saving,events")
	ev, n := 0, max(len(tl.buckets), len(tl.saving))
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
		var saving []string
		if k < len(tl.saving) {
			for id := uint64(1); id <= 64; id++ {
				if tl.saving[k]&(1<<(id-1)) != 0 {
					saving = append(saving, strconv.FormatUint(id, 10))
				}
			}
		}
		fmt.Fprintf(w, "%d,%d,%d,%.3f,%.3f,%s,%s\n", (time.Duration(k) * tl.bucket).Milliseconds(), b.ops, b.errs, mean, b.maxMs,
			strings.Join(saving, " "), strings.Join(what, "; "))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
