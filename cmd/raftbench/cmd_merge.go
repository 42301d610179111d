package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
)

func newMergeCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "merge DIR... --out DIR",
		Short: "Combine the runs of several load generators into one result",
		Long: `merge combines the output directories of ` + "`raftbench run --out`" + ` made by several
load generators that drove one system at the same time (one per machine
against one TCP cluster, say) into one summary.json, table, HDR log and set
of plots in --out. Counts and throughputs add up; latency percentiles come
from the merged HDR histograms (histogram.hlog), never from averaged
percentiles. The runs must have the same target, cluster size, fsync
setting, loop, workload (mix, distribution, theta, keys, value size, load
phase), warm-up and duration, and each its own --seed; anything else is an
error naming the difference.

Per-second series are aligned by the second since each generator started
(start the generators together): ops and errors add up, each per-second
percentile is the maximum over the generators (an upper bound). Target-side
counters (fsyncs, entries per fsync) are not merged: every generator on one
cluster saw all of it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			return runMerge(cmd.OutOrStdout(), dirs, out)
		},
	}
	c.Flags().StringVar(&out, "out", "", "output directory for the merged result (required)")
	return c
}

func runMerge(stdout io.Writer, dirs []string, out string) error {
	if out == "" {
		return usageError("--out DIR is required")
	}
	if len(dirs) < 2 {
		return usageError("merge needs at least two run directories, got %d", len(dirs))
	}
	var in []*report.MergeInput
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return usageError("%s is not a directory", d)
		}
		mi, err := report.ReadMergeInput(d)
		if err != nil {
			return usageError("%v", err)
		}
		in = append(in, mi)
	}
	m, err := report.Merge(in)
	if err != nil {
		if errors.Is(err, report.ErrMismatch) {
			return usageError("cannot merge: %v", err)
		}
		return err
	}
	m.Command = "raftbench merge " + strings.Join(dirs, " ") + " --out " + out
	if err := report.WriteResults(out, m); err != nil {
		return err
	}
	report.WriteTable(stdout, m)
	fmt.Fprintf(stdout, "  %-22s %d runs:", "merged", len(m.MergedFrom))
	for _, r := range m.MergedFrom {
		fmt.Fprintf(stdout, " %s (seed %d, %s ops/s)", r.Dir, r.Seed, bench.FormatCount(r.ThroughputOps))
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(stdout, "\n\nresults in %s\n", abs)
	return nil
}

func init() { addCommand(newMergeCmd()) }
