package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

func TestPercentilesOfKnownInputs(t *testing.T) {
	// 1..10000 µs, once each: p50 = 5 ms, p99 = 9.9 ms, max = 10 ms.
	h := newHist()
	for us := 1; us <= 10000; us++ {
		recordUs(h, time.Duration(us)*time.Microsecond)
	}
	l := latencyOf(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", l.P50, 5}, {"p90", l.P90, 9}, {"p99", l.P99, 9.9}, {"p999", l.P999, 9.99}, {"max", l.Max, 10}, {"mean", l.Mean, 5.0005}} {
		if math.Abs(c.got-c.want) > c.want*0.001+0.001 { // 3 significant digits
			t.Errorf("%s = %v ms, want %v ms", c.name, c.got, c.want)
		}
	}
	// Out-of-range values are clamped, never dropped.
	recordUs(h, time.Hour)
	recordUs(h, -time.Second)
	if got := h.TotalCount(); got != 10002 {
		t.Errorf("count after clamped values = %d, want 10002", got)
	}
	if got := h.Max(); !h.ValuesAreEquivalent(got, histMaxUs) {
		t.Errorf("max after a 1 h sample = %d µs, want %d", got, histMaxUs)
	}
}

func TestStripesMergeToTheSameHistogram(t *testing.T) {
	r := newRecorder(8)
	direct := newHist()
	base := time.Now()
	for i := 0; i < 1000; i++ {
		d := time.Duration(i*37%5000) * time.Microsecond
		recordUs(direct, d)
		s := sample{op: i % 3, intended: base, sent: base, done: base.Add(d), measured: i%2 == 0}
		r.record(i, &s)
	}
	b := newBucket()
	r.swap(b)
	if !b.lat.Equals(direct) {
		t.Fatalf("merged stripes differ from one histogram: p50 %d vs %d", b.lat.ValueAtPercentile(50), direct.ValueAtPercentile(50))
	}
	if b.c.total() != 1000 {
		t.Fatalf("ops = %d, want 1000", b.c.total())
	}
	if tot := r.totals(); tot.c.total() != 500 {
		t.Fatalf("measured ops = %d, want 500 (half were in the warm-up)", tot.c.total())
	}
	b2 := newBucket()
	r.swap(b2)
	if b2.c.total() != 0 || b2.lat.TotalCount() != 0 {
		t.Fatalf("second swap returned %d ops; stripes were not reset", b2.c.total())
	}
}

// A closed loop sends each request when it is intended, so its service
// times are its latencies: the recorder keeps one histogram for both and
// the service figures read it; an open loop keeps service time apart.
func TestServiceTimeRecordedOnlyWhereItDiffers(t *testing.T) {
	base := time.Now()
	closed, open := newBucket(), newBucket()
	for i := range 100 {
		d := time.Duration(100+i) * time.Microsecond
		addSample(closed, &sample{intended: base, sent: base, done: base.Add(d)})
		// Sent 1 ms late: latency from the intended time, service from the send.
		addSample(open, &sample{intended: base, sent: base.Add(time.Millisecond), done: base.Add(time.Millisecond + d), openLoop: true})
	}
	if closed.svc.TotalCount() != 0 {
		t.Errorf("closed loop recorded %d service samples, want none (they equal the latencies)", closed.svc.TotalCount())
	}
	if closed.service() != closed.lat {
		t.Error("a closed loop's service() is not its latency histogram")
	}
	if got := open.service(); got != open.svc || got.TotalCount() != 100 {
		t.Fatalf("open loop service() has %d samples, want its own 100", got.TotalCount())
	}
	if lat, svc := open.lat.ValueAtPercentile(50), open.service().ValueAtPercentile(50); lat-svc < 900 {
		t.Errorf("open loop p50 latency %d µs, service %d µs: want the 1 ms lag between them", lat, svc)
	}
}

