package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/raftbench/raftbench/bench"
)

// Plot files (each written as .png and .svg).
const (
	PlotThroughput = "throughput"
	PlotLatency    = "latency"
	PlotSpectrum   = "spectrum"
	PlotSweep      = "latency_vs_throughput"
)

const (
	plotW = 8 * vg.Inch
	plotH = 4.5 * vg.Inch
	// minLogMs keeps log-scale axes away from zero (1 µs).
	minLogMs = 0.001
)

// PlotRun draws one run's throughput-over-time, latency-over-time and
// percentile-spectrum plots into dir.
func PlotRun(dir string, rr *RunResult) error {
	return PlotOverlay(dir, []*RunResult{rr})
}

// PlotOverlay draws the same three plots with every run as its own line,
// labelled by its configuration.
func PlotOverlay(dir string, runs []*RunResult) error {
	if len(runs) == 0 {
		return fmt.Errorf("plot: no runs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	title, labels := overlayLabels(runs)
	for _, mk := range []struct {
		name string
		make func([]*RunResult, string, []string) (*plot.Plot, error)
	}{{PlotThroughput, throughputPlot}, {PlotLatency, latencyPlot}, {PlotSpectrum, spectrumPlot}} {
		p, err := mk.make(runs, title, labels)
		if err != nil {
			return fmt.Errorf("plot %s: %w", mk.name, err)
		}
		if err := savePlot(p, dir, mk.name); err != nil {
			return err
		}
	}
	return nil
}

func savePlot(p *plot.Plot, dir, name string) error {
	if _, ok := p.Y.Scale.(plot.LogScale); ok {
		fixLogRange(&p.Y)
	}
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, name+ext)
		if err := p.Save(plotW, plotH, path); err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
	}
	return nil
}

// overlayLabels splits the runs' titles into what they share (the plot
// title) and what tells each apart (its legend label); labels are nil
// for a single run.
func overlayLabels(runs []*RunResult) (string, []string) {
	if len(runs) == 1 {
		return runs[0].Summary.Title(), nil
	}
	parts := make([][]string, len(runs))
	for i, rr := range runs {
		parts[i] = strings.Split(rr.Summary.Title(), ", ")
	}
	var common []string
	labels := make([]string, len(runs))
	for _, p := range parts[0] {
		shared := true
		for _, q := range parts[1:] {
			shared = shared && slices.Contains(q, p)
		}
		if shared {
			common = append(common, p)
		}
	}
	for i, ps := range parts {
		var own []string
		for _, p := range ps {
			if !slices.Contains(common, p) {
				own = append(own, p)
			}
		}
		labels[i] = strings.Join(own, ", ")
		if labels[i] == "" { // identical configurations: tell them apart by directory
			labels[i] = filepath.Base(runs[i].Dir)
		}
	}
	return strings.Join(common, ", "), labels
}

// runLabel is run i's legend prefix in an overlay ("" for one run).
func runLabel(labels []string, i int) string {
	if labels == nil {
		return ""
	}
	return labels[i] + ": "
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, xys plotter.XYs, label string, i int, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	if label != "" {
		p.Legend.Add(label, l)
	}
	return nil
}

