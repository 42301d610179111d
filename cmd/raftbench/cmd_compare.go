package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/compare"
	// The peer libraries register their targets ("hashicorp",
	// "hashicorp-tuned", "etcd") for compare and run alike.
	_ "github.com/raftbench/raftbench/bench/peers/etcd"
	_ "github.com/raftbench/raftbench/bench/peers/hashicorp"
)

type compareFlags struct {
	systems       string
	redraw        string
	clients       string
	repeat        int
	nodes         int
	fsync         bool
	valueBytes    int
	wl            workloadFlags
	keys          int
	seed          uint64
	warmup        time.Duration
	duration      time.Duration
	dataDir       string
	diskFloor     time.Duration
	floorEachPass bool
	modelFsync    time.Duration
	out           string
	check         bool
	checkKeys     int
	checkTime     time.Duration
}

func newCompareCmd() *cobra.Command {
	f := &compareFlags{}
	c := &cobra.Command{
		Use:   "compare --out DIR [flags]",
		Short: "The same load against several Raft libraries, interleaved",
		Long: `compare runs every system at every client count, --repeat times, each run on
a fresh cluster in a fresh data directory, interleaving systems so machine
noise spreads evenly, checks each run's history of a sample of keys for
linearizability (rows that fail, or whose contract differs, are marked and
never ranked), and writes compare.json, compare.md (ops/s median and
min, p50, p99, p99.9, CPU cores, ops per CPU-second, entries per fsync; CPU
per operation in the system's code and in the kernel, fsyncs per operation) and
plots of throughput and p99 against clients. With fsync on it also measures
the disk floor before and after the runs: how long a quorum of concurrent
append+fsyncs takes on the data directory's disk, which bounds every
system's one-client figure; and (--floor-each-pass) every replica's floor
again right before each repeat's runs at each client count, so each run is
also rated against the disk of its own minute ("of pass ceiling").

--model-fsync D runs every system that fsyncs on a modelled disk instead
(the target option model-fsync=D, which every system here takes): each
fsync is a wait of D (and the timer's wake-up) that never stalls and makes
nothing durable, so the ranking says what the designs do on a disk that is
the same in every hour, not what this disk did that minute. Put --data-dir
on a tmpfs (/dev/shm) so the writes touch no disk; no disk floor is
measured.

Systems: raftbench (our engine, the inproc target; raftbench:tcp and
raftbench:nats run it over TCP on loopback and over an embedded NATS broker), hashicorp,
hashicorp-tuned, etcd, or any registered target. A system's name may set target options,
each after a colon: floor:stores=3 is the floor target keeping a copy of the state per node,
as a 3-node cluster in one process does; raftbench:lazy-commit=false runs our engine
with every commit index sent in a message of its own, beside the default. Rows are named
as given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.redraw != "" {
				if _, err := compare.Redraw(f.redraw); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rewrote compare.json, compare.md and plots in %s\n", f.redraw)
				return nil
			}
			names := splitList(f.wl.workload)
			if len(names) <= 1 {
				cfg, err := f.config()
				if err != nil {
					return err
				}
				return runCompare(cmd, cfg)
			}
			// Several workloads: one comparison each, in OUT/<workload>/,
			// every configuration checked before the first run.
			var cfgs []compare.Config
			out := f.out
			for _, name := range names {
				f.wl.workload, f.out = name, filepath.Join(out, strings.ToLower(name))
				cfg, err := f.config()
				if err != nil {
					return err
				}
				cfgs = append(cfgs, cfg)
			}
			for i, cfg := range cfgs {
				fmt.Fprintf(os.Stderr, "compare: workload %s (%d of %d), output in %s\n", names[i], i+1, len(cfgs), cfg.Out)
				if err := runCompare(cmd, cfg); err != nil {
					return err
				}
			}
			return nil
		},
	}
	d := bench.DefaultRunConfig()
	fs := c.Flags()
	fs.StringVar(&f.systems, "systems", "raftbench,hashicorp,etcd", "comma-separated systems to compare; a system with the suffix :nofsync (e.g. etcd:nofsync) runs with fsync off while the others keep --fsync; target options follow a system's name, each after a colon (e.g. floor:stores=3, raftbench:lazy-commit=false)")
	fs.StringVar(&f.clients, "clients", "1,16,64,256", "comma-separated closed-loop client counts")
	fs.IntVar(&f.repeat, "repeat", 3, "runs per system and client count")
	fs.IntVar(&f.nodes, "nodes", 3, "cluster size of every system")
	fs.BoolVar(&f.fsync, "fsync", true, "fsync the logs of every system (false is for CPU-cost comparisons only)")
	fs.IntVar(&f.valueBytes, "value-bytes", d.ValueBytes, "bytes per written value (keys are 16 bytes)")
	f.wl.register(fs)
	fs.IntVar(&f.keys, "keys", d.Keys, "number of distinct keys")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "seed for keys, values and the operation mix")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "warm-up of each run (excluded from figures)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured duration of each run")
	fs.StringVar(&f.dataDir, "data-dir", "", "parent directory of each run's data (default: system temp dir); put it on the disk you mean to measure")
	fs.DurationVar(&f.diskFloor, "disk-floor", 2*time.Second, "with fsync on, measure for this long per sample (before and after the runs, at every client count, with a quorum's and with every replica's log writing, each log appended with fsync and overwriting a preallocated file with fdatasync) what the disk alone allows the clients' writes, in --data-dir; 0 skips")
	fs.BoolVar(&f.floorEachPass, "floor-each-pass", true, "with --disk-floor, also measure every replica's floor at each client count right before each repeat's runs there, so each run is rated against the disk in the same minute (\"of pass ceiling\"; adds 2 samples per repeat and client count)")
	fs.DurationVar(&f.modelFsync, "model-fsync", 0, "run every system that fsyncs on a modelled disk: each fsync a wait of this long (and the timer's wake-up) that never stalls, nothing durable (e.g. 300us; up to 1s); no disk floor is measured; put --data-dir on a tmpfs. 0: the real disk")
	fs.StringVar(&f.out, "out", "", "output directory (required)")
	fs.BoolVar(&f.check, "check", true, "record each run's history on a sample of keys and check it for linearizability (porcupine); a row that fails, or whose contract differs from the others', is marked and never ranked (false: every row unchecked, none ranked)")
	fs.IntVar(&f.checkKeys, "check-keys", 0, fmt.Sprintf("keys sampled for the check (every keys/N-th key, key 0 included; 0: a hundredth of --keys, at least %d, at most %d)", bench.DefaultHistoryKeys, bench.MaxDefaultHistoryKeys))
	fs.DurationVar(&f.checkTime, "check-timeout", compare.DefaultCheckTimeout, "bound on the linearizability search per key (a key that times out is 'unknown': the row is unchecked)")
	fs.StringVar(&f.redraw, "redraw", "", "instead of measuring, re-summarise the saved comparison in this directory (tables and plots)")
	return c
}

func (f *compareFlags) config() (compare.Config, error) {
	bad := func(format string, args ...any) (compare.Config, error) {
		return compare.Config{}, &exitError{code: 2, err: fmt.Errorf(format, args...)}
	}
	if f.out == "" {
		return bad("--out DIR is required")
	}
	systems := splitList(f.systems)
	for _, s := range systems {
		target, _, err := compare.ParseSystem(s)
		if err != nil {
			return bad("--systems: %v", err)
		}
		if _, err := bench.Lookup(target); err != nil {
			return bad("--systems: %v", err)
		}
	}
	var clients []int
	for _, s := range splitList(f.clients) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return bad("--clients: %q is not a positive integer", s)
		}
		clients = append(clients, n)
	}
	load := bench.DefaultRunConfig()
	if err := f.wl.apply(&load); err != nil {
		return compare.Config{}, err
	}
	load.ValueBytes, load.Keys, load.Seed = f.valueBytes, f.keys, f.seed
	load.Warmup, load.Duration = f.warmup, f.duration
	cfg := compare.Config{
		Systems: systems, Clients: clients, Repeat: f.repeat, Nodes: f.nodes, Fsync: f.fsync, ModelFsync: f.modelFsync,
		Load: load, DataDir: f.dataDir, DiskFloor: f.diskFloor, FloorEachPass: f.floorEachPass, Out: f.out, Log: os.Stderr,
		NoCheck: !f.check, History: &bench.HistoryConfig{Keys: f.checkKeys}, CheckTimeout: f.checkTime,
	}
	if f.checkKeys < 0 || f.checkTime <= 0 {
		return bad("--check-keys %d must not be negative and --check-timeout %v must be positive", f.checkKeys, f.checkTime)
	}
	if err := cfg.Validate(); err != nil {
		return bad("bad flags: %v", err)
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runCompare(cmd *cobra.Command, cfg compare.Config) error {
	ctx, stop := signalContext()
	defer stop()
	cfg.Command = strings.Join(os.Args, " ")
	runs := len(cfg.Systems) * len(cfg.Clients) * cfg.Repeat
	per := cfg.Load.Warmup + cfg.Load.Duration
	total := time.Duration(runs) * per
	floor := ""
	if samples := cfg.FloorSamples(); samples > 0 {
		total += time.Duration(samples) * cfg.DiskFloor
		floor = fmt.Sprintf(" and %d disk floor samples of %v", samples, cfg.DiskFloor)
	}
	if cfg.ModelFsync > 0 {
		floor = fmt.Sprintf(" on a modelled disk (every fsync %v, nothing durable; no disk floor)", cfg.ModelFsync)
	}
	fmt.Fprintf(os.Stderr, "compare: %d runs of %v each%s (about %v)\n", runs, per, floor, total.Round(time.Second))
	_, err := compare.Run(ctx, cfg)
	if md, rerr := os.ReadFile(filepath.Join(cfg.Out, "compare.md")); rerr == nil {
		cmd.OutOrStdout().Write(md)
	}
	return err
}

func init() { addCommand(newCompareCmd()) }
