package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/ui"
	"github.com/spf13/cobra"
)

// simFlags are the sim subcommand's flags.
type simFlags struct {
	seeds     uint64
	seedStart uint64
	seed      uint64
	parallel  int
	trace     string
	viz       string
	bugs      []string
	quiet     bool
	ui        string
	shrink    string
	firstBad  bool

	replayTrace string
}

func init() {
	var f simFlags
	c := &cobra.Command{
		Use:   "sim",
		Short: "Deterministic simulation of the Raft core, replayable by seed",
		Long: `sim runs the real Raft core, in-memory WAL and KV state machine in one
goroutine on a virtual clock, with network, disk and crash faults drawn from
one seed, safety invariants checked after every event, a liveness phase and a
linearizability check at the end.

  raftbench sim --seeds 1000 [--seed-start 1] [--parallel N]
  raftbench sim --seed 42 --trace out.md
  raftbench sim --seed 9 --bug commit-prior-term-by-count --shrink out.md
  raftbench sim --replay-trace out.md.json

Bug switches (--bug) need a binary built with -tags raftbugs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if f.ui != "" && !cmd.Flags().Changed("seed") {
				return &exitError{code: 2, err: fmt.Errorf("--ui needs --seed: the replay shows one run")}
			}
			if f.replayTrace != "" {
				return simReplayTrace(f, opts)
			}
			if f.shrink != "" || f.firstBad {
				if !cmd.Flags().Changed("seed") {
					return &exitError{code: 2, err: fmt.Errorf("--shrink and --first-bad need --seed (one failing seed)")}
				}
				return simShrink(f, opts)
			}
			if cmd.Flags().Changed("seed") {
				return simOne(f, opts)
			}
			return simMany(f, opts)
		},
	}
	fl := c.Flags()
	fl.Uint64Var(&f.seeds, "seeds", 100, "number of seeds to run")
	fl.Uint64Var(&f.seedStart, "seed-start", 1, "first seed of a multi-seed run")
	fl.Uint64Var(&f.seed, "seed", 0, "replay this one seed (verbose)")
	fl.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "seed runs at once (each run is single-threaded and independent)")
	fl.StringVar(&f.trace, "trace", "", "with --seed: write a Markdown trace (parameters, events, Mermaid diagram) here")
	fl.StringVar(&f.viz, "viz", "", "with --seed: write porcupine's HTML view of a non-linearizable key here")
	fl.StringSliceVar(&f.bugs, "bug", nil, "switch on a known bug: "+strings.Join(sim.BugNames(), ", "))
	fl.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fl.StringVar(&f.ui, "ui", "", "with --seed: record every event and serve a step-through replay on this host:port until Ctrl-C")
	fl.StringVar(&f.shrink, "shrink", "", "with --seed: reduce the failing run's event trace (delta debugging over its events and faults) and write the reduced trace and diagram here, the replayable script to FILE.json")
	fl.StringVar(&f.replayTrace, "replay-trace", "", "replay a script written by --shrink (FILE.json), with the bug switches it names unless --bug is given; with --trace, write the run's trace")
	fl.BoolVar(&f.firstBad, "first-bad", false, "with --seed: report the earliest fault after which every continuation tried still fails")
	addCommand(c)
}

func (f simFlags) options() (sim.Options, error) {
	var opts sim.Options
	for _, b := range f.bugs {
		if !sim.BugByName(b, &opts) {
			return opts, fmt.Errorf("unknown bug %q (known: %s)", b, strings.Join(sim.BugNames(), ", "))
		}
	}
	switch {
	case len(f.bugs) > 0 && !engine.BugsEnabled():
		return opts, sim.ErrBugsNotBuilt
	case f.parallel < 1 || f.parallel > 1024:
		return opts, fmt.Errorf("--parallel must be in [1, 1024], got %d", f.parallel)
	case f.seeds < 1:
		return opts, fmt.Errorf("--seeds must be at least 1")
	case f.seedStart+f.seeds < f.seedStart:
		return opts, fmt.Errorf("--seed-start + --seeds overflows")
	}
	return opts, nil
}

// simOne replays one seed verbosely and optionally writes its trace.
func simOne(f simFlags, opts sim.Options) error {
	opts.Trace = f.trace != ""
	if opts.Trace {
		opts.TraceEvents = 2000 // enough to reach past the idle drain phase
	}
	start := time.Now()
	var res sim.Result
	var view *ui.Server
	if f.ui != "" {
		rec, r, err := ui.RecordSim(f.seed, opts)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		replays := ui.NewReplays()
		replays.Add(rec)
		if view, err = ui.Listen(f.ui, ui.New(ui.Config{Replays: replays})); err != nil {
			return &exitError{code: 2, err: err}
		}
		defer view.Close()
		res = r
	} else {
		res = sim.Run(f.seed, opts)
	}
	fmt.Printf("%s\n", res.Params)
	fmt.Printf("events=%d virtual=%.1fs wall=%v trace_hash=%016x ops=%d\n",
		res.Stats.Events, float64(res.Stats.VirtualUs)/1e6, time.Since(start).Round(time.Millisecond), res.TraceHash,
		res.Stats.OpsOK+res.Stats.OpsFail+res.Stats.OpsInfo)
	fmt.Println("driver paths (engine/driver, the runtime's code):")
	for _, p := range res.Stats.Driver.Paths() {
		fmt.Printf("  %-70s %d\n", p.Name, p.Count)
	}
	if f.trace != "" {
		if err := writeSimTrace(f.trace, res); err != nil {
			return err
		}
		fmt.Printf("trace written to %s\n", f.trace)
	}
	if f.viz != "" && res.Check != nil {
		if err := res.Check.WriteVisualization(f.viz); err != nil {
			fmt.Fprintf(os.Stderr, "visualization: %v\n", err)
		}
	}
	if res.Failure != nil {
		fmt.Printf("FAIL: %v\n", res.Failure)
	} else {
		fmt.Println("PASS")
	}
	if view != nil {
		waitInterrupt(fmt.Sprintf("%ssim?seed=%d", view.URL(), f.seed))
	}
	if res.Failure != nil {
		return &exitError{code: 1, err: fmt.Errorf("seed %d: %v", f.seed, res.Failure)}
	}
	return nil
}

func writeSimTrace(path string, res sim.Result) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := sim.WriteTrace(out, res); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// simMany runs seeds [start, start+n) on parallel workers. Each worker
// runs whole seeds, one at a time; runs share nothing. It stops at the
// first failure.
func simMany(f simFlags, opts sim.Options) error {
	var next, done, failures atomic.Uint64
	next.Store(f.seedStart)
	end := f.seedStart + f.seeds
	var mu sync.Mutex
	var first *sim.Result
	var total sim.Stats
	var covered []uint64 // per driver path: seeds that took it
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < f.parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failures.Load() == 0 {
				seed := next.Add(1) - 1
				if seed >= end {
					return
				}
				res := sim.Run(seed, opts)
				mu.Lock()
				total.Add(res.Stats)
				paths := res.Stats.Driver.Paths()
				if covered == nil {
					covered = make([]uint64, len(paths))
				}
				for i, p := range paths {
					if p.Count > 0 {
						covered[i]++
					}
				}
				if res.Failure != nil {
					failures.Add(1)
					if first == nil || res.Seed < first.Seed {
						first = &res
					}
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if !f.quiet {
					printSimProgress(done.Load(), f.seeds, failures.Load(), time.Since(start))
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-progressDone
	elapsed := time.Since(start)
	printSimProgress(done.Load(), f.seeds, failures.Load(), elapsed)
	fmt.Fprintln(os.Stderr)
	fmt.Printf("seeds %d..%d: %d run in %v (%.0f seeds/min, %d workers)\n",
		f.seedStart, end-1, done.Load(), elapsed.Round(time.Millisecond), perMinute(done.Load(), elapsed), f.parallel)
	fmt.Print(sim.FaultSummary(total))
	fmt.Println("\n| driver path (engine/driver, the runtime's code) | seeds that took it |\n| --- | ---: |")
	for i, p := range total.Driver.Paths() {
		if i < len(covered) {
			fmt.Printf("| %s | %d of %d |\n", p.Name, covered[i], done.Load())
		}
	}
	if first != nil {
		fmt.Printf("FAIL seed %d: %v\n", first.Seed, first.Failure)
		fmt.Printf("reproduce with: raftbench sim --seed %d%s\n", first.Seed, bugFlags(f.bugs))
		return &exitError{code: 1, err: fmt.Errorf("seed %d failed", first.Seed)}
	}
	fmt.Println("PASS")
	return nil
}

func bugFlags(bugs []string) string {
	s := ""
	for _, b := range bugs {
		s += " --bug " + b
	}
	return s
}

func perMinute(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Minutes()
}

func printSimProgress(done, total, failures uint64, elapsed time.Duration) {
	fmt.Fprintf(os.Stderr, "\rseeds %d/%d  %.0f seeds/min  failures %d  elapsed %v   ",
		done, total, perMinute(done, elapsed), failures, elapsed.Round(time.Second))
}