func throughputPlot(runs []*RunResult, title string, labels []string) (*plot.Plot, error) {
	p := newPlot("Throughput: "+title, "elapsed time (s)", "throughput (ops/s)")
	many := len(runs) > 1
	for i, rr := range runs {
		xys := make(plotter.XYs, 0, len(rr.Series))
		for _, is := range rr.Series {
			xys = append(xys, plotter.XY{X: is.ElapsedS, Y: is.OpsPerSec})
		}
		label := "ops/s"
		if many {
			label = labels[i]
		}
		if err := addLine(p, xys, label, i, false); err != nil {
			return nil, err
		}
	}
	p.Y.Min, p.X.Min = 0, 0
	p.Y.Tick.Marker, p.X.Tick.Marker = countTicks{}, countTicks{}
	p.Legend.Top = false
	if !many && runs[0].Summary.WarmupS > 0 && len(runs[0].Series) > 0 {
		if err := markWarmup(p, runs[0]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// markWarmup draws a dashed vertical line where the measured window starts.
func markWarmup(p *plot.Plot, rr *RunResult) error {
	top := 0.0
	for _, is := range rr.Series {
		top = math.Max(top, is.OpsPerSec)
	}
	w := rr.Summary.WarmupS
	l, err := plotter.NewLine(plotter.XYs{{X: w, Y: 0}, {X: w, Y: top * 1.05}})
	if err != nil {
		return err
	}
	l.Color = color.Gray{Y: 110}
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(l)
	p.Legend.Add("end of warm-up ("+strconv.FormatFloat(w, 'g', -1, 64)+" s)", l)
	return nil
}

// countTicks labels a linear axis at 1-2-5 steps with thousands separators.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: bench.FormatCount(lo)}}
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		label := bench.FormatCount(v)
		if step < 1 {
			label = strconv.FormatFloat(v, 'g', 4, 64)
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
		if minor := v + step/2; minor < hi {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	return ticks
}

func latencyPlot(runs []*RunResult, title string, labels []string) (*plot.Plot, error) {
	p := newPlot("Latency per second: "+title, "elapsed time (s)", "latency (ms, log scale)")
	useLogY(p)
	p.X.Tick.Marker = countTicks{}
	many := len(runs) > 1
	type q struct {
		name string
		get  func(*bench.IntervalStats) float64
	}
	qs := []q{{"p50", func(s *bench.IntervalStats) float64 { return s.P50 }},
		{"p90", func(s *bench.IntervalStats) float64 { return s.P90 }},
		{"p99", func(s *bench.IntervalStats) float64 { return s.P99 }},
		{"max", func(s *bench.IntervalStats) float64 { return s.Max }}}
	if many {
		qs = []q{qs[0], qs[2]} // p50 dashed, p99 solid per run
	}
	for ri, rr := range runs {
		for qi, qq := range qs {
			xys := make(plotter.XYs, 0, len(rr.Series))
			for j := range rr.Series {
				if rr.Series[j].Ops == 0 {
					continue
				}
				xys = append(xys, plotter.XY{X: rr.Series[j].ElapsedS, Y: math.Max(qq.get(&rr.Series[j]), minLogMs)})
			}
			p.X.Min = 0
			color, dashed := qi, false
			if many {
				color, dashed = ri, qi == 0
			}
			if err := addLine(p, xys, runLabel(labels, ri)+qq.name, color, dashed); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// nines maps a percentile to -log10(1 - p/100): p90 -> 1, p99 -> 2, ...
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

func spectrumPlot(runs []*RunResult, title string, labels []string) (*plot.Plot, error) {
	p := newPlot("Latency percentile spectrum: "+title, "percentile (log scale of 1 - p)", "latency (ms, log scale)")
	useLogY(p)
	p.X.Tick.Marker = plot.ConstantTicks{
		{Value: 0, Label: "p0"}, {Value: nines(50), Label: "p50"}, {Value: 1, Label: "p90"},
		{Value: 2, Label: "p99"}, {Value: 3, Label: "p99.9"}, {Value: 4, Label: "p99.99"}, {Value: 5, Label: "p99.999"},
	}
	p.X.Min, p.X.Max = 0, 5
	p.Legend.Left = true // the curves rise to the right
	many := len(runs) > 1
	for i, rr := range runs {
		open := rr.Summary.Mode == "open"
		var lat, svc plotter.XYs
		for _, pt := range rr.Percentiles {
			if pt.Percentile >= 100 || pt.Percentile > 99.9991 {
				continue
			}
			x := nines(pt.Percentile)
			lat = append(lat, plotter.XY{X: x, Y: math.Max(pt.LatencyMs, minLogMs)})
			svc = append(svc, plotter.XY{X: x, Y: math.Max(pt.ServiceMs, minLogMs)})
		}
		name := "latency"
		if open {
			name = "latency from intended send"
		}
		if many && !open {
			name = labels[i]
		} else {
			name = runLabel(labels, i) + name
		}
		if err := addLine(p, lat, name, i, false); err != nil {
			return nil, err
		}
		if open {
			if err := addLine(p, svc, runLabel(labels, i)+"raw service time", i, true); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// useLogY puts the Y axis on a log scale with 1-2-5 labels.
func useLogY(p *plot.Plot) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
}

// fixLogRange keeps a log axis drawable: gonum widens an empty range
// by ±1, which would reach zero or below.
func fixLogRange(a *plot.Axis) {
	if math.IsInf(a.Min, 0) || math.IsInf(a.Max, 0) || a.Min <= 0 {
		a.Min, a.Max = minLogMs, 1
		return
	}
	if a.Max < a.Min*2 {
		a.Min, a.Max = a.Min/2, a.Max*2
	}
}

// logTicks labels 1, 2 and 5 times each power of ten; gonum's LogTicks
// labels decades only, which leaves a narrow range unlabelled.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	lo, hi = math.Max(lo, minLogMs), math.Max(hi, minLogMs)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 4, 64)
			}
			ticks = append(ticks, t)
		}
	}
	if len(ticks) < 2 { // a very narrow range: label its ends
		ticks = append(ticks, plot.Tick{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)},
			plot.Tick{Value: hi, Label: strconv.FormatFloat(hi, 'g', 3, 64)})
	}
	return ticks
}

// SweepPlot draws latency (p50, p99) against achieved throughput for
// one or more sweeps, marking each sweep's saturation point.
func SweepPlot(dir string, sweeps []*bench.SweepResult) error {
	title := "Latency vs throughput"
	if len(sweeps) == 1 && len(sweeps[0].Points) > 0 {
		title += ": " + sweeps[0].Title
	}
	p := newPlot(title, "achieved throughput (ops/s)", "latency (ms, log scale)")
	useLogY(p)
	p.Legend.Left = true // the curve rises to the right
	many := len(sweeps) > 1
	for si, sw := range sweeps {
		var p50, p99 plotter.XYs
		for _, pt := range sw.Points {
			p50 = append(p50, plotter.XY{X: pt.ThroughputOps, Y: math.Max(pt.LatencyMs.P50, minLogMs)})
			p99 = append(p99, plotter.XY{X: pt.ThroughputOps, Y: math.Max(pt.LatencyMs.P99, minLogMs)})
		}
		prefix := ""
		if many {
			prefix = sw.Title + " "
		}
		for qi, xys := range []plotter.XYs{p50, p99} {
			if len(xys) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			c := plotutil.Color(si*2 + qi)
			if many {
				c = plotutil.Color(si)
			}
			l.Color, s.Color = c, c
			if qi == 0 {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(l, s)
			p.Legend.Add(prefix+[]string{"p50 (from intended send)", "p99 (from intended send)"}[qi], l, s)
		}
		if sw.Saturation != nil {
			if err := markSaturation(p, sw); err != nil {
				return err
			}
		}
	}
	p.X.Min = 0
	p.X.Tick.Marker = countTicks{}
	return savePlot(p, dir, PlotSweep)
}

func markSaturation(p *plot.Plot, sw *bench.SweepResult) error {
	sat := sw.Saturation
	s, err := plotter.NewScatter(plotter.XYs{{X: sat.ThroughputOps, Y: math.Max(sat.LatencyMs.P99, minLogMs)}})
	if err != nil {
		return err
	}
	s.GlyphStyle.Shape = plotutil.Shape(3)
	s.GlyphStyle.Radius = vg.Points(6)
	s.GlyphStyle.Color = color.Black
	p.Add(s)
	label := fmt.Sprintf("saturation: %s ops/s", bench.FormatCount(sat.ThroughputOps))
	if !sw.Saturated {
		label = fmt.Sprintf("highest rate tried, not saturated: %s ops/s", bench.FormatCount(sat.ThroughputOps))
	}
	p.Legend.Add(label, s)
	return nil
}
