package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
	"github.com/raftbench/raftbench/engine/runtime/transport"
)

// loadFlags are the flags run and sweep share.
type loadFlags struct {
	ui          string // run --ui: the live view's address
	target      string
	nodes       int
	endpoints   string
	transport   string
	natsURL     string
	fsync       bool
	clients     int
	rate        float64
	workers     int
	wl          workloadFlags
	valueBytes  int
	keys        int
	warmup      time.Duration
	duration    time.Duration
	drain       time.Duration
	seed        uint64
	metricsAddr string
	dataDir     string
	targetOpts  []string
	out         string
	quiet       bool
	cpuProfile  string
	memProfile  string
	trace       string        // run --trace: an execution trace (runtime/trace) of the load phase
	timeline    time.Duration // run --timeline: bucket width of timeline.csv
	memoryFloor bool          // run --memory-floor: measure the memory floor at the state's size after the run
	election    time.Duration

	fs *pflag.FlagSet
}

func (f *loadFlags) register(fs *pflag.FlagSet, withLoop bool) {
	f.fs = fs
	d := bench.DefaultRunConfig()
	fs.StringVar(&f.target, "target", "inproc", "system under load: "+strings.Join(knownTargets(), ", "))
	fs.IntVar(&f.nodes, "nodes", 3, "cluster size")
	fs.StringVar(&f.endpoints, "endpoints", "", "tcp target: comma-separated base URLs of a running cluster's HTTP APIs (default: start --nodes `raftbench serve` processes on loopback)")
	fs.StringVar(&f.transport, "transport", "mem", "inproc target: how the nodes talk: mem (in-memory network), tcp (loopback) or nats (an embedded NATS broker, or --nats-url)")
	fs.StringVar(&f.natsURL, "nats-url", "", "inproc target with --transport nats: an existing broker instead of the embedded one")
	fs.BoolVar(&f.fsync, "fsync", true, "fsync the logs (false is for benchmarks of CPU cost only)")
	if withLoop {
		fs.IntVar(&f.clients, "clients", d.Clients, "closed loop: concurrent clients, each sending when its last request answered")
		fs.Float64Var(&f.rate, "rate", 0, "open loop: requests per second on a fixed schedule (latency counted from intended send time); excludes --clients")
	}
	fs.IntVar(&f.workers, "workers", 0, fmt.Sprintf("open loop: most requests in flight at once (default %d)", bench.DefaultOpenLoopWorkers))
	f.wl.register(fs)
	fs.IntVar(&f.valueBytes, "value-bytes", d.ValueBytes, "bytes per written value (keys are 16 bytes)")
	fs.IntVar(&f.keys, "keys", d.Keys, "number of distinct keys")
	fs.DurationVar(&f.warmup, "warmup", d.Warmup, "warm-up before measuring (excluded from the summary)")
	fs.DurationVar(&f.duration, "duration", d.Duration, "measured duration")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "after the end, how long in-flight requests may finish before they count as unfinished")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "seed for keys, values and the operation mix")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics of the load generator and in-process nodes at this address (e.g. 127.0.0.1:9100)")
	fs.StringVar(&f.dataDir, "data-dir", "", "parent directory for the target's data (default: a temporary directory, removed afterwards); put it on the disk you mean to measure")
	fs.StringArrayVar(&f.targetOpts, "target-opt", nil, "target-specific option key=value (repeatable)")
	fs.BoolVar(&f.quiet, "quiet", false, "no live progress line")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the load, warm-up included and --preload's writes not, to this file; in-process targets include the nodes")
	fs.DurationVar(&f.election, "election-timeout", 0, "in-process targets: base election timeout of every node, for comparing systems alike (default: each target's documented one)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile (pprof, all allocations since start) to this file at the end")
	fs.StringVar(&f.trace, "trace", "", "write an execution trace (runtime/trace, for go tool trace) of the load, warm-up included and --preload's writes not, to this file; in-process targets include the nodes")
	fs.DurationVar(&f.timeline, "timeline", 0, "with --out: write timeline.csv, latency over time in buckets of this width (e.g. 10ms) by intended send time, with GC cycles and (inproc) snapshots beside it")
}

