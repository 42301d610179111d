package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// Summary is summary.json: the verdict and the numbers of one run.
type Summary struct {
	// Valid: linearizable, no node exited on its own, no protocol
	// error, and at least one read, write and cas succeeded (Maelstrom's
	// lin-kv rule). The command exits 0 only when Valid.
	Valid        bool     `json:"valid"`
	Linearizable bool     `json:"linearizable"`
	Verdict      string   `json:"verdict"` // linearizable, not-linearizable, unknown
	BadKey       string   `json:"bad_key,omitempty"`
	Problems     []string `json:"problems,omitempty"` // first maxProblems
	ProblemCount int      `json:"problem_count"`

	Availability        float64  `json:"availability"` // ok / attempted
	Ops                 OpCounts `json:"ops"`
	LatencyMs           Latency  `json:"latency_ms"` // of ok operations
	ThroughputOpsPerSec float64  `json:"throughput_ops_per_s"`
	MessagesPerOp       float64  `json:"messages_per_op"` // node-to-node messages / attempted op
	Messages            NetStats `json:"messages"`
	StrayReplies        int64    `json:"stray_replies"` // answers after timeout, duplicates
	ProtocolErrors      int      `json:"protocol_errors"`
	UnexpectedExits     int      `json:"unexpected_exits"`
	// FaultCounts counts the faults started, by kind (and mode or
	// partition shape).
	FaultCounts map[string]int `json:"fault_counts,omitempty"`
	// DiskFailedNodesStopped counts nodes whose disk failed (eio,
	// enospc) and that had stopped themselves, as documented, by the time
	// the disk was repaired; DiskFailedNodesRunning those still running
	// (they had not written since the fault).
	DiskFailedNodesStopped int `json:"disk_failed_nodes_stopped,omitempty"`
	DiskFailedNodesRunning int `json:"disk_failed_nodes_running,omitempty"`
	// Serve describes a serve cluster's run (Config.Serve).
	Serve   *ServeSummary `json:"serve,omitempty"`
	Nemesis []Applied     `json:"nemesis"`
	// Membership counts the membership nemesis's changes (performed,
	// refused, skipped, unknown) and lists each one.
	Membership *MembershipSummary `json:"membership,omitempty"`
	Keys       []check.KeyResult  `json:"keys"`
	CheckMs    float64            `json:"check_ms"`
	DurationMs float64            `json:"duration_ms"`

	Workload          WorkloadInfo `json:"workload"`
	KillMode          string       `json:"kill_mode"`
	NemesisIntervalMs int64        `json:"nemesis_interval_ms"`
	PartitionTargets  []string     `json:"partition_targets,omitempty"`
	NodeTargets       []string     `json:"node_targets,omitempty"`

	Seed            int64   `json:"seed"`
	Command         string  `json:"command,omitempty"`
	Bin             string  `json:"bin"`
	Nodes           int     `json:"nodes"`
	TimeMs          int64   `json:"time_ms"`
	QuietMs         int64   `json:"quiet_ms"`
	Rate            float64 `json:"rate"`
	Concurrency     int     `json:"concurrency"`
	LatencyMeanMs   float64 `json:"latency_mean_ms"`
	LatencyDist     string  `json:"latency_dist"`
	ClientTimeoutMs int64   `json:"client_timeout_ms"`
}

