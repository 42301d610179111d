package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
)

func newPlotCmd() *cobra.Command {
	var out string
	var markdown bool
	var linkBase string
	var x string
	c := &cobra.Command{
		Use:   "plot DIR... [--out DIR]",
		Short: "Redraw plots from saved results, overlaying several runs",
		Long: `plot redraws the plots of saved results. DIR is a run directory (with
summary.json) or a sweep directory (with sweep.json). One directory is
redrawn in place unless --out is given; several are overlaid, one line per
run or sweep, into --out (required then). Run and sweep directories cannot
be mixed.

--x keys draws runs that differ only in their key count (the state-size
series) as throughput and p99.9 against keys, each run a point and the
medians joined, with a table (--markdown) of every run and each median's
ratio to the smallest key count's.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			switch x {
			case "time":
				return runPlot(cmd.OutOrStdout(), dirs, out, markdown, linkBase)
			case "keys":
				return plotKeys(cmd.OutOrStdout(), dirs, out, markdown)
			}
			return usageError("--x %q: want time or keys", x)
		},
	}
	c.Flags().StringVar(&x, "x", "time", "time: each run's plots over time (overlaid); keys: throughput and p99.9 against the runs' key counts")
	c.Flags().StringVar(&out, "out", "", "output directory (default: the directory itself when there is one)")
	c.Flags().BoolVar(&markdown, "markdown", false, "print a markdown table of the runs (for results/README.md)")
	c.Flags().StringVar(&linkBase, "link-base", "", "with --markdown: make plot links relative to this directory (default: --out)")
	return c
}

func isSweepDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, report.SweepFile))
	return err == nil
}

func runPlot(stdout io.Writer, dirs []string, out string, markdown bool, linkBase string) error {
	if len(dirs) > 1 && out == "" {
		return usageError("overlaying %d directories needs --out DIR", len(dirs))
	}
	if out == "" {
		out = dirs[0]
	}
	sweeps := 0
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return usageError("%s is not a directory", d)
		}
		if isSweepDir(d) {
			sweeps++
		}
	}
	if sweeps != 0 && sweeps != len(dirs) {
		return usageError("cannot mix sweep directories (with %s) and run directories", report.SweepFile)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if sweeps > 0 {
		return plotSweeps(stdout, dirs, out, markdown)
	}
	runs := make([]*report.RunResult, 0, len(dirs))
	for _, d := range dirs {
		rr, err := report.ReadResults(d)
		if err != nil {
			return err
		}
		runs = append(runs, rr)
	}
	if err := report.PlotOverlay(out, runs); err != nil {
		return err
	}
	if markdown {
		if linkBase == "" {
			linkBase = out
		}
		report.WriteMarkdownTable(stdout, linkBase, runs)
		return nil
	}
	fmt.Fprintf(stdout, "plots in %s: %s, %s, %s (.png, .svg)\n", out, report.PlotThroughput, report.PlotLatency, report.PlotSpectrum)
	return nil
}

func plotSweeps(stdout io.Writer, dirs []string, out string, markdown bool) error {
	var sweeps []*bench.SweepResult
	for _, d := range dirs {
		sw, err := report.ReadSweep(d)
		if err != nil {
			return err
		}
		sweeps = append(sweeps, sw)
		if len(dirs) == 1 { // redraw each rate's own plots too
			for _, p := range sw.Points {
				rd := filepath.Join(d, p.Dir)
				rr, err := report.ReadResults(rd)
				if err != nil {
					return err
				}
				if err := report.PlotRun(filepath.Join(out, p.Dir), rr); err != nil {
					return err
				}
			}
		}
	}
	if err := report.SweepPlot(out, sweeps); err != nil {
		return err
	}
	if markdown {
		for _, sw := range sweeps {
			writeSweepMarkdown(stdout, sw)
		}
		return nil
	}
	fmt.Fprintf(stdout, "plots in %s: %s (.png, .svg)\n", out, report.PlotSweep)
	return nil
}

// writeSweepMarkdown prints a sweep's points and its saturation verdict.
func writeSweepMarkdown(w io.Writer, sw *bench.SweepResult) {
	fmt.Fprintln(w, "| offered ops/s | achieved ops/s | p50 ms | p99 ms | p99.9 ms | service p99 ms | errors | verdict |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, p := range sw.Points {
		verdict := "ok"
		if p.Exploded != "" {
			verdict = "exploded: " + p.Exploded
		}
		fmt.Fprintf(w, "| %.0f | %.0f | %.3g | %.3g | %.3g | %.3g | %d | %s |\n", p.Rate, p.ThroughputOps,
			p.LatencyMs.P50, p.LatencyMs.P99, p.LatencyMs.P999, p.ServiceLatencyMs.P99, p.Errors, verdict)
	}
	fmt.Fprintln(w)
	switch {
	case sw.Saturation == nil:
		fmt.Fprintln(w, "- No rate held: the saturation point is below the lowest rate tried.")
	case !sw.Saturated:
		fmt.Fprintf(w, "- No rate exploded: saturation is above %.0f ops/s, the highest rate tried.\n", sw.Saturation.ThroughputOps)
	default:
		fmt.Fprintf(w, "- **Saturation throughput: %.0f ops/s** (the last rate before the first that exploded).\n", sw.Saturation.ThroughputOps)
	}
	if sw.P99AtHalfSaturationMs > 0 {
		fmt.Fprintf(w, "- **p99 at half of it (%.0f ops/s): %.3g ms** %s\n", sw.HalfSaturationOps, sw.P99AtHalfSaturationMs, sw.HalfSaturationNote)
	}
}

func init() { addCommand(newPlotCmd()) }

// plotKeys is `plot --x keys`: the state-size series.
func plotKeys(stdout io.Writer, dirs []string, out string, markdown bool) error {
	if out == "" {
		return usageError("--x keys needs --out DIR")
	}
	runs := make([]*report.RunResult, 0, len(dirs))
	for _, d := range dirs {
		if isSweepDir(d) {
			return usageError("--x keys takes run directories, not sweeps (%s)", d)
		}
		rr, err := report.ReadResults(d)
		if err != nil {
			return err
		}
		runs = append(runs, rr)
	}
	pts, err := report.KeysSeries(runs)
	if err != nil {
		return usageError("%v", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := report.KeysPlot(out, pts); err != nil {
		return err
	}
	if markdown {
		var md bytes.Buffer
		report.WriteKeysTable(&md, pts)
		stdout.Write(md.Bytes())
	}
	return nil
}
