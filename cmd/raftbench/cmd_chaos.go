package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/ui"

	"github.com/raftbench/raftbench/chaos/harness"
)

func init() { addCommand(newChaosCmd()) }

func newChaosCmd() *cobra.Command {
	var (
		cfg         harness.Config
		nemesis     string
		partTargets string
		nodeTargets string
		concurrency string
		verbose     bool
		uiAddr      string
		serveTarget string
	)
	c := &cobra.Command{
		Use:   "chaos",
		Short: "Maelstrom-style lin-kv test of node binaries under faults",
		Long: `chaos runs N copies of a Maelstrom-protocol node binary, routes their
messages through a simulated network (latency, reordering), drives
Maelstrom's lin-kv workload (read {key}, write {key, value}, cas {key, from,
to}; 2 × nodes client threads per key, half of them readers) and injects
faults as Jepsen's combined nemesis does (partitions, kills and pauses, loss
and dup, each family staggered on its own and overlapping the others), heals,
runs a quiet period, and checks the history for linearizability per key with
porcupine. --workload lin-kv-create adds create_if_not_exists to a tenth of
the cas (an extension Maelstrom's workload never sends); the summary says
which workload ran.

--serve plain|secure tests raftbench serve processes instead (3-process
clusters and up): clients go through the HTTP API, partitions cut the nodes'
Raft TCP links (a proxy per directed link), kills, pauses, disk and clock
faults as for node binaries (serve's test-only --test-faults is passed);
secure runs mutual TLS between nodes, HTTPS and bearer tokens from a PKI the
harness generates. Nemesis lease-break (serve only) isolates the leader with
its clock slowed to --lease-break-rate: with --node-arg=--lease-reads the
check must fail; --clock-bound keeps clock faults within a lease's bound.

Output in --out: history.json, summary.json, logs/<node>.log and, when the
check fails, linearizability.html. The same --seed gives the same faults.

Exit status: 0 linearizable (and every node stayed up, every answer was
well-formed, some read, write and cas succeeded); 1 not linearizable or
otherwise invalid; 2 bad flags; 3 linearizability undecided (checker timeout);
4 the run could not be completed.`,
		Example: `  raftbench chaos --bin bin/raft-maelstrom --nodes 5 --time 60s --rate 100 \
      --concurrency 2n --nemesis partition,kill,pause --latency 5ms --seed 1 --out results/chaos/1
  raftbench chaos --bin ./my-node --nodes 3 --nemesis kill --kill-mode wipe-data --out /tmp/c
  raftbench chaos --serve secure --nodes 3 --time 60s --nemesis partition,kill,disk,clock --out /tmp/s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyServeTarget(&cfg, serveTarget, cmd.Flags().Changed("bin")); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("chaos: %w", err)}
			}
			cfg.Nemesis = harness.ParseNemeses(nemesis)
			cfg.PartitionTargets = harness.ParseList(partTargets)
			cfg.NodeTargets = harness.ParseList(nodeTargets)
			var cerr error
			cfg.Concurrency, cerr = parseConcurrency(concurrency, cfg.Nodes)
			cfg.Command = "raftbench " + strings.Join(os.Args[1:], " ")
			if verbose {
				cfg.Log = os.Stderr
			}
			err := errors.Join(cerr, explicitZeros(cfg), cfg.Validate())
			if cfg.Quiet == 0 {
				cfg.Quiet = -1 // --quiet 0: no quiet period (0 means "default" to the harness)
			}
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("chaos: bad flags:\n%w", err)}
			}
			return runChaos(cmd.Context(), cfg, uiAddr)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Bin, "bin", "bin/raft-maelstrom", "Maelstrom node binary to test")
	f.StringArrayVar(&cfg.Args, "node-arg", nil, "extra argument for every node process (repeatable)")
	f.IntVar(&cfg.Nodes, "nodes", 5, "number of nodes (n0..n<N-1>)")
	f.DurationVar(&cfg.Time, "time", 60*time.Second, "workload duration under faults")
	f.DurationVar(&cfg.Quiet, "quiet", 5*time.Second, "after healing, clients run this much longer")
	f.Float64Var(&cfg.Rate, "rate", 100, "client operations per second, all clients together")
	f.StringVar(&concurrency, "concurrency", "2n", `client threads: a number or "Kn" (K × nodes); a multiple of 2 × nodes`)
	f.StringVar(&cfg.Workload, "workload", harness.WorkloadLinKV, "lin-kv (Maelstrom's requests only) or lin-kv-create (adds create_if_not_exists to a tenth of the cas)")
	f.IntVar(&cfg.Values, "values", 5, "writes and cas draw values from 0..N-1 (Maelstrom: 5)")
	f.IntVar(&cfg.ProcessLimit, "process-limit", 20, "move a key's threads to a fresh key once this many client processes used it (Jepsen: 20; negative: never)")
	f.IntVar(&cfg.KeyOps, "key-ops", 0, "also move to a fresh key after about this many operations (0: never, as Maelstrom)")
	f.DurationVar(&cfg.Latency, "latency", 5*time.Millisecond, "mean one-way message latency")
	f.StringVar(&cfg.LatencyDist, "latency-dist", harness.DistExponential, "latency distribution: constant, uniform, exponential")
	f.BoolVar(&cfg.NoReorder, "no-reorder", false, "keep every link FIFO")
	f.StringVar(&nemesis, "nemesis", "", "faults, comma-separated: partition,kill,pause,loss,dup,disk,clock,membership,lease-break (empty or none: no faults; disk and clock need a node accepting --test-faults, as raft-maelstrom does; membership (remove, add back as a learner, promote, transfer, demote) needs a node that answers the harness's raftbench_member message, as raft-maelstrom does, and at least 3 nodes; lease-break needs --serve)")
	f.DurationVar(&cfg.NemesisInterval, "nemesis-interval", 10*time.Second, "mean time between fault operations of one family (each gap uniform 0..2x)")
	f.StringVar(&partTargets, "partition-targets", "", "partition shapes to draw from (default all): one,minority-third,majority,majorities-ring,bridge")
	f.StringVar(&nodeTargets, "node-targets", "", "nodes a kill or pause hits (default all): some,one,minority-third,minority,majority,all")
	f.StringVar(&cfg.KillMode, "kill-mode", harness.KillKeepData, "keep-data: restart a killed node on its data directory; wipe-data: on an empty one (Maelstrom's process nemesis)")
	f.Float64Var(&cfg.LossFraction, "loss", 0.2, "fraction of node-to-node messages the loss nemesis drops")
	f.Float64Var(&cfg.DupFraction, "dup", 0.2, "fraction of node-to-node messages the dup nemesis duplicates")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed for the fault schedule and every random draw")
	f.StringVar(&cfg.Out, "out", "chaos-out", "output directory")
	f.StringVar(&cfg.DataDirFlag, "data-dir-flag", "--data-dir", `flag that gives a node its data directory ("-": none)`)
	f.DurationVar(&cfg.CheckTimeout, "check-timeout", 60*time.Second, "linearizability search bound per key")
	f.BoolVarP(&verbose, "verbose", "v", true, "print faults and phases to stderr")
	f.StringVar(&serveTarget, "serve", "", "test raftbench serve processes instead of --bin: plain (TCP and HTTP, no auth) or secure (mutual TLS, HTTPS, tokens); --bin then defaults to this raftbench, --node-arg adds serve flags (e.g. --lease-reads); partitions cut the Raft TCP links")
	f.Float64Var(&cfg.ClockBound, "clock-bound", 0, "keep clock faults within this drift bound (a lease's --max-clock-drift): drifts within 1/(1+b)..1+b, forward jumps only (0: any fault)")
	f.Float64Var(&cfg.LeaseBreakRate, "lease-break-rate", 0.02, "lease-break nemesis: the rate the isolated leader's clock runs at (outside the lease's bound: stale reads expected with --lease-reads)")
	f.StringVar(&uiAddr, "ui", "", "serve a browser view of the history as it is recorded (per-key timeline, faults, verdict) on this host:port; it stays up after the run until Ctrl-C")
	c.AddCommand(newChaosReportCmd())
	return c
}

func newChaosReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR...",
		Short: "print a markdown table of chaos runs from their summary.json",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			fmt.Println("| seed | verdict | valid | availability | ops | p50 ms | p99 ms | max ms | ok ops/s | msgs/op | faults | workload |")
			fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
			var errs []error
			for _, dir := range dirs {
				s, err := readChaosSummary(filepath.Join(dir, "summary.json"))
				if err != nil {
					fmt.Printf("| %s | no summary | no | | | | | | | | | |\n", dir)
					errs = append(errs, err)
					continue
				}
				faults := 0
				for _, e := range s.Nemesis {
					if e.Action == "start" {
						faults++
					}
				}
				valid := "yes"
				if !s.Valid {
					valid = "no"
				}
				workload := s.Workload.Name
				if !s.Workload.MaelstromFaithful {
					workload += " (extended)"
				}
				fmt.Printf("| %d | %s | %s | %.1f%% | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %s |\n",
					s.Seed, s.Verdict, valid, 100*s.Availability, s.Ops.Attempted, s.LatencyMs.P50,
					s.LatencyMs.P99, s.LatencyMs.Max, s.ThroughputOpsPerSec, s.MessagesPerOp, faults, workload)
			}
			return errors.Join(errs...)
		},
	}
}

func readChaosSummary(path string) (*harness.Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s harness.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// explicitZeros rejects flag values the harness would read as "use the
// default": on the command line a 0 is a mistake, not a request.
func explicitZeros(cfg harness.Config) error {
	var errs []error
	zero := func(isZero bool, flag string) {
		if isZero {
			errs = append(errs, fmt.Errorf("%s: must be positive", flag))
		}
	}
	zero(cfg.Nodes == 0, "nodes")
	zero(cfg.Time == 0, "time")
	zero(cfg.Rate == 0, "rate")
	zero(cfg.Concurrency == 0, "concurrency")
	zero(cfg.Values == 0, "values")
	zero(cfg.ProcessLimit == 0, "process-limit")
	zero(cfg.Workload == "", "workload")
	zero(cfg.KillMode == "", "kill-mode")
	zero(cfg.NemesisInterval == 0, "nemesis-interval")
	zero(cfg.LossFraction == 0, "loss")
	zero(cfg.DupFraction == 0, "dup")
	zero(cfg.LatencyDist == "", "latency-dist")
	zero(cfg.DataDirFlag == "", "data-dir-flag")
	return errors.Join(errs...)
}

// parseConcurrency reads --concurrency: a number, or "Kn" for K × nodes
// (Maelstrom's and Jepsen's notation).
func parseConcurrency(s string, nodes int) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	if rest, ok := strings.CutSuffix(s, "n"); ok {
		s, mult = rest, max(nodes, 1)
		if s == "" {
			s = "1"
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("concurrency: %q is not a positive number or Kn", s)
	}
	return n * mult, nil
}

func runChaos(parent context.Context, cfg harness.Config, uiAddr string) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(cfg.Bin); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("chaos: --bin %s: %w", cfg.Bin, err)}
	}
	var view *ui.Chaos
	if uiAddr != "" {
		v, srv, err := startChaosView(uiAddr, &cfg)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("chaos: %w", err)}
		}
		view = v
		defer srv.Close()
		defer func() {
			if ctx.Err() == nil {
				waitInterrupt(srv.URL() + "chaos")
			}
		}()
	}
	s, err := harness.Run(ctx, cfg)
	if view != nil {
		view.Finish(s, err)
	}
	if err != nil {
		return &exitError{code: 4, err: fmt.Errorf("chaos: %w", err)}
	}
	printChaosSummary(s, cfg.Out)
	switch code := s.ExitCode(); code {
	case 0:
		return nil
	default:
		why := s.Verdict
		if s.Linearizable {
			why = "invalid run: " + strings.Join(s.Problems, "; ")
			if len(s.Problems) == 0 {
				why = "invalid run: no successful read, write or cas"
			}
		}
		return &exitError{code: code, err: errors.New(why)}
	}
}

func printChaosSummary(s *harness.Summary, out string) {
	fmt.Printf("verdict        %s", s.Verdict)
	if s.BadKey != "" {
		fmt.Printf(" (key %s; see %s/linearizability.html)", s.BadKey, out)
	}
	fmt.Println()
	fmt.Printf("availability   %.2f%% (%d ok, %d fail, %d info of %d)\n",
		100*s.Availability, s.Ops.OK, s.Ops.Fail, s.Ops.Info, s.Ops.Attempted)
	fmt.Printf("latency ms     p50 %.1f  p99 %.1f  max %.1f\n", s.LatencyMs.P50, s.LatencyMs.P99, s.LatencyMs.Max)
	fmt.Printf("throughput     %.1f ok ops/s, %.1f node messages per op\n", s.ThroughputOpsPerSec, s.MessagesPerOp)
	faithful := "Maelstrom's lin-kv, field for field"
	if !s.Workload.MaelstromFaithful {
		faithful = "NOT Maelstrom's lin-kv: extended"
	}
	fmt.Printf("workload       %s (%s; %s; %d threads per key, %d of them readers)\n",
		s.Workload.Name, faithful, s.Workload.Values, s.Workload.ThreadsPerKey, s.Workload.ReadersPerKey)
	fmt.Printf("faults         %d events (kill mode %s); check took %.0f ms\n", len(s.Nemesis), s.KillMode, s.CheckMs)
	if m := s.Membership; m != nil {
		fmt.Printf("membership     performed %v; refused %v; skipped %v; unknown %v\n", m.Performed, m.Refused, m.Skipped, m.Unknown)
	}
	for _, p := range s.Problems {
		fmt.Printf("problem        %s\n", p)
	}
	fmt.Printf("output         %s\n", out)
}
