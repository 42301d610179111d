package harness

import (
	"errors"

	"fmt"
	"github.com/raftbench/raftbench/chaos/check"
	"io"
	"strings"
	"time"
)

// Observer watches a run as it is recorded.
type Observer interface {
	// Started gives the moment the workload started: check.Op times and
	// Applied.AppliedMs count from it.
	Started(at time.Time)
	Op(op check.Op)
	Fault(a Applied)
}

// Nemesis names accepted in Config.Nemesis.
const (
	NemesisPartition = "partition"
	NemesisKill      = "kill"
	NemesisPause     = "pause"
	NemesisLoss      = "loss"
	NemesisDup       = "dup"
	// NemesisDisk makes one node's disk fail (EIO), fill (ENOSPC) or
	// slow down; NemesisClock makes one node's clock jump or its ticks
	// drift. Both need a node that accepts the harness's fault lines
	// (raft-maelstrom --test-faults; Config.TestFaultsFlag).
	NemesisDisk  = "disk"
	NemesisClock = "clock"
)

var allNemeses = []string{NemesisPartition, NemesisKill, NemesisPause, NemesisLoss, NemesisDup, NemesisDisk, NemesisClock, NemesisMembership, NemesisLeaseBreak}

// Workloads accepted in Config.Workload.
const (
	// WorkloadLinKV is Maelstrom's lin-kv workload as Maelstrom sends it
	// (Jepsen's linearizable-register test): read {key}, write {key,
	// value} and cas {key, from, to}, nothing else.
	WorkloadLinKV = "lin-kv"
	// WorkloadLinKVCreate adds create_if_not_exists to a tenth of the cas
	// requests: an extension that Maelstrom's lin-kv *service* knows and
	// its lin-kv *workload* never sends, so only nodes that implement it
	// may be tested with it.
	WorkloadLinKVCreate = "lin-kv-create"
)

var allWorkloads = []string{WorkloadLinKV, WorkloadLinKVCreate}

// Kill modes accepted in Config.KillMode.
const (
	// KillKeepData restarts a killed node on the data directory it had:
	// what a real crash does to a node that writes its state to disk.
	KillKeepData = "keep-data"
	// KillWipeData restarts a killed node with an empty data directory,
	// as Maelstrom's own process nemesis does: only state held by the
	// other nodes survives.
	KillWipeData = "wipe-data"
)

// Partition shapes accepted in Config.PartitionTargets: Jepsen's
// combined nemesis specs plus bridge.
const (
	PartitionOne            = "one"             // one node alone
	PartitionMinorityThird  = "minority-third"  // fewer than a third of the nodes apart (none for n < 4)
	PartitionMajority       = "majority"        // a clean majority | minority split
	PartitionMajoritiesRing = "majorities-ring" // every node sees a majority, no two the same one
	PartitionBridge         = "bridge"          // two halves that one node joins
)

var allPartitionTargets = []string{PartitionOne, PartitionMinorityThird, PartitionMajority, PartitionMajoritiesRing, PartitionBridge}

// Node targets accepted in Config.NodeTargets (which nodes a kill or a
// pause hits): Jepsen's combined nemesis node specs.
const (
	TargetSome          = "some"           // a random non-empty subset
	TargetOne           = "one"            // one random node
	TargetMinorityThird = "minority-third" // fewer than a third (at least one)
	TargetMinority      = "minority"       // a random minority (at least one)
	TargetMajority      = "majority"       // a random majority
	TargetAll           = "all"            // every node
)

var allNodeTargets = []string{TargetSome, TargetOne, TargetMinorityThird, TargetMinority, TargetMajority, TargetAll}

// Latency distributions accepted in Config.LatencyDist.
const (
	DistConstant    = "constant"
	DistUniform     = "uniform"
	DistExponential = "exponential"
)

// Limits that keep a run bounded.
const (
	MaxNodes       = 64
	MaxConcurrency = 1024
	MaxRate        = 100000
	MaxTime        = 24 * time.Hour
)

