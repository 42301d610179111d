package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/bench"
)

// ReadHistograms reads a run's histogram.hlog: the measured window's
// latency histogram (tag "latency") and service-time histogram (tag
// "service", nil when absent).
func ReadHistograms(dir string) (lat, svc *hdr.Histogram, err error) {
	path := filepath.Join(dir, HistogramFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	defer f.Close()
	r := hdr.NewHistogramLogReader(f)
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if h == nil {
			break
		}
		switch h.Tag() {
		case "latency":
			lat = h
		case "service":
			svc = h
		}
	}
	if lat == nil {
		return nil, nil, fmt.Errorf("%s: no histogram tagged \"latency\"", path)
	}
	return lat, svc, nil
}

// MergeInput is one generator's run, read back from its directory.
type MergeInput struct {
	Dir      string
	Summary  bench.Summary
	Series   []bench.IntervalStats
	Lat, Svc *hdr.Histogram
}

// ReadMergeInput reads what Merge needs from a run directory.
func ReadMergeInput(dir string) (*MergeInput, error) {
	rr, err := ReadResults(dir)
	if err != nil {
		return nil, err
	}
	lat, svc, err := ReadHistograms(dir)
	if err != nil {
		return nil, err
	}
	return &MergeInput{Dir: dir, Summary: rr.Summary, Series: rr.Series, Lat: lat, Svc: svc}, nil
}

// ErrMismatch is wrapped by Merge's error when runs did not run the same
// load against the same system.
var ErrMismatch = errors.New("runs do not match")

// sameLoad returns how b's load differs from a's ("" when it does not):
// the target and its size, the loop, the workload (everything but the
// seed) and the windows must be the same for the runs to be one run.
func sameLoad(a, b *bench.Summary) string {
	wa, wb := a.Workload, b.Workload
	wa.Seed, wb.Seed = 0, 0
	var diffs []string
	check := func(what string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			diffs = append(diffs, fmt.Sprintf("%s %v vs %v", what, x, y))
		}
	}
	check("target", a.Target, b.Target)
	check("nodes", a.Nodes, b.Nodes)
	check("fsync", a.Fsync, b.Fsync)
	check("mode", a.Mode, b.Mode)
	check("workload", wa.Name, wb.Name)
	check("mix", wa.Mix, wb.Mix)
	check("distribution", wa.Distribution, wb.Distribution)
	check("theta", wa.Theta, wb.Theta)
	check("keys", wa.Keys, wb.Keys)
	check("value bytes", wa.ValueBytes, wb.ValueBytes)
	check("load phase", wa.Preload, wb.Preload)
	check("warm-up s", a.WarmupS, b.WarmupS)
	check("duration s", a.DurationS, b.DurationS)
	return strings.Join(diffs, ", ")
}

