package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/raftbench/raftbench/bench"
)

// Files of a failover run.
const (
	FailoverFile   = "failover.json"
	FailoverMDFile = "failover.md"
)

// WriteFailover writes failover.json, failover.md, the run's own files
// (WriteResults) and the timeline plots failover_throughput and
// failover_p99 (PNG and SVG) into dir.
func WriteFailover(dir string, res *bench.FailoverResult) error {
	if err := WriteResults(dir, res.Summary); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, FailoverFile), func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return err
	}
	var md bytes.Buffer
	WriteFailoverTable(&md, res)
	if err := os.WriteFile(filepath.Join(dir, FailoverMDFile), md.Bytes(), 0o644); err != nil {
		return err
	}
	return plotFailover(dir, res)
}

// WriteFailoverTable prints the failover figures as markdown.
func WriteFailoverTable(w *bytes.Buffer, res *bench.FailoverResult) {
	s := res.Summary
	fmt.Fprintf(w, "# raftbench failover: %s the leader\n\n%s; workload %s; fault %.1f s after the warm-up", res.Fault, s.Title(), s.Workload.Name, res.AtS)
	if res.ForS > 0 {
		fmt.Fprintf(w, ", lasting %.1f s", res.ForS)
	}
	fmt.Fprintf(w, ".\n\nCommand: `%s`\n\n", s.Command)
	if s.Environment != nil {
		fmt.Fprintf(w, "Environment: %s.\n\n", s.Environment)
	}
	ms := func(v float64) string {
		if v < 0 {
			return "never"
		}
		return bench.FormatMs(v) + " ms"
	}
	fmt.Fprintf(w, "| target | election timeout | fault | old leader | new leader | time to new leader | time to first successful write | failed | unknown |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s | %s | %d | %d |\n\n", res.Target, electionTimeout(res), res.Fault, res.OldLeader, res.NewLeader,
		ms(res.NewLeaderMs), ms(res.FirstWriteMs), res.Failed, res.Unknown)
	fmt.Fprintf(w, "Time to new leader: until another node leads in a higher term (polled every millisecond). "+
		"Time to first successful write: until the first write sent after the fault was answered. "+
		"Failed (definitely not done) and unknown (timeouts, indeterminate) count operations sent between the fault and that write.\n\n")
	fmt.Fprintf(w, "| phase | from s | to s | ops | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, p := range res.Phases {
		keys := make([]string, 0, len(p.Errors))
		for k := range p.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var errs []string
		for _, k := range keys {
			errs = append(errs, fmt.Sprintf("%s %d", k, p.Errors[k]))
		}
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %d | %s | %s | %s | %s | %s | %s |\n", p.Name, p.FromS, p.ToS, p.Ops,
			bench.FormatCount(p.OpsPerSec), bench.FormatMs(p.LatencyMs.P50), bench.FormatMs(p.LatencyMs.P99),
			bench.FormatMs(p.LatencyMs.P999), bench.FormatMs(p.LatencyMs.Max), orNone(strings.Join(errs, ", ")))
	}
	fmt.Fprintf(w, "\nPhases hold the operations sent in them (measured window). Plots: [throughput](failover_throughput.svg), [p99](failover_p99.svg).\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func plotFailover(dir string, res *bench.FailoverResult) error {
	bin := 0.1
	if len(res.Timeline) > 1 {
		bin = res.Timeline[1].T - res.Timeline[0].T
	}
	for _, pl := range []struct {
		name, y string
		v       func(bench.FailoverPoint) float64
	}{
		{"failover_throughput", "ops/s", func(p bench.FailoverPoint) float64 { return p.OpsPerSec }},
		{"failover_p99", "p99 latency (ms)", func(p bench.FailoverPoint) float64 { return p.P99Ms }},
	} {
		p := newPlot(fmt.Sprintf("%s: %s the leader (%.0f ms bins)", res.Summary.Title(), res.Fault, bin*1000), "seconds from the fault", pl.y)
		var xys plotter.XYs
		top := 0.0
		for _, pt := range res.Timeline {
			xys = append(xys, plotter.XY{X: pt.T, Y: pl.v(pt)})
			top = max(top, pl.v(pt))
		}
		if err := addLine(p, xys, res.Target, 0, false); err != nil {
			return err
		}
		marks := []struct {
			x     float64
			label string
		}{{0, "fault"}}
		if res.NewLeaderMs >= 0 {
			marks = append(marks, struct {
				x     float64
				label string
			}{res.NewLeaderMs / 1000, "new leader"})
		}
		if res.FirstWriteMs >= 0 {
			marks = append(marks, struct {
				x     float64
				label string
			}{res.FirstWriteMs / 1000, "first write"})
		}
		for i, m := range marks {
			l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: 0}, {X: m.x, Y: top*1.05 + 1e-9}})
			if err != nil {
				return err
			}
			l.Color = color.Gray{Y: uint8(60 + 50*i)}
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s (%.3f s)", m.label, m.x), l)
		}
		if err := savePlot(p, dir, pl.name); err != nil {
			return err
		}
	}
	return nil
}

