package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
)

func newSweepCmd() *cobra.Command {
	f := &loadFlags{}
	var rates string
	var floor time.Duration
	c := &cobra.Command{
		Use:   "sweep --rates R1,R2,... --out DIR [flags]",
		Short: "Open-loop runs at increasing rates until latency explodes",
		Long: `sweep runs the open loop at each rate in turn, each against a freshly
started cluster, writing every run to DIR/rate-<R>/, and stops at the first
rate that explodes. Stopping rule: ` + bench.SweepRule + `.

DIR/sweep.json records every point, the saturation throughput and the p99
at half of it; DIR/latency_vs_throughput.{png,svg} draws the curve. With
--disk-floor D (fsync on) it then measures for D what the disk alone gives
an open loop of writes at the half-saturation rate, every replica's log in
--data-dir written and flushed, both ways a log can be written (appended
with fsync; overwriting a preallocated file with fdatasync): the way with
the lower p99 is the floor under that p99.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := bench.ParseRates(rates)
			if err != nil {
				return usageError("--rates: %v", err)
			}
			if f.out == "" {
				return usageError("--out DIR is required")
			}
			f.rate = rs[0]
			cfg, err := f.runConfig()
			if err != nil {
				return err
			}
			if floor < 0 || floor > time.Minute {
				return usageError("--disk-floor %v: want 0 (skip) up to 1m", floor)
			}
			if floor > 0 && !f.fsync {
				return usageError("--disk-floor needs fsync on")
			}
			return runSweep(cmd.OutOrStdout(), f, cfg, rs, floor)
		},
	}
	f.register(c.Flags(), false)
	c.Flags().StringVar(&rates, "rates", "", "increasing offered rates in ops/s, e.g. 1000,2000,5000,10k")
	c.Flags().StringVar(&f.out, "out", "", "output directory (required)")
	c.Flags().DurationVar(&floor, "disk-floor", 0, "after the sweep, measure for this long, each way of writing a log, the open-loop disk floor at the half-saturation rate (every replica's log, fsync on, in --data-dir); 0 skips")
	return c
}

func runSweep(stdout io.Writer, f *loadFlags, base bench.RunConfig, rates []float64, floor time.Duration) error {
	ctx, stop := signalContext()
	defer stop()
	sess, err := newSession(f)
	if err != nil {
		return err
	}
	defer sess.close()
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	run := func(ctx context.Context, cfg bench.RunConfig) (*bench.Summary, string, error) {
		dir := "rate-" + strconv.FormatFloat(cfg.Rate, 'f', -1, 64)
		fmt.Fprintf(os.Stderr, "sweep: %s ops/s offered\n", strconv.FormatFloat(cfg.Rate, 'f', -1, 64))
		sum, err := sess.runOnce(ctx, cfg, filepath.Join(f.out, dir))
		return sum, dir, err
	}
	res, err := bench.Sweep(ctx, base, rates, run, os.Stderr)
	if err != nil {
		return err
	}
	if floor > 0 && res.HalfSaturationOps > 0 {
		fmt.Fprintf(os.Stderr, "sweep: disk floor, open loop at %.0f writes/s for %v\n", res.HalfSaturationOps, floor)
		fl, other, err := bench.MeasureBetterFloor(ctx, f.dataDir, bench.FloorConfig{
			Nodes: f.nodes, RecordBytes: floorRecordBytes(base), Rate: res.HalfSaturationOps, EveryReplica: true, Duration: floor,
		}, bench.LowerP99)
		if err != nil {
			return err
		}
		res.HalfSaturationFloor, res.HalfSaturationFloorOther = fl, other
	}
	if err := report.WriteSweep(f.out, res); err != nil {
		return err
	}
	writeSweepTable(stdout, res)
	abs, _ := filepath.Abs(f.out)
	fmt.Fprintf(stdout, "\nresults in %s\n", abs)
	return nil
}

func writeSweepTable(w io.Writer, res *bench.SweepResult) {
	fmt.Fprintf(w, "\n%s\n", res.Title)
	fmt.Fprintf(w, "  %12s %12s %10s %10s %10s %12s %8s  %s\n", "offered/s", "achieved/s", "p50 ms", "p99 ms", "p99.9 ms", "svc p99 ms", "errors", "")
	for _, p := range res.Points {
		fmt.Fprintf(w, "  %12.0f %12.0f %10.3f %10.3f %10.3f %12.3f %8d  %s\n", p.Rate, p.ThroughputOps,
			p.LatencyMs.P50, p.LatencyMs.P99, p.LatencyMs.P999, p.ServiceLatencyMs.P99, p.Errors, p.Exploded)
	}
	switch {
	case res.Saturation == nil:
		fmt.Fprintln(w, "  no rate held: even the first rate exploded; try lower rates")
	case !res.Saturated:
		fmt.Fprintf(w, "  not saturated up to %.0f ops/s offered (achieved %.0f); try higher rates\n", res.Saturation.Rate, res.Saturation.ThroughputOps)
	default:
		fmt.Fprintf(w, "  saturation: %.0f ops/s (offered %.0f); p99 at half of it (%.0f ops/s): %.3f ms (%s)\n",
			res.Saturation.ThroughputOps, res.Saturation.Rate, res.HalfSaturationOps, res.P99AtHalfSaturationMs, res.HalfSaturationNote)
	}
	if res.Saturation != nil && !res.Saturated {
		fmt.Fprintf(w, "  p99 at half of the highest rate held (%.0f ops/s): %.3f ms (%s)\n",
			res.HalfSaturationOps, res.P99AtHalfSaturationMs, res.HalfSaturationNote)
	}
	for _, fl := range []*bench.DiskFloor{res.HalfSaturationFloor, res.HalfSaturationFloorOther} {
		if fl != nil {
			fmt.Fprintf(w, "  the disk alone at %.0f writes/s (open loop, %d logs, a write durable on %d, %d B records, %s): p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms\n",
				fl.Rate, fl.Files, fl.Quorum, fl.RecordBytes, fl.Way(), fl.P50Us/1000, fl.P99Us/1000, fl.P999Us/1000)
		}
	}
}

// floorRecordBytes is about one client write's log record: the value, the
// key and the entry's framing and session header.
func floorRecordBytes(cfg bench.RunConfig) int {
	return max(cfg.ValueBytes, 1) + 48
}

func init() { addCommand(newSweepCmd()) }
