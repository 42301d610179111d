package report

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg/draw"

	"github.com/raftbench/raftbench/bench"
)

// Files written by KeysPlot.
const (
	ThroughputVsKeysPlot = "throughput_vs_keys"
	P999VsKeysPlot       = "p999_vs_keys"
)

// KeysPoint is every run at one key count: its throughput and p99.9 per
// run, and their medians (the line KeysPlot draws).
type KeysPoint struct {
	Keys       int
	Runs       []*RunResult
	OpsMedian  float64
	P999Median float64
}

// KeysSeries groups runs by their workload's key count, in increasing
// order. The runs must differ in nothing else: a mix, client count,
// value size or target that differs is an error, since the plot would
// then not show the cost of state size alone.
func KeysSeries(runs []*RunResult) ([]KeysPoint, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("no runs")
	}
	ref := runs[0].Summary
	by := map[int][]*RunResult{}
	for _, rr := range runs {
		s := rr.Summary
		if s.Target != ref.Target || s.Clients != ref.Clients || s.Nodes != ref.Nodes || s.Fsync != ref.Fsync ||
			s.Workload.Mix != ref.Workload.Mix || s.Workload.ValueBytes != ref.Workload.ValueBytes {
			return nil, fmt.Errorf("%s differs from %s in more than the key count (%s vs %s)",
				rr.Dir, runs[0].Dir, s.Title(), ref.Title())
		}
		by[s.Workload.Keys] = append(by[s.Workload.Keys], rr)
	}
	var out []KeysPoint
	for k, rs := range by {
		ops := make([]float64, len(rs))
		p999 := make([]float64, len(rs))
		for i, rr := range rs {
			ops[i], p999[i] = rr.Summary.ThroughputOps, rr.Summary.LatencyMs.P999
		}
		out = append(out, KeysPoint{Keys: k, Runs: rs, OpsMedian: median(ops), P999Median: median(p999)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Keys < out[j].Keys })
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// KeysPlot draws throughput and p99.9 against the key count (log scale):
// every run as a point, the medians joined by a line.
func KeysPlot(dir string, pts []KeysPoint) error {
	s0 := pts[0].Runs[0].Summary
	title := s0.Title() + ", mix " + s0.Workload.Mix
	for _, c := range []struct {
		name, ylabel string
		logY         bool
		run          func(*RunResult) float64
		med          func(KeysPoint) float64
	}{
		{ThroughputVsKeysPlot, "throughput (ops/s)", false,
			func(rr *RunResult) float64 { return rr.Summary.ThroughputOps }, func(p KeysPoint) float64 { return p.OpsMedian }},
		{P999VsKeysPlot, "p99.9 latency (ms, log scale)", true,
			func(rr *RunResult) float64 { return rr.Summary.LatencyMs.P999 }, func(p KeysPoint) float64 { return p.P999Median }},
	} {
		p := newPlot(title, "distinct keys (log scale)", c.ylabel)
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		if c.logY {
			useLogY(p)
		} else {
			p.Y.Min = 0 // throughput from zero: the drop reads at its true size
		}
		var line, dots plotter.XYs
		for _, pt := range pts {
			line = append(line, plotter.XY{X: float64(pt.Keys), Y: c.med(pt)})
			for _, rr := range pt.Runs {
				dots = append(dots, plotter.XY{X: float64(pt.Keys), Y: c.run(rr)})
			}
		}
		if err := addLine(p, line, "median of runs", 0, false); err != nil {
			return err
		}
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = plotutil.Color(0)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add("each run", sc)
		if err := savePlot(p, dir, c.name); err != nil {
			return err
		}
	}
	return nil
}

// WriteKeysTable writes a markdown table of the series: per key count
// the runs' throughput, p99.9 and peak RSS, and each median's ratio to
// the smallest key count's.
func WriteKeysTable(w *bytes.Buffer, pts []KeysPoint) {
	fmt.Fprintf(w, "| keys | runs | ops/s (each run) | ops/s median | vs %s keys | p99.9 ms (each run) | p99.9 median | vs %s keys | peak RSS MiB (max) |\n",
		bench.FormatCount(float64(pts[0].Keys)), bench.FormatCount(float64(pts[0].Keys)))
	fmt.Fprintf(w, "| ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |\n")
	for _, pt := range pts {
		var ops, p999 []string
		var rss uint64
		for _, rr := range pt.Runs {
			ops = append(ops, bench.FormatCount(rr.Summary.ThroughputOps))
			p999 = append(p999, bench.FormatMs(rr.Summary.LatencyMs.P999))
			rss = max(rss, rr.Summary.PeakRSSBytes)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %.2fx | %s | %s | %.2fx | %s |\n",
			bench.FormatCount(float64(pt.Keys)), len(pt.Runs), join(ops), bench.FormatCount(pt.OpsMedian),
			pt.OpsMedian/pts[0].OpsMedian, join(p999), bench.FormatMs(pt.P999Median), pt.P999Median/pts[0].P999Median,
			rssMiB(rss))
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func rssMiB(b uint64) string {
	if b == 0 {
		return "not recorded"
	}
	return fmt.Sprintf("%.0f", math.Round(float64(b)/(1<<20)))
}