func TestClosedLoopRun(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	var seen []IntervalStats
	sum, err := Run(context.Background(), cfg, f, sinkFunc(func(s IntervalStats) { seen = append(seen, s) }))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ops == 0 || sum.Errors != 0 {
		t.Fatalf("ops %d errors %d, want ops > 0 and no errors", sum.Ops, sum.Errors)
	}
	r := sum.Results
	if r.OK+r.NotFound+r.Mismatch != sum.Ops {
		t.Fatalf("results %+v do not add up to ops %d", r, sum.Ops)
	}
	if sum.OpsByOp["write"]+sum.OpsByOp["read"]+sum.OpsByOp["cas"] != sum.Ops {
		t.Fatalf("ops by op %v do not add up to %d", sum.OpsByOp, sum.Ops)
	}
	if r.OK == 0 || r.Mismatch == 0 {
		t.Errorf("with 100 keys and cas, expected ok and mismatch results: %+v", r)
	}
	if want := float64(sum.Ops) / 0.4; math.Abs(sum.ThroughputOps-want) > 1e-6*want {
		t.Errorf("throughput %v, want ops/duration %v", sum.ThroughputOps, want)
	}
	if sum.EntriesPerFsync == nil || *sum.EntriesPerFsync != 1 || sum.EntriesPerAppend == nil || *sum.EntriesPerAppend != 2 {
		t.Errorf("entries per fsync/append = %v/%v, want 1/2 from the fake's stats", sum.EntriesPerFsync, sum.EntriesPerAppend)
	}
	if sum.ProcessCPUCores == nil || *sum.ProcessCPUCores <= 0 || sum.OpsPerCPUSecond == nil || *sum.OpsPerCPUSecond <= 0 {
		t.Errorf("process CPU figures missing: %v %v", sum.ProcessCPUCores, sum.OpsPerCPUSecond)
	} else if c := sum.CPUUsPerOp; c == nil || c.User < 0 || c.Kernel < 0 ||
		math.Abs(c.User+c.Kernel - 1e6 / *sum.OpsPerCPUSecond) > 1e-6*(c.User+c.Kernel) {
		t.Errorf("CPU per op %+v: want user and kernel µs adding up to 1e6 / ops per CPU-second (%v)", c, 1e6 / *sum.OpsPerCPUSecond)
	}
	if g := sum.GC; g == nil || g.AllocBytesPerOp <= 0 || g.CPUShare < 0 || g.CPUShare > 1 || g.AssistShare > g.CPUShare {
		t.Errorf("GC figures %+v: want bytes allocated per op (the generator allocates) and shares within [0, 1]", g)
	}
	if sum.Mode != "closed" || sum.Clients != 4 || sum.ServiceLatencyMs != nil {
		t.Errorf("mode %q clients %d service %v: want closed, 4, none", sum.Mode, sum.Clients, sum.ServiceLatencyMs)
	}
	var seriesOps uint64
	for _, is := range seen {
		seriesOps += is.Ops
		if is.Ops > 0 && (is.SvcP50 != is.P50 || is.SvcP99 != is.P99) {
			t.Errorf("second %d: service p50/p99 %v/%v, want the latency's %v/%v in a closed loop", is.Second, is.SvcP50, is.SvcP99, is.P50, is.P99)
		}
	}
	if sum.SvcHist == nil || !sum.SvcHist.Equals(sum.Hist) {
		t.Error("a closed loop's service histogram differs from its latency histogram")
	}
	if len(seen) == 0 || len(seen) != len(sum.Series) || seriesOps <= sum.Ops {
		t.Errorf("progress got %d intervals with %d ops, series %d; want them to include warm-up beyond the %d measured",
			len(seen), seriesOps, len(sum.Series), sum.Ops)
	}
}

// The latency of each kind of operation is kept apart: reads of a target
// whose writes take 2 ms must not look like writes.
func TestLatencyByOperation(t *testing.T) {
	f := newFake()
	f.writeDelay = 2 * time.Millisecond
	cfg := shortConfig()
	cfg.Clients = 1
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, r, c := sum.LatencyByOpMs["write"], sum.LatencyByOpMs["read"], sum.LatencyByOpMs["cas"]
	if len(sum.LatencyByOpMs) != 3 || w.P50 < 2 || c.P50 < 2 || r.P50 >= 1 {
		t.Fatalf("latency by op %+v: want write and cas p50 >= 2 ms, read p50 < 1 ms", sum.LatencyByOpMs)
	}
	if sum.LatencyMs.Max != max(w.Max, r.Max, c.Max) {
		t.Errorf("max %v is not the largest of the kinds' maxima %v %v %v", sum.LatencyMs.Max, w.Max, r.Max, c.Max)
	}
	only := shortConfig()
	only.Mix = Mix{Write: 1}
	if sum, err = Run(context.Background(), only, newFake(), nil); err != nil {
		t.Fatal(err)
	}
	if l, ok := sum.LatencyByOpMs["write"]; len(sum.LatencyByOpMs) != 1 || !ok || l != sum.LatencyMs {
		t.Errorf("write-only run: latency by op %+v, want write alone and equal to the whole %+v", sum.LatencyByOpMs, sum.LatencyMs)
	}
}