func knownTargets() []string {
	names := bench.TargetNames()
	if len(names) == 0 {
		return []string{"(none registered)"}
	}
	return names
}

// usageError marks bad flags (exit status 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// runConfig validates the flags and turns them into a RunConfig.
func (f *loadFlags) runConfig() (bench.RunConfig, error) {
	cfg := bench.DefaultRunConfig()
	if f.fs.Changed("clients") && f.fs.Changed("rate") {
		return cfg, usageError("--clients and --rate are both set: use --clients N for a closed loop or --rate R for an open loop")
	}
	if f.rate != 0 || f.fs.Changed("rate") {
		if f.rate <= 0 {
			return cfg, usageError("--rate %v must be positive", f.rate)
		}
		cfg.Clients, cfg.Rate = 0, f.rate
	} else {
		cfg.Clients = f.clients
	}
	if f.fs.Changed("workers") && cfg.Rate == 0 {
		return cfg, usageError("--workers applies to the open loop only (set --rate)")
	}
	if _, err := bench.Lookup(f.target); err != nil {
		return cfg, usageError("--target: %v", err)
	}
	if f.endpoints != "" {
		if f.target != "tcp" {
			return cfg, usageError("--endpoints applies to --target tcp only")
		}
		n := 0
		for _, e := range strings.Split(f.endpoints, ",") {
			if strings.TrimSpace(e) != "" {
				n++
			}
		}
		if f.fs.Changed("nodes") && f.nodes != n {
			return cfg, usageError("--nodes %d but %d --endpoints", f.nodes, n)
		}
		f.nodes = n
	}
	if f.fs.Changed("transport") && f.target != "inproc" {
		return cfg, usageError("--transport applies to --target inproc only")
	}
	switch f.transport {
	case "mem", "tcp", "nats":
	default:
		return cfg, usageError("--transport %q: want mem, tcp or nats", f.transport)
	}
	if f.natsURL != "" && f.transport != "nats" {
		return cfg, usageError("--nats-url needs --transport nats")
	}
	if f.nodes < 1 || f.nodes > 99 {
		return cfg, usageError("--nodes %d must be in [1, 99]", f.nodes)
	}
	if err := f.wl.apply(&cfg); err != nil {
		return cfg, err
	}
	cfg.Workers, cfg.ValueBytes, cfg.Keys = f.workers, f.valueBytes, f.keys
	cfg.Warmup, cfg.Duration, cfg.Drain, cfg.Seed = f.warmup, f.duration, f.drain, f.seed
	cfg.Nodes, cfg.Fsync = f.nodes, f.fsync
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("bad flags: %v", err)
	}
	if _, err := f.options(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (f *loadFlags) options() (map[string]string, error) {
	opts := map[string]string{}
	for _, kv := range f.targetOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("--target-opt %q: want key=value", kv)
		}
		opts[k] = v
	}
	if f.endpoints != "" {
		opts["endpoints"] = f.endpoints
	}
	if f.transport != "" && f.transport != "mem" {
		opts["transport"] = f.transport
	}
	if f.natsURL != "" {
		opts["nats-url"] = f.natsURL
	}
	return opts, nil
}

// session holds what outlives one target: the metrics server and the
// load generator's metrics.
type session struct {
	flags   *loadFlags
	metrics *bench.Metrics
	server  *bench.MetricsServer
	// uiGatherer is the registry the --ui view reads the nodes' metrics from.
	uiGatherer prometheus.Gatherer
}

func newSession(f *loadFlags) (*session, error) {
	s := &session{flags: f}
	if f.metricsAddr == "" {
		return s, nil
	}
	srv, err := bench.NewMetricsServer(f.metricsAddr)
	if err != nil {
		return nil, usageError("--metrics-addr: %v", err)
	}
	m, err := bench.NewMetrics(srv.Load)
	if err != nil {
		srv.Close()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "metrics at http://%s/metrics\n", srv.Addr())
	s.server, s.metrics = srv, m
	return s, nil
}