// WriteFailoverComparison prints several targets' failover runs side by
// side (the same load and fault, one run each, one after the other).
func WriteFailoverComparison(w *bytes.Buffer, results []*bench.FailoverResult) {
	if len(results) == 0 {
		return
	}
	r0 := results[0]
	fmt.Fprintf(w, "# raftbench failover: %s the leader, side by side\n\n", r0.Fault)
	fmt.Fprintf(w, "Workload %s, %d clients, fault %.1f s after the warm-up", r0.Summary.Workload.Name, r0.Summary.Clients, r0.AtS)
	if r0.ForS > 0 {
		fmt.Fprintf(w, ", lasting %.1f s", r0.ForS)
	}
	fmt.Fprintf(w, "; one run per target, one after the other. ")
	if sameElectionTimeout(results) {
		fmt.Fprintf(w, "Every target ran with the same base election timeout, %s, so the times compare code, not configurations.\n\n", electionTimeout(r0))
	} else {
		fmt.Fprintf(w, "The targets ran with different base election timeouts (see the table; `--election-timeout` sets one for all), "+
			"so the times compare configurations as well as code.\n\n")
	}
	if env := r0.Summary.Environment; env != nil {
		fmt.Fprintf(w, "Environment: %s.\n\n", env)
	}
	ms := func(v float64) string {
		if v < 0 {
			return "never"
		}
		return bench.FormatMs(v)
	}
	fmt.Fprintf(w, "| target | election timeout | new leader ms | first write ms | failed | unknown | ops/s before | ops/s after | p99 ms before | p99 ms during | p99 ms after |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range results {
		ph := map[string]bench.FailoverPhase{}
		for _, p := range r.Phases {
			ph[p.Name] = p
		}
		fmt.Fprintf(w, "| [%s](%s/failover.md) | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |\n", r.Summary.Target, r.Summary.Target,
			electionTimeout(r), ms(r.NewLeaderMs), ms(r.FirstWriteMs), r.Failed, r.Unknown,
			bench.FormatCount(ph["before"].OpsPerSec), bench.FormatCount(ph["after"].OpsPerSec),
			bench.FormatMs(ph["before"].LatencyMs.P99), bench.FormatMs(ph["during"].LatencyMs.P99), bench.FormatMs(ph["after"].LatencyMs.P99))
	}
}

// electionTimeout is a result's base election timeout as a table cell.
func electionTimeout(r *bench.FailoverResult) string {
	if r.ElectionTimeoutMs <= 0 {
		return "not stated"
	}
	return bench.FormatMs(r.ElectionTimeoutMs) + " ms"
}

// sameElectionTimeout reports whether every result states one and the
// same base election timeout.
func sameElectionTimeout(results []*bench.FailoverResult) bool {
	for _, r := range results {
		if r.ElectionTimeoutMs <= 0 || r.ElectionTimeoutMs != results[0].ElectionTimeoutMs {
			return false
		}
	}
	return true
}