func TestMissingKeysAreResults(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	cfg.Keys, cfg.Mix = 1_000_000, Mix{Read: 1, Cas: 1}
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 0 || sum.Results.NotFound != sum.Ops || sum.Ops == 0 {
		t.Fatalf("reads and cas of never-written keys: results %+v errors %d, want all not-found", sum.Results, sum.Errors)
	}
}

func TestMixIsFollowed(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	cfg.Mix = Mix{Write: 1}
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OpsByOp["write"] != sum.Ops || sum.Results.OK != sum.Ops {
		t.Fatalf("write-only mix gave %v, results %+v", sum.OpsByOp, sum.Results)
	}
}

func TestErrorsAreCountedByKind(t *testing.T) {
	f := newFake()
	f.failEach = 10
	sum, err := Run(context.Background(), shortConfig(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors == 0 || sum.ErrorsByKind["unavailable"] != sum.Errors {
		t.Fatalf("errors %d by kind %v, want all unavailable", sum.Errors, sum.ErrorsByKind)
	}
	// About one in ten; ops and errors are disjoint.
	if ratio := float64(sum.Errors) / float64(sum.Errors+sum.Ops); ratio < 0.08 || ratio > 0.12 {
		t.Fatalf("error ratio %v, want about 0.1", ratio)
	}
}

// A 500 ms stall must show up in the corrected (from intended send time)
// latency, and not in the raw service time of the requests sent after
// it, and no scheduled request may go missing.
func TestOpenLoopStallShowsInCorrectedLatency(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	cfg.Clients, cfg.Rate, cfg.Workers = 0, 1000, 4
	cfg.Warmup, cfg.Duration = 0, 2*time.Second
	f.stallAt, f.stallFor = time.Now().Add(600*time.Millisecond), 500*time.Millisecond
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ops+sum.Errors != 2000 {
		t.Fatalf("ops %d + errors %d, want every one of the 2000 scheduled requests", sum.Ops, sum.Errors)
	}
	lat, svc := sum.LatencyMs, sum.ServiceLatencyMs
	if svc == nil {
		t.Fatal("open loop summary has no service latency")
	}
	// About 500 of 2000 requests were due during the stall, waiting
	// 0..500 ms: the corrected p99 is near 500 ms, p90 near 300 ms.
	if lat.P99 < 300 || lat.P90 < 150 {
		t.Errorf("corrected p90 %v ms, p99 %v ms: the stall is hidden", lat.P90, lat.P99)
	}
	// Only the <= 4 requests in flight when it began saw the stall.
	if svc.P99 > 100 {
		t.Errorf("raw service p99 %v ms, want the stall confined to a few requests", svc.P99)
	}
	if svc.Max < 300 {
		t.Errorf("raw service max %v ms, want the stalled requests' own wait", svc.Max)
	}
	if sum.LateSends < 100 {
		t.Errorf("late sends %d, want the backlog after the stall counted", sum.LateSends)
	}
}

func TestOpenLoopCancelledSlotsCountAsErrors(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	cfg.Clients, cfg.Rate, cfg.Workers = 0, 1000, 2
	cfg.Warmup, cfg.Duration, cfg.Drain = 0, 500*time.Millisecond, 100*time.Millisecond
	// Stalled from 200 ms until long after the end: the drain cancels.
	f.stallAt, f.stallFor = time.Now().Add(200*time.Millisecond), time.Hour
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ops+sum.Errors != 500 {
		t.Fatalf("ops %d + errors %d, want all 500 scheduled requests accounted", sum.Ops, sum.Errors)
	}
	if sum.ErrorsByKind["unfinished"] < 250 {
		t.Fatalf("errors by kind %v, want about 300 unfinished", sum.ErrorsByKind)
	}
}

func TestSummaryTitle(t *testing.T) {
	s := &Summary{Target: "inproc", Nodes: 3, Mode: "closed", Clients: 64, ValueBytes: 128, Fsync: true}
	if got, want := s.Title(), "inproc, 3 nodes, 64 clients, 128 B values, fsync on"; got != want {
		t.Fatalf("title %q, want %q", got, want)
	}
}

type sinkFunc func(IntervalStats)

func (f sinkFunc) Progress(s IntervalStats) { f(s) }

// The per-operation work of a worker (draw a request, record its
// outcome) must not allocate: the generator shares 2 cores with the
// cluster it measures.
func TestWorkerLoopDoesNotAllocate(t *testing.T) {
	cfg := DefaultRunConfig()
	cfg.KeyDist = DistZipfian
	cfg.Keys = 1000
	g := newWorkload(&cfg).generator(1, 0)
	r := newRecorder(4)
	now := time.Now()
	res := [3]kv.Result{{Status: kv.StatusOK}, {Status: kv.StatusNotFound}, {Status: kv.StatusMismatch}}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		op, req := g.next()
		_ = req
		s := sample{op: op, intended: now, sent: now, done: now.Add(time.Duration(i) * time.Microsecond),
			measured: true, res: res[i%3], openLoop: true}
		r.record(i, &s)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per operation, want 0", allocs)
	}
}

func BenchmarkDriverClosedLoopNopTarget(b *testing.B) {
	cfg := DefaultRunConfig()
	cfg.Clients, cfg.Warmup, cfg.Duration = 2, 0, time.Second
	sum, err := Run(context.Background(), cfg, nopTarget{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(sum.Ops)/sum.DurationS, "ops/s")
	b.ReportMetric(1e9*sum.DurationS*2/float64(sum.Ops), "ns/op/worker")
}

type nopTarget struct{}

func (nopTarget) Name() string { return "nop" }
func (nopTarget) Do(context.Context, Request) (kv.Result, error) {
	return kv.Result{Status: kv.StatusOK}, nil
}
func (nopTarget) Stats() TargetStats { return TargetStats{} }
func (nopTarget) Close() error       { return nil }

// The pacer releases every slot once, in order, and never before it is
// due (but for the 20 µs it does not sleep for): a slot sent early would
// make its latency, counted from the due time, look shorter than it was.
// At a rate above one slot per quantum it wakes once a quantum, so slots
// go out in groups; each still counts from its own due time.
func TestPacerReleasesEverySlotOnceAndNeverEarly(t *testing.T) {
	for _, rate := range []float64{2000, 200_000} {
		r := &runner{cfg: RunConfig{Rate: rate}}
		r.start = time.Now()
		r.end = r.start.Add(100 * time.Millisecond)
		slots := make(chan uint64, 1<<16)
		done := make(chan struct{})
		var got []uint64
		var early []time.Duration
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for k := range slots {
				if d := time.Until(r.intended(k)); d > 20*time.Microsecond {
					early = append(early, d)
				}
				got = append(got, k)
			}
		}()
		r.pace(done, slots)
		<-finished
		want := r.slotsBefore(r.end)
		if uint64(len(got)) != want {
			t.Fatalf("rate %v: %d slots released, want %d", rate, len(got), want)
		}
		for i, k := range got {
			if k != uint64(i) {
				t.Fatalf("rate %v: slot %d released as the %dth", rate, k, i)
			}
		}
		if len(early) > 0 {
			t.Fatalf("rate %v: %d slots released early, first by %v", rate, len(early), early[0])
		}
	}
}

// BenchmarkRecordSample: what recording one measured operation costs the
// generator, with each kind's latency kept apart (split) and without.
func BenchmarkRecordSample(b *testing.B) {
	for _, split := range []bool{false, true} {
		b.Run(fmt.Sprintf("split=%v", split), func(b *testing.B) {
			r := newRecorder(1)
			r.stripes[0].total.splitOp = split
			now := time.Now()
			s := sample{intended: now, sent: now, done: now.Add(300 * time.Microsecond), measured: true}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.op = i % 3
				r.record(0, &s)
			}
		})
	}
}

