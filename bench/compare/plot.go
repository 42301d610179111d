package compare

import (
	"cmp"
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlots draws throughput and p99 against clients, one line per
// system, as PNG and SVG; the throughput chart also draws the disk's
// ceiling when the disk floor was measured.
func writePlots(dir string, r *Result) error {
	fs := "fsync on"
	if !r.Fsync {
		fs = "fsync off"
	} else if r.hasNoFsyncSystem() {
		fs = "fsync on (off for " + NoFsyncSuffix + ")"
	}
	if r.ModelFsync != "" {
		fs += ", modelled disk (fsync = " + r.ModelFsync + ")"
	}
	if len(r.Rows) == 0 {
		return nil // nothing measured (the first run failed): no plots
	}
	cond := fmt.Sprintf("%d nodes, %d B values, %s", r.Nodes, r.ValueBytes, fs)
	if r.Workload != nil {
		cond = fmt.Sprintf("workload %s, %s", r.Workload.Name, cond)
	}
	charts := []struct {
		name, title, ylabel string
		logY, ceiling       bool
		y                   func(Row) float64
	}{
		{"throughput_vs_clients", "Throughput vs clients (median of repeats), " + cond, "throughput (ops/s)", false, true,
			func(row Row) float64 { return row.OpsMedian }},
		{"p99_vs_clients", "p99 latency vs clients (median of repeats), " + cond, "p99 latency (ms, log scale)", true, false,
			func(row Row) float64 { return row.P99Ms }},
	}
	for _, c := range charts {
		p, err := chart(r, c.title, c.ylabel, c.logY, c.y)
		if err == nil && c.ceiling {
			err = addCeiling(p, r)
		}
		if err != nil {
			return fmt.Errorf("compare: plot %s: %w", c.name, err)
		}
		for _, ext := range []string{".png", ".svg"} {
			if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, c.name+ext)); err != nil {
				return fmt.Errorf("compare: save %s%s: %w", c.name, ext, err)
			}
		}
	}
	return nil
}

func chart(r *Result, title, ylabel string, logY bool, y func(Row) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "concurrent clients (log scale)"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = clientTicks(r.Clients)
	// Log axes need positive, distinct bounds even for a single point.
	p.X.Min, p.X.Max = float64(slices.Min(r.Clients))/1.5, float64(slices.Max(r.Clients))*1.5
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for i, s := range r.Systems {
		var pts plotter.XYs
		label := s
		for _, row := range r.Rows {
			if row.System == s && (!logY || y(row) > 0) {
				pts = append(pts, plotter.XY{X: float64(row.Clients), Y: y(row)})
			}
			if row.System == s && row.Gate != "" && label == s {
				label = s + " (not ranked: " + strings.ToLower(row.Gate) + ")"
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(label, line, points)
	}
	if logY {
		p.Y.Min, p.Y.Max = p.Y.Min/1.5, p.Y.Max*1.5
		if !(p.Y.Min > 0) {
			p.Y.Min, p.Y.Max = 0.001, 1 // no positive value: an empty but valid chart
		}
	} else {
		p.Y.Min, p.Y.Max = 0, p.Y.Max*1.1
	}
	return p, nil
}

// addCeiling draws the disk's ops/s ceiling for the usual design (every
// replica's log writing) at each client count, if it was measured.
func addCeiling(p *plot.Plot, r *Result) error {
	if len(r.DiskFloor) == 0 {
		return nil
	}
	nodes := r.DiskFloor[0].Nodes
	var pts plotter.XYs
	for _, c := range r.Clients {
		if v := r.floorCeiling(c, nodes); v > 0 {
			pts = append(pts, plotter.XY{X: float64(c), Y: v})
		}
	}
	if len(pts) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	line.Color, points.Color = color.Gray{Y: 96}, color.Gray{Y: 96}
	line.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
	points.Shape = draw.CrossGlyph{}
	p.Add(line, points)
	p.Legend.Add(fmt.Sprintf("disk ceiling, fsync on (%d of %d logs writing)", nodes, nodes), line, points)
	p.Y.Max = max(p.Y.Max, slices.MaxFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.Y, b.Y) }).Y*1.1)
	return nil
}

// clientTicks labels exactly the client counts that were measured.
type clientTicks []int

func (c clientTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for _, n := range c {
		t = append(t, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	return t
}