func (s *session) close() {
	if s.server != nil {
		s.server.Close()
	}
}

// openTarget builds a fresh target in a fresh data directory; cleanup
// closes it and removes the directory if this command created it.
func (s *session) openTarget(ctx context.Context) (bench.Target, func(), error) {
	f := s.flags
	factory, err := bench.Lookup(f.target)
	if err != nil {
		return nil, nil, err
	}
	opts, err := f.options()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(f.dataDir, "raftbench-data-")
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	var reg prometheus.Registerer
	if s.server != nil {
		reg = s.server.NewTargetRegistry()
	}
	if f.ui != "" {
		s.uiGatherer, reg = uiRegistry(reg)
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t, err := factory(octx, bench.TargetConfig{
		Nodes: f.nodes, Dir: dir, Fsync: f.fsync, ValueBytes: f.valueBytes,
		Registerer: reg, Options: opts, ElectionTimeout: f.election,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start %s target: %w", f.target, err)
	}
	return t, func() {
		if err := t.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "close %s target: %v\n", f.target, err)
		}
		os.RemoveAll(dir)
	}, nil
}

// runOnce opens a target, runs cfg against it, and writes the results
// to out (if set). It is one rate of a sweep, or the whole of `run`.
func (s *session) runOnce(ctx context.Context, cfg bench.RunConfig, out string) (*bench.Summary, error) {
	t, closeTarget, err := s.openTarget(ctx)
	if err != nil {
		return nil, err
	}
	var closeOnce sync.Once
	cleanup := func() { closeOnce.Do(closeTarget) }
	defer cleanup()
	sizer, _ := t.(bench.StateSizer)
	if s.flags.memoryFloor && sizer == nil {
		return nil, usageError("--memory-floor: the %s target does not report its state's size", s.flags.target)
	}
	cfg.Metrics = s.metrics
	var sink bench.ProgressSink
	var printer *report.ProgressPrinter
	if !s.flags.quiet {
		printer = report.NewStderrProgress(os.Stderr)
		sink = printer
	}
	if s.flags.ui != "" {
		view, err := startRunView(s.flags.ui, t, s.uiGatherer)
		if err != nil {
			return nil, err
		}
		defer view.close()
		sink = withView(sink, view)
	}
	var tl *bench.Timeline
	if s.flags.timeline > 0 && out != "" {
		tl = bench.NewTimeline(s.flags.timeline, t, cfg.Observer)
		cfg.Observer = tl
	}
	prof, err := openProfiles(s.flags.cpuProfile, s.flags.memProfile, s.flags.trace)
	if err != nil {
		return nil, err
	}
	cfg.AfterPreload = prof.start
	sum, err := bench.Run(ctx, cfg, t, sink)
	if tl != nil {
		tl.Close()
	}
	if printer != nil {
		printer.Finish()
	}
	if err == nil {
		printTransportStats(os.Stderr, t, sum)
	}
	if perr := prof.stop(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	if sizer != nil {
		sum.StateBytes = sizer.StateBytes()
	}
	if tl != nil {
		if sum.SnapshotWindows = tl.SnapshotWindows(); sum.SnapshotWindows != nil {
			printSnapshotWindows(os.Stderr, *sum.SnapshotWindows)
		}
	}
	bench.FillEnvironment(sum, os.Args)
	env := bench.DescribeEnvironment(s.flags.dataDir)
	sum.Environment = &env
	if s.flags.memoryFloor {
		// After the target is gone (its memory released, nothing else
		// running) and after FillEnvironment read the peak RSS, which
		// the floor's own mapping would raise.
		cleanup()
		mf, err := bench.MeasureMemoryFloor(max(int64(sum.StateBytes), bench.MinMemoryFloorBytes))
		if err != nil {
			return nil, err
		}
		sum.MemoryFloor = &mf
		printMemoryFloor(os.Stderr, mf)
	}
	if out != "" {
		if err := report.WriteResults(out, sum); err != nil {
			return nil, err
		}
		if tl != nil {
			if err := tl.WriteCSV(filepath.Join(out, "timeline.csv")); err != nil {
				return nil, fmt.Errorf("--timeline: %w", err)
			}
		}
	}
	return sum, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newRunCmd() *cobra.Command {
	f := &loadFlags{}
	c := &cobra.Command{
		Use:   "run [flags]",
		Short: "One load-generator run against a cluster",
		Long: `run drives a cluster with a closed loop (--clients N) or an open loop
(--rate R, latency measured from each request's intended send time), prints a
live progress line and a summary table, and with --out DIR writes
summary.json, timeseries.csv, latency_percentiles.csv, histogram.hlog and
PNG/SVG plots.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.runConfig()
			if err != nil {
				return err
			}
			return runRun(cmd.OutOrStdout(), f, cfg)
		},
	}
	f.register(c.Flags(), true)
	c.Flags().StringVar(&f.out, "out", "", "directory for summary.json, timeseries.csv, histograms and plots")
	c.Flags().StringVar(&f.ui, "ui", "", "--target inproc: serve a live browser view of the cluster on this host:port during the run")
	c.Flags().BoolVar(&f.memoryFloor, "memory-floor", false, "targets that report their state's size (inproc, floor): after the run, measure what this machine's memory costs a state that size (a random read missing the caches, a page's first write) and record it in summary.json")
	return c
}

// printMemoryFloor prints the memory floor measured after a run.
func printMemoryFloor(w io.Writer, f bench.MemoryFloor) {
	fmt.Fprintf(w, "memory floor over %.0f MiB (the state's size): a random read %.0f ns (%.0f ns within %d KiB); a page's first write %.1f µs",
		float64(f.Bytes)/(1<<20), f.RandomReadNs, f.CachedReadNs, f.CachedBytes>>10, f.FirstWriteUsPerPage)
	if f.PopulatedUsPerPage > 0 {
		fmt.Fprintf(w, " (%.1f µs mapped in one call, then written)", f.PopulatedUsPerPage)
	}
	fmt.Fprintln(w)
}

func printSnapshotWindows(w io.Writer, sw bench.SnapshotWindows) {
	fmt.Fprintf(w, "snapshot windows (a node writing a snapshot, %g ms buckets): %.0f%% of the measured time, %.0f ops/s inside, %.0f outside; %d of the %d slowest buckets inside\n",
		sw.BucketMs, 100*sw.Share, sw.OpsPerSecInside, sw.OpsPerSecOutside, sw.WorstInside, sw.Worst)
}

func runRun(stdout io.Writer, f *loadFlags, cfg bench.RunConfig) error {
	ctx, stop := signalContext()
	defer stop()
	sess, err := newSession(f)
	if err != nil {
		return err
	}
	defer sess.close()
	sum, err := sess.runOnce(ctx, cfg, f.out)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	report.WriteTable(stdout, sum)
	if f.out != "" {
		abs, _ := filepath.Abs(f.out)
		fmt.Fprintf(stdout, "\nresults in %s\n", abs)
	}
	return nil
}

func init() { addCommand(newRunCmd()) }

// printTransportStats prints what a target's transports carried (the
// inproc target over tcp or nats): messages, publishes or writes, bytes,
// and per client operation.
func printTransportStats(w io.Writer, t bench.Target, sum *bench.Summary) {
	ts, ok := t.(interface{ TransportStats() transport.Stats })
	if !ok {
		return
	}
	s := ts.TransportStats()
	if s.Sent == 0 {
		return
	}
	fmt.Fprintf(w, "transport: %d messages sent in %d writes/publishes (%.1f per write), %d bytes, %d dropped, %d reconnects",
		s.Sent, s.Writes, float64(s.FramesWritten)/float64(max(s.Writes, 1)), s.BytesSent, s.Dropped, s.Reconnects)
	// The counters include the warm-up; estimate its operations at the
	// measured rate.
	if ops := float64(sum.Ops) + sum.ThroughputOps*sum.WarmupS; ops > 0 {
		fmt.Fprintf(w, "; about %.2f messages and %.0f bytes per operation", float64(s.Sent)/ops, float64(s.BytesSent)/ops)
	}
	fmt.Fprintln(w)
}