// Merge combines runs of several load generators that drove one system
// at the same time into one Summary: counts and throughputs add up, and
// the latency figures come from the merged histograms (never from
// averaged percentiles). Runs must have the same load (sameLoad) and
// distinct seeds (two generators with one seed send the same requests in
// the same order).
//
// Per-second series are aligned by the second since each generator's
// start: ops, errors and late sends add up, each percentile column is the
// maximum over the generators (an upper bound: per-second histograms are
// not stored). Target-side counters (fsyncs, entries per fsync or per
// AppendEntries) are left out: generators on one cluster each saw the
// whole cluster's. Process CPU adds up (each generator's own process).
func Merge(in []*MergeInput) (*bench.Summary, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("merge needs at least two runs, got %d", len(in))
	}
	seeds := map[uint64]string{}
	for _, r := range in {
		if d := sameLoad(&in[0].Summary, &r.Summary); d != "" {
			return nil, fmt.Errorf("%w: %s and %s differ: %s", ErrMismatch, in[0].Dir, r.Dir, d)
		}
		if prev, dup := seeds[r.Summary.Seed]; dup {
			return nil, fmt.Errorf("%w: %s and %s both used seed %d, so they sent the same requests in the same order; give each generator its own --seed",
				ErrMismatch, prev, r.Dir, r.Summary.Seed)
		}
		seeds[r.Summary.Seed] = r.Dir
	}
	first := in[0].Summary
	m := first // environment and load from the first run
	m.Clients, m.Rate, m.Workers = 0, 0, 0
	m.Ops, m.Errors, m.ThroughputOps, m.LateSends, m.MaxLateMs, m.LeaderChanges = 0, 0, 0, 0, 0, 0
	m.OpsByOp, m.ErrorsByKind = map[string]uint64{}, map[string]uint64{}
	m.Results = bench.Results{}
	m.FsyncsPerSec, m.EntriesPerFsync, m.EntriesPerAppend = nil, nil, nil
	m.ServiceLatencyMs, m.ScheduleLagMs, m.History = nil, nil, nil
	// Per cluster, not per generator: generators may share one cluster
	// or each drive its own, so no sum or maximum is right.
	m.Snapshots, m.StateBytes, m.MemoryFloor = nil, 0, nil
	m.Hist, m.SvcHist = in[0].Lat.Clone(), nil
	m.Hist.Reset()
	if in[0].Svc != nil {
		m.SvcHist = in[0].Svc.Clone()
		m.SvcHist.Reset()
	}
	var cpu float64
	cpuKnown := true
	for _, r := range in {
		s := &r.Summary
		m.Clients += s.Clients
		m.Rate += s.Rate
		m.Workers += s.Workers
		m.Ops += s.Ops
		m.Errors += s.Errors
		m.ThroughputOps += s.ThroughputOps
		m.LateSends += s.LateSends
		m.MaxLateMs = max(m.MaxLateMs, s.MaxLateMs)
		m.LeaderChanges = max(m.LeaderChanges, s.LeaderChanges)
		m.Results.OK += s.Results.OK
		m.Results.NotFound += s.Results.NotFound
		m.Results.Mismatch += s.Results.Mismatch
		for k, v := range s.OpsByOp {
			m.OpsByOp[k] += v
		}
		for k, v := range s.ErrorsByKind {
			m.ErrorsByKind[k] += v
		}
		m.Hist.Merge(r.Lat)
		if m.SvcHist != nil && r.Svc != nil {
			m.SvcHist.Merge(r.Svc)
		}
		if s.ProcessCPUCores == nil {
			cpuKnown = false
		} else {
			cpu += *s.ProcessCPUCores
		}
		m.MergedFrom = append(m.MergedFrom, bench.MergedRun{Dir: r.Dir, Seed: s.Seed, Ops: s.Ops, ThroughputOps: s.ThroughputOps,
			Clients: s.Clients, Rate: s.Rate, Date: s.Date, GitCommit: s.GitCommit})
	}
	if hist := m.Hist.TotalCount(); uint64(hist) != m.Ops {
		return nil, fmt.Errorf("merged histogram holds %d values but the runs counted %d ops: a histogram.hlog does not belong to its summary.json", hist, m.Ops)
	}
	m.LatencyMs = bench.LatencyOf(m.Hist)
	if m.Mode == "open" && m.SvcHist != nil {
		l := bench.LatencyOf(m.SvcHist)
		m.ServiceLatencyMs = &l
	}
	m.ProcessCPUCores, m.OpsPerCPUSecond = nil, nil
	if cpuKnown && cpu > 0 {
		m.ProcessCPUCores = &cpu
		opsPerCPU := float64(m.Ops) / (cpu * m.DurationS)
		m.OpsPerCPUSecond = &opsPerCPU
	}
	m.Series = mergeSeries(in)
	m.Date = time.Now().UTC().Format(time.RFC3339)
	m.LoadAvg = nil
	return &m, nil
}

func mergeSeries(in []*MergeInput) []bench.IntervalStats {
	bySec := map[int]*bench.IntervalStats{}
	for _, r := range in {
		for _, is := range r.Series {
			o := bySec[is.Second]
			if o == nil {
				c := is
				c.FsyncsPerSec, c.EntriesPerFsync, c.EntriesPerAppend = 0, 0, 0
				bySec[is.Second] = &c
				continue
			}
			o.Ops += is.Ops
			o.OpsPerSec += is.OpsPerSec
			o.Errors += is.Errors
			o.Late += is.Late
			o.P50, o.P90, o.P99 = max(o.P50, is.P50), max(o.P90, is.P90), max(o.P99, is.P99)
			o.P999, o.Max = max(o.P999, is.P999), max(o.Max, is.Max)
			o.SvcP50, o.SvcP99 = max(o.SvcP50, is.SvcP50), max(o.SvcP99, is.SvcP99)
			o.LeaderChanges = max(o.LeaderChanges, is.LeaderChanges)
			o.Warmup = o.Warmup && is.Warmup
			o.Drain = o.Drain && is.Drain
		}
	}
	secs := make([]int, 0, len(bySec))
	for s := range bySec {
		secs = append(secs, s)
	}
	sort.Ints(secs)
	out := make([]bench.IntervalStats, 0, len(secs))
	for _, s := range secs {
		out = append(out, *bySec[s])
	}
	return slices.Clip(out)
}
