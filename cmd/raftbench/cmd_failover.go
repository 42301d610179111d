package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
)

func newFailoverCmd() *cobra.Command {
	f := &loadFlags{}
	var fault string
	var at, dur time.Duration
	c := &cobra.Command{
		Use:   "failover --out DIR [flags]",
		Short: "Kill or partition the leader mid-run and measure the gap",
		Long: `failover runs the load like ` + "`run`" + ` and, --at after the warm-up, kills the
leader (--fault kill: the node stops and its WAL closes; it restarts from
it --for later) or cuts it off from every other node (--fault partition:
healed --for later). It reports the time to a new leader (another node
leading in a higher term, polled every millisecond), the time to the first
successful write sent after the fault, the requests that failed or were
left unknown in between, and latency per phase (before the fault, during
it up to that first write, after) from HDR histograms, and plots
throughput and p99 per 100 ms around the fault. Targets: inproc, etcd,
hashicorp and hashicorp-tuned (in-memory transport), each able to kill,
restart and partition a node. Each target keeps its own documented
election timeout unless --election-timeout gives all the same one (the
table states each). Several targets (--target inproc,etcd) run one
after the other, each in OUT/<target>/, with a side-by-side table in
OUT/failover.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.out == "" {
				return usageError("--out DIR is required")
			}
			if f.fs.Changed("rate") {
				return usageError("failover runs the closed loop only (--clients)")
			}
			// Several targets: one after the other, each in OUT/<target>/,
			// and a side-by-side table in OUT/failover.md.
			targets := splitList(f.target)
			out := f.out
			var fcs []bench.FailoverConfig
			for _, tg := range targets {
				f.target = tg
				cfg, err := f.runConfig()
				if err != nil {
					return err
				}
				fc := bench.FailoverConfig{Run: cfg, Fault: fault, At: at, For: dur}
				if err := fc.Validate(); err != nil {
					return usageError("bad flags: %v", err)
				}
				fcs = append(fcs, fc)
			}
			if len(targets) == 1 {
				return runFailover(cmd.OutOrStdout(), f, fcs[0])
			}
			var results []*bench.FailoverResult
			for i, tg := range targets {
				f.target, f.out = tg, filepath.Join(out, tg)
				fmt.Fprintf(os.Stderr, "failover: %s (%d of %d)\n", tg, i+1, len(targets))
				res, err := failoverOnce(f, fcs[i])
				if err != nil {
					return fmt.Errorf("%s: %w", tg, err)
				}
				results = append(results, res)
			}
			var md bytes.Buffer
			report.WriteFailoverComparison(&md, results)
			if err := os.WriteFile(filepath.Join(out, report.FailoverMDFile), md.Bytes(), 0o644); err != nil {
				return err
			}
			cmd.OutOrStdout().Write(md.Bytes())
			return nil
		},
	}
	f.register(c.Flags(), true)
	c.Flags().StringVar(&f.out, "out", "", "output directory (required)")
	c.Flags().StringVar(&fault, "fault", bench.FaultKill, "kill or partition the leader")
	c.Flags().DurationVar(&at, "at", 5*time.Second, "when to inject the fault, after the warm-up")
	c.Flags().DurationVar(&dur, "for", 5*time.Second, "how long the fault lasts before the node restarts or the partition heals (0: until the end)")
	return c
}

func runFailover(stdout io.Writer, f *loadFlags, fc bench.FailoverConfig) error {
	res, err := failoverOnce(f, fc)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	report.WriteFailoverTable(&md, res)
	stdout.Write(md.Bytes())
	abs, _ := filepath.Abs(f.out)
	fmt.Fprintf(stdout, "\nresults in %s\n", abs)
	return nil
}

// failoverOnce runs one failover measurement on a fresh f.target and
// writes it to f.out.
func failoverOnce(f *loadFlags, fc bench.FailoverConfig) (*bench.FailoverResult, error) {
	ctx, stop := signalContext()
	defer stop()
	sess, err := newSession(f)
	if err != nil {
		return nil, err
	}
	defer sess.close()
	t, cleanup, err := sess.openTarget(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ft, ok := t.(bench.FaultTarget)
	if !ok {
		return nil, usageError("--target %s cannot be failed over (it cannot kill or isolate its leader); use inproc, etcd or hashicorp", f.target)
	}
	fc.Run.Metrics = sess.metrics
	var sink bench.ProgressSink
	var printer *report.ProgressPrinter
	if !f.quiet {
		printer = report.NewStderrProgress(os.Stderr)
		sink = printer
	}
	res, err := bench.Failover(ctx, fc, ft, sink)
	if printer != nil {
		printer.Finish()
	}
	if err != nil {
		return nil, err
	}
	bench.FillEnvironment(res.Summary, os.Args)
	env := bench.DescribeEnvironment(f.dataDir)
	res.Summary.Environment = &env
	res.Summary.Target = f.target
	if err := report.WriteFailover(f.out, res); err != nil {
		return nil, err
	}
	return res, nil
}

func init() { addCommand(newFailoverCmd()) }