// AfterPreload runs once, after every key was written by the preload and
// before any measured (or warm-up) operation: what `raftbench run`'s
// profiles rely on to leave the preload out.
func TestAfterPreloadRunsBetweenPreloadAndLoad(t *testing.T) {
	for _, preload := range []bool{true, false} {
		f := newFake()
		cfg := shortConfig()
		cfg.Keys, cfg.Preload = 500, preload
		calls, atCall := 0, uint64(0)
		cfg.AfterPreload = func() error {
			calls++
			atCall = f.n.Load()
			return nil
		}
		sum, err := Run(context.Background(), cfg, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(0)
		if preload {
			want = uint64(cfg.Keys)
		}
		if calls != 1 || atCall != want {
			t.Errorf("preload %v: AfterPreload called %d times, after %d requests; want once, after %d", preload, calls, atCall, want)
		}
		if sum.Ops == 0 || f.n.Load() <= want {
			t.Errorf("preload %v: no load ran after AfterPreload (%d ops, %d requests)", preload, sum.Ops, f.n.Load())
		}
	}
	f := newFake()
	cfg := shortConfig()
	stop := errors.New("profile could not start")
	cfg.AfterPreload = func() error { return stop }
	if _, err := Run(context.Background(), cfg, f, nil); !errors.Is(err, stop) {
		t.Fatalf("Run returned %v, want AfterPreload's error", err)
	}
	if n := f.n.Load(); n != 0 {
		t.Fatalf("%d requests ran after AfterPreload failed, want none", n)
	}
}