// OpCounts counts operations by outcome.
type OpCounts struct {
	Attempted int            `json:"attempted"`
	OK        int            `json:"ok"`
	Fail      int            `json:"fail"`
	Info      int            `json:"info"`
	OKByKind  map[string]int `json:"ok_by_kind"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Applied is a scheduled event as it was applied.
type Applied struct {
	Event
	AppliedMs float64 `json:"applied_ms"` // actual offset from the start
	Err       string  `json:"error,omitempty"`
}

// Run starts cfg.Nodes copies of cfg.Bin, drives the lin-kv workload
// under the fault schedule for cfg.Time, heals, runs cfg.Quiet more,
// stops every process, checks the history and writes history.json,
// summary.json, logs/ and (when not linearizable) linearizability.html
// into cfg.Out. It returns an error only when the run itself could not
// happen (bad config, nodes that do not start) or ctx ended; a
// non-linearizable history is a Summary with Valid false. Every process
// it started is gone when it returns.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg.fillDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := prepareOut(cfg.Out); err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "raftbench-chaos-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dataDir)
	r := newRun(cfg, dataDir)
	defer r.cluster.shutdown()
	netCtx, stopNet := context.WithCancel(context.Background())
	var netDone sync.WaitGroup
	netDone.Add(1)
	go func() { defer netDone.Done(); r.net.run(netCtx) }()
	defer func() { stopNet(); netDone.Wait() }()

	fmt.Fprintf(cfg.Log, "chaos: starting %d × %s (seed %d)\n", cfg.Nodes, cfg.Bin, cfg.Seed)
	if err := r.cluster.start(); err != nil {
		return nil, err
	}
	if r.member != nil {
		if err := r.member.preflight(ctx); err != nil {
			return nil, err
		}
	}
	applied := r.drive(ctx)
	r.cluster.shutdown()
	history, stray := r.table.snapshot()
	if err := writeJSON(filepath.Join(cfg.Out, "history.json"), history); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("run interrupted (history so far in %s): %w", cfg.Out, ctx.Err())
	}
	s := r.summarize(history, stray, applied)
	return s, writeJSON(filepath.Join(cfg.Out, "summary.json"), s)
}

type run struct {
	cfg     Config
	start   time.Time
	net     *network
	table   *clientTable
	cluster *cluster
	member  *memberNemesis // nil unless the membership nemesis runs
}

func newRun(cfg Config, dataDir string) *run {
	r := &run{cfg: cfg}
	seed := uint64(cfg.Seed)
	var c *cluster
	r.table = newClientTable(func(f string, a ...any) { c.protoErr(f, a...) })
	if cfg.Observer != nil {
		r.table.observe = cfg.Observer.Op
	}
	r.net = newNetwork(cfg, rand.New(rand.NewPCG(seed, 0x6e6574)), func(d delivery) { c.deliver(d) })
	c = newCluster(cfg, dataDir, r.net, r.table)
	r.cluster = c
	if contains(cfg.Nemesis, NemesisMembership) {
		r.member = newMemberNemesis(cfg, c, r.table)
	}
	return r
}

// drive runs the clients and the nemesis, then heals and runs the quiet
// period; it returns when every client has finished its last operation.
func (r *run) drive(ctx context.Context) []Applied {
	r.start = time.Now()
	if r.member != nil {
		r.member.start = r.start
	}
	if r.cfg.Observer != nil {
		r.cfg.Observer.Started(r.start)
	}
	workEnd := r.start.Add(r.cfg.Time + r.cfg.quiet())
	var wg sync.WaitGroup
	for _, w := range newWorkers(r.cfg, uint64(r.cfg.Seed), r.net, r.table, r.cluster.names, r.start) {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, workEnd) }()
	}
	applied := r.nemesis(ctx)
	fmt.Fprintf(r.cfg.Log, "chaos: healed at %v; quiet period %v\n", time.Since(r.start).Round(time.Millisecond), r.cfg.quiet())
	wg.Wait()
	return applied
}

// nemesis applies the schedule at its offsets, then heals everything.
func (r *run) nemesis(ctx context.Context) []Applied {
	events := Schedule(r.cfg)
	var applied []Applied
	for _, e := range events {
		if !sleepCtx(ctx, time.Until(r.start.Add(time.Duration(e.AtMs)*time.Millisecond))) {
			break
		}
		a := Applied{Event: e, AppliedMs: ms(time.Since(r.start))}
		if err := r.apply(ctx, e); err != nil {
			a.Err = err.Error()
		}
		fmt.Fprintf(r.cfg.Log, "chaos: %7.0fms %s\n", a.AppliedMs, e)
		applied = append(applied, a)
		if r.cfg.Observer != nil {
			r.cfg.Observer.Fault(a)
		}
	}
	if len(events) == 0 {
		sleepCtx(ctx, time.Until(r.start.Add(r.cfg.Time)))
	}
	// Whatever happened above, the quiet period starts healthy.
	r.net.heal()
	if err := r.cluster.healProcesses(ctx); err != nil {
		applied = append(applied, Applied{Event: Event{Kind: "heal", Action: "stop"},
			AppliedMs: ms(time.Since(r.start)), Err: err.Error()})
	}
	return applied
}

func (r *run) apply(ctx context.Context, e Event) error {
	start := e.Action == "start"
	switch e.Kind {
	case NemesisPartition:
		if start {
			r.net.setGrudge(e.Grudge)
		} else {
			r.net.setGrudge(nil)
		}
	case NemesisLoss:
		r.net.setLoss(map[bool]float64{true: e.Fraction}[start])
	case NemesisDup:
		r.net.setDup(map[bool]float64{true: e.Fraction}[start])
	case NemesisPause:
		r.cluster.pause(e.Nodes, start)
	case NemesisKill:
		if start {
			r.cluster.kill(e.Nodes)
			return nil
		}
		return r.cluster.restart(ctx, e.Nodes)
	case NemesisDisk:
		if start {
			r.cluster.diskFault(e.Nodes, e.Mode)
			return nil
		}
		return r.cluster.diskRepair(ctx, e.Nodes)
	case NemesisClock:
		if !start {
			e.Mode = "ok"
		}
		r.cluster.clockFault(e.Nodes, e)
	case NemesisLeaseBreak:
		return r.leaseBreak(ctx, e, start)
	case NemesisMembership:
		return r.member.enqueue(ctx, e)
	case "heal":
		r.net.heal()
		if err := r.cluster.healProcesses(ctx); err != nil || r.member == nil {
			return err
		}
		return r.member.heal(ctx)
	}
	return nil
}

func (r *run) summarize(history []check.Op, stray int64, applied []Applied) *Summary {
	cfg := r.cfg
	res := check.Check(history, check.Options{Timeout: cfg.CheckTimeout, Events: timeline(applied)})
	s := &Summary{
		Linearizable: res.OK(), Verdict: string(res.Linearizable), BadKey: res.BadKey,
		Keys: res.Keys, CheckMs: ms(res.Elapsed), StrayReplies: stray,
		Messages: r.net.snapshot(), Nemesis: applied, DurationMs: ms(time.Since(r.start)),
		Seed: cfg.Seed, Command: cfg.Command, Bin: cfg.Bin, Nodes: cfg.Nodes,
		TimeMs: cfg.Time.Milliseconds(), QuietMs: cfg.quiet().Milliseconds(), Rate: cfg.Rate,
		Concurrency: cfg.Concurrency, LatencyMeanMs: ms(cfg.Latency), LatencyDist: cfg.LatencyDist,
		ClientTimeoutMs: cfg.ClientTimeout().Milliseconds(),
		Workload:        cfg.workloadInfo(), KillMode: cfg.KillMode,
		NemesisIntervalMs: cfg.NemesisInterval.Milliseconds(),
	}
	if contains(cfg.Nemesis, NemesisPartition) {
		s.PartitionTargets = cfg.PartitionTargets
	}
	if contains(cfg.Nemesis, NemesisKill) || contains(cfg.Nemesis, NemesisPause) {
		s.NodeTargets = cfg.NodeTargets
	}
	s.Problems, s.ProblemCount, s.ProtocolErrors, s.UnexpectedExits = r.cluster.snapshot()
	s.FaultCounts = faultCounts(applied)
	s.Serve = r.cluster.serveSummary()
	if r.member != nil {
		s.Membership = r.member.result()
	}
	if cfg.processFaults() {
		r.cluster.mu.Lock()
		s.DiskFailedNodesStopped, s.DiskFailedNodesRunning = r.cluster.diskStops, r.cluster.diskRunning
		r.cluster.mu.Unlock()
	}
	if res.Err != nil {
		s.Problems = append(s.Problems, "history invalid: "+res.Err.Error())
	}
	fillOpStats(s, history, cfg.Time+cfg.quiet())
	if !res.OK() && res.BadKey != "" {
		path := filepath.Join(cfg.Out, "linearizability.html")
		if err := res.WriteVisualization(path); err != nil {
			s.Problems = append(s.Problems, "visualization: "+err.Error())
		}
	}
	s.Valid = s.Linearizable && s.UnexpectedExits == 0 && s.ProtocolErrors == 0 &&
		s.Ops.OKByKind["read"] > 0 && s.Ops.OKByKind["write"] > 0 && s.Ops.OKByKind["cas"] > 0
	return s
}

// faultCounts counts the faults started, by kind and mode or shape
// ("kill", "disk:eio", "clock:jump", "partition:majority", ...).
func faultCounts(applied []Applied) map[string]int {
	out := map[string]int{}
	for _, a := range applied {
		if a.Action != "start" {
			continue
		}
		k := a.Kind
		if a.Mode != "" {
			k += ":" + a.Mode
		} else if a.Shape != "" && a.Kind == NemesisPartition {
			k += ":" + a.Shape
		}
		out[k]++
	}
	return out
}

func fillOpStats(s *Summary, history []check.Op, span time.Duration) {
	s.Ops.OKByKind = map[string]int{}
	var lat []float64
	for _, op := range history {
		s.Ops.Attempted++
		switch op.Outcome {
		case check.OK:
			s.Ops.OK++
			s.Ops.OKByKind[op.Kind.String()]++
			lat = append(lat, ms(time.Duration(op.Return-op.Call)))
		case check.Fail:
			s.Ops.Fail++
		case check.Info:
			s.Ops.Info++
		}
	}
	if s.Ops.Attempted > 0 {
		s.Availability = float64(s.Ops.OK) / float64(s.Ops.Attempted)
		s.MessagesPerOp = float64(s.Messages.ServerToServer) / float64(s.Ops.Attempted)
	}
	s.ThroughputOpsPerSec = float64(s.Ops.OK) / span.Seconds()
	sort.Float64s(lat)
	if n := len(lat); n > 0 {
		s.LatencyMs = Latency{P50: lat[(n-1)*50/100], P99: lat[(n-1)*99/100], Max: lat[n-1]}
	}
}

// timeline turns applied faults into intervals for the visualization.
func timeline(applied []Applied) []check.Event {
	var out []check.Event
	open := map[string]Applied{}
	for _, a := range applied {
		if a.Action == "start" {
			open[a.Kind] = a
			continue
		}
		for kind, st := range open {
			if kind == a.Kind || a.Kind == "heal" {
				out = append(out, check.Event{Tag: "nemesis", Description: st.Event.String(),
					Start: int64(st.AppliedMs * 1e6), End: int64(a.AppliedMs * 1e6)})
				delete(open, kind)
			}
		}
	}
	return out
}

// prepareOut creates dir and removes what an earlier run left there, so
// no stale verdict or visualization survives next to new results.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"history.json", "summary.json", "linearizability.html", "logs"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ExitCode maps a run's outcome to the command's exit status: 0 valid,
// 1 not linearizable or otherwise invalid, 3 undecided (check timeout).
func (s *Summary) ExitCode() int {
	switch {
	case s.Valid:
		return 0
	case s.Verdict == string(check.Unknown):
		return 3
	}
	return 1
}