// Config describes one run. Zero fields take the defaults documented on
// each; Run validates the rest and reports bad values as errors.
type Config struct {
	Bin   string   // the Maelstrom node binary, or raftbench with Serve (required)
	Args  []string // extra arguments for every node process
	Nodes int      // servers n0..n(Nodes-1); default 5

	Time  time.Duration // workload under faults; default 10s
	Quiet time.Duration // after the final heal, clients go on this long; default 5s, negative: none

	// Workload is WorkloadLinKV (default) or WorkloadLinKVCreate.
	Workload string
	Rate     float64 // client operations per second, all clients together; default 100
	// Concurrency is the number of client threads; a multiple of
	// 2 × Nodes, since Maelstrom's lin-kv runs 2 × Nodes threads per key
	// (half of them only read). Default 2 × Nodes.
	Concurrency int
	// Values: writes and cas draw values from 0..Values-1; default 5
	// (Maelstrom's). Other ranges are an extension, stated in the
	// summary.
	Values int
	// ProcessLimit moves a key's threads to a fresh key once this many
	// client processes have used it (a process ends with its first
	// indeterminate operation): Jepsen's process limit, which bounds the
	// indeterminate operations, and so the checker's work, per key.
	// Default 20 (Jepsen's); negative means never.
	ProcessLimit int
	// KeyOps also moves on after about this many operations on a key
	// (Jepsen's per-key limit, drawn from 0.9-1.0 × KeyOps per key).
	// Maelstrom sets none: default 0, none.
	KeyOps int

	Latency     time.Duration // mean one-way delay of every message; default 0
	LatencyDist string        // constant, uniform (0..2×mean) or exponential; default exponential
	// NoReorder keeps each link FIFO even when delays vary.
	NoReorder bool

	Nemesis []string // any of partition, kill, pause, loss, dup, disk, clock
	// NemesisInterval is the mean time between one fault operation and
	// the next of the same family (partitions; kills and pauses; loss and
	// dup), each gap drawn from uniform(0, 2 × interval) as Jepsen's
	// stagger does; the families run independently, so their faults
	// overlap. Default 10s (Maelstrom's).
	NemesisInterval time.Duration
	// PartitionTargets are the shapes a partition draws from; default
	// all of one, minority-third, majority, majorities-ring, bridge.
	PartitionTargets []string
	// NodeTargets are the node sets a kill or pause draws from; default
	// all of some, one, minority-third, minority, majority, all.
	NodeTargets []string
	// KillMode is KillKeepData (default) or KillWipeData.
	KillMode     string
	LossFraction float64 // loss nemesis: fraction dropped; default 0.2
	DupFraction  float64 // dup nemesis: fraction duplicated; default 0.2

	Seed int64  // drives the fault schedule and every random draw
	Out  string // output directory (required)

	// TestFaultsFlag is passed to every node when the disk or clock
	// nemesis runs, to switch on its test-only fault injection. Default
	// "--test-faults".
	TestFaultsFlag string
	// DataDirFlag is how a node is told its data directory, which
	// survives a kill and restart. Default "--data-dir"; "-" passes none.
	DataDirFlag string
	// Serve, when set, runs `raftbench serve` processes instead of
	// Maelstrom node binaries (serve.go).
	Serve *ServeTarget
	// ClockBound, when positive, keeps the clock nemesis within a lease
	// read's stated bound (a MaxClockDrift): drifts only between
	// 1/(1+bound) and 1+bound, jumps only forwards. LeaseBreakRate is the
	// rate the lease-break nemesis sets on the leader's clock (default
	// 0.02: far outside any bound; a rate within it makes the same
	// targeted schedule a control that must stay linearizable).
	ClockBound     float64
	LeaseBreakRate float64
	// CheckTimeout bounds the linearizability search per key; default 60s.
	CheckTimeout time.Duration
	// Command is recorded in summary.json (how the run was started).
	Command string
	// Log receives progress lines (faults, phases); nil discards them.
	Log io.Writer
	// Observer, when set, sees every finished operation and every fault
	// as the run goes (a live view). Its methods are called from client
	// and nemesis goroutines and must return quickly.
	Observer Observer
}

