package harness

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Nemesis names accepted in Config.Nemesis.
const (
	NemesisPartition = "partition"
	NemesisKill      = "kill"
	NemesisPause     = "pause"
	NemesisLoss      = "loss"
	NemesisDup       = "dup"
)

var allNemeses = []string{NemesisPartition, NemesisKill, NemesisPause, NemesisLoss, NemesisDup}

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
	Bin   string   // the Maelstrom node binary (required)
	Args  []string // extra arguments for every node process
	Nodes int      // servers n0..n(Nodes-1); default 5

	Time  time.Duration // workload under faults; default 10s
	Quiet time.Duration // after the final heal, clients go on this long; default 5s, negative: none

	Rate        float64 // client operations per second, all clients together; default 100
	Concurrency int     // client workers; default 10
	Keys        int     // keys in use at once; default 5
	// KeyOps retires a key after this many operations and replaces it
	// with a fresh one (Jepsen's per-key limit), which bounds the
	// checker's work per key. Default 200; negative means never.
	KeyOps int

	Latency     time.Duration // mean one-way delay of every message; default 0
	LatencyDist string        // constant, uniform (0..2×mean) or exponential; default exponential
	// NoReorder keeps each link FIFO even when delays vary.
	NoReorder bool

	Nemesis         []string      // any of partition, kill, pause, loss, dup
	NemesisInterval time.Duration // a fault lasts this long, then this long healthy; default 5s
	LossFraction    float64       // loss nemesis: fraction dropped; default 0.2
	DupFraction     float64       // dup nemesis: fraction duplicated; default 0.2

	Seed int64  // drives the fault schedule and every random draw
	Out  string // output directory (required)

	// DataDirFlag is how a node is told its data directory, which
	// survives a kill and restart. Default "--data-dir"; "-" passes none.
	DataDirFlag string
	// CheckTimeout bounds the linearizability search per key; default 60s.
	CheckTimeout time.Duration
	// Command is recorded in summary.json (how the run was started).
	Command string
	// Log receives progress lines (faults, phases); nil discards them.
	Log io.Writer
}

func (c *Config) fillDefaults() {
	setDefault(&c.Nodes, 5)
	setDefault(&c.Time, 10*time.Second)
	setDefault(&c.Quiet, 5*time.Second)
	setDefault(&c.Rate, 100)
	setDefault(&c.Concurrency, 10)
	setDefault(&c.Keys, 5)
	setDefault(&c.KeyOps, 200)
	setDefault(&c.LatencyDist, DistExponential)
	setDefault(&c.NemesisInterval, 5*time.Second)
	setDefault(&c.LossFraction, 0.2)
	setDefault(&c.DupFraction, 0.2)
	setDefault(&c.DataDirFlag, "--data-dir")
	setDefault(&c.CheckTimeout, 60*time.Second)
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
	}
	if c.Keys < 1 || c.Keys > 10000 {
		bad("keys: %d is outside 1..10000", c.Keys)
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
func ParseNemeses(s string) []string {
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