func (c *Config) fillDefaults() {
	setDefault(&c.Nodes, 5)
	setDefault(&c.Time, 10*time.Second)
	setDefault(&c.Quiet, 5*time.Second)
	setDefault(&c.Workload, WorkloadLinKV)
	setDefault(&c.Rate, 100)
	setDefault(&c.Concurrency, 2*c.Nodes)
	setDefault(&c.Values, 5)
	setDefault(&c.ProcessLimit, 20)
	setDefault(&c.LatencyDist, DistExponential)
	setDefault(&c.NemesisInterval, 10*time.Second)
	setDefault(&c.KillMode, KillKeepData)
	if len(c.PartitionTargets) == 0 {
		c.PartitionTargets = allPartitionTargets
	}
	if len(c.NodeTargets) == 0 {
		c.NodeTargets = allNodeTargets
	}
	setDefault(&c.LossFraction, 0.2)
	setDefault(&c.DupFraction, 0.2)
	setDefault(&c.DataDirFlag, "--data-dir")
	setDefault(&c.TestFaultsFlag, "--test-faults")
	setDefault(&c.CheckTimeout, 60*time.Second)
	setDefault(&c.LeaseBreakRate, 0.02)
	if c.Log == nil {
		c.Log = io.Discard
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every bad field of c (after defaults), naming the
// flag a user would fix.
func (c Config) Validate() error {
	c.fillDefaults()
	return c.validate()
}

// validate reports the first bad field, naming the flag a user would fix.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Bin == "" {
		bad("bin: a node binary is required")
	}
	if c.Out == "" {
		bad("out: an output directory is required")
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		bad("nodes: %d is outside 1..%d", c.Nodes, MaxNodes)
	}
	if c.Time <= 0 || c.Time > MaxTime {
		bad("time: %v is outside (0, %v]", c.Time, MaxTime)
	}
	if c.Quiet > MaxTime {
		bad("quiet: %v is longer than %v", c.Quiet, MaxTime)
	}
	if !(c.Rate > 0 && c.Rate <= MaxRate) {
		bad("rate: %v is outside (0, %d]", c.Rate, MaxRate)
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		bad("concurrency: %d is outside 1..%d", c.Concurrency, MaxConcurrency)
	} else if c.Nodes >= 1 && c.Concurrency%(2*c.Nodes) != 0 {
		bad("concurrency: %d is not a multiple of 2 × nodes = %d (Maelstrom's lin-kv runs 2 × nodes client threads per key, half of them readers; use %d, %d, ...)",
			c.Concurrency, 2*c.Nodes, 2*c.Nodes, 4*c.Nodes)
	}
	if !contains(allWorkloads, c.Workload) {
		bad("workload: %q is not one of %s", c.Workload, strings.Join(allWorkloads, ", "))
	}
	if c.Values < 1 || c.Values > 1_000_000 {
		bad("values: %d is outside 1..1000000", c.Values)
	}
	if c.ProcessLimit == 0 || c.ProcessLimit > 1_000_000 {
		bad("process-limit: %d is outside 1..1000000 (negative: no limit)", c.ProcessLimit)
	}
	if c.KeyOps < 0 || c.KeyOps > 1_000_000 {
		bad("key-ops: %d is outside 0..1000000 (0: no limit)", c.KeyOps)
	}
	if c.KillMode != KillKeepData && c.KillMode != KillWipeData {
		bad("kill-mode: %q is not %s or %s", c.KillMode, KillKeepData, KillWipeData)
	}
	for _, t := range c.PartitionTargets {
		if !contains(allPartitionTargets, t) {
			bad("partition-targets: unknown %q (want any of %s)", t, strings.Join(allPartitionTargets, ", "))
		}
	}
	for _, t := range c.NodeTargets {
		if !contains(allNodeTargets, t) {
			bad("node-targets: unknown %q (want any of %s)", t, strings.Join(allNodeTargets, ", "))
		}
	}
	if c.Latency < 0 || c.Latency > 10*time.Second {
		bad("latency: %v is outside [0, 10s]", c.Latency)
	}
	switch c.LatencyDist {
	case DistConstant, DistUniform, DistExponential:
	default:
		bad("latency-dist: %q is not one of constant, uniform, exponential", c.LatencyDist)
	}
	if c.NemesisInterval < 10*time.Millisecond {
		bad("nemesis-interval: %v is shorter than 10ms", c.NemesisInterval)
	}
	if !(c.LossFraction > 0 && c.LossFraction < 1) {
		bad("loss fraction: %v is outside (0, 1)", c.LossFraction)
	}
	if !(c.DupFraction > 0 && c.DupFraction <= 1) {
		bad("dup fraction: %v is outside (0, 1]", c.DupFraction)
	}
	if c.CheckTimeout < 0 {
		bad("check-timeout: %v is negative", c.CheckTimeout)
	}
	errs = append(errs, c.validateNemeses()...)
	errs = append(errs, c.validateServe()...)
	return errors.Join(errs...)
}

func (c *Config) validateNemeses() []error {
	var errs []error
	seen := map[string]bool{}
	for _, n := range c.Nemesis {
		switch {
		case !contains(allNemeses, n):
			errs = append(errs, fmt.Errorf("nemesis: unknown %q (want any of %s)", n, strings.Join(allNemeses, ", ")))
		case seen[n]:
			errs = append(errs, fmt.Errorf("nemesis: %q given twice", n))
		case n == NemesisPartition && c.Nodes < 2:
			errs = append(errs, fmt.Errorf("nemesis: partition needs at least 2 nodes, have %d", c.Nodes))
		case n == NemesisMembership && c.Nodes < 3:
			errs = append(errs, fmt.Errorf("nemesis: membership needs at least 3 nodes, have %d", c.Nodes))
		}
		seen[n] = true
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseNemeses splits a comma-separated list ("partition,kill"); "" and
// "none" mean no faults.
func ParseNemeses(s string) []string { return ParseList(s) }

// ParseList splits a comma-separated list of names; "" and "none" mean
// an empty list.
func ParseList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// quiet is the quiet period (a negative Quiet means none).
func (c *Config) quiet() time.Duration { return max(c.Quiet, 0) }

// ClientTimeout is Maelstrom's lin-kv rule: an operation with no answer
// within max(10 × mean latency, 1 s) is indeterminate.
func (c *Config) ClientTimeout() time.Duration {
	return max(10*c.Latency, time.Second)
}

// processFaults says whether the run sends fault lines to nodes.
func (c *Config) processFaults() bool {
	return contains(c.Nemesis, NemesisDisk) || contains(c.Nemesis, NemesisClock) || contains(c.Nemesis, NemesisLeaseBreak)
}
