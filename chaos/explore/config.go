package explore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
)

// Config is one exploration's cluster and budgets. Every budget bounds
// the actions the explorer may choose; the state space is finite once
// all are set.
type Config struct {
	Nodes        int `json:"nodes"`          // 3..5
	MaxDepth     int `json:"max_depth"`      // actions per path, 1..64
	MaxInFlight  int `json:"max_in_flight"`  // messages in the network; a state above it is not expanded
	MaxCrashes   int `json:"max_crashes"`    // crash+restart actions per path
	MaxProposals int `json:"max_proposals"`  // client proposals per path
	MaxReads     int `json:"max_reads"`      // client reads per path
	MaxDrops     int `json:"max_drops"`      // dropped messages per path
	MaxDups      int `json:"max_duplicates"` // duplicated messages per path
	MaxTerm      int `json:"max_term"`       // no election timeout fires at or above this term
	// MaxStates bounds the distinct states kept (memory): the run stops
	// with ErrStateLimit's message when it is reached.
	MaxStates int `json:"max_states"`
	// Heartbeats enables the leader's heartbeat-timer action.
	Heartbeats bool `json:"heartbeats"`
	// PreVote enables the core's pre-vote phase.
	PreVote bool `json:"pre_vote"`
	// LazyCommit sets engine.Config.LazyCommit (the runtime's default):
	// followers learn a commit index with the next entries or heartbeat
	// unless they wait for it.
	LazyCommit bool `json:"lazy_commit,omitempty"`
	// AutoSync makes every WAL write durable when it is submitted (a
	// disk without a volatile cache): no Sync actions, and a crash loses
	// nothing. A much smaller space, for bugs that do not depend on when
	// writes become durable.
	AutoSync bool `json:"auto_sync,omitempty"`
	// Invariants to check (names from InvariantNames); empty: all.
	Invariants []string `json:"invariants,omitempty"`
	// Bugs are bug switch names (sim.BugNames); need -tags raftbugs.
	Bugs []string `json:"bugs,omitempty"`
	// Strategy is "bfs" (default; shortest counterexamples), "iddfs"
	// (iterative deepening: memory for visited states only, no frontier)
	// or "dfs" (one depth-first search to the depth bound: stopped by the
	// state limit, it has reached the bound instead of only the shallow
	// levels; complete, it covers what BFS covers).
	Strategy string `json:"strategy,omitempty"`
	// Symmetry identifies states that differ only by a renaming of the
	// nodes (symmetry.go): one state per orbit is expanded. Not with
	// reads (their contexts carry node ids inside bytes).
	Symmetry bool `json:"symmetry,omitempty"`
	// Liveness checks, from every state reached within the budgets, that
	// a fault-free fair suffix elects a leader and commits a proposal.
	Liveness bool `json:"liveness,omitempty"`
	// LivenessSteps bounds that suffix (0: 200 actions).
	LivenessSteps int `json:"liveness_steps,omitempty"`
}

// Invariant names, as accepted by Config.Invariants and reported in a
// Violation.
const (
	InvElectionSafety   = "election-safety"         // at most one leader per term
	InvOneVote          = "one-vote-per-term"       // a node grants one candidate per term
	InvLogMatching      = "log-matching"            // same index and term: same entry and prefix
	InvLeaderComplete   = "leader-completeness"     // a new leader holds every committed entry
	InvStateMachine     = "state-machine-safety"    // one entry per committed or applied index
	InvMonotonicCommit  = "monotonic-commit"        // a node's commit index never goes back
	InvAckedDurable     = "acked-durable-quorum"    // an applied (answered) entry is durable on a majority
	InvApplyCommitted   = "apply-only-committed"    // nothing beyond the commit index is applied
	InvAtMostOnce       = "at-most-once-apply"      // a client (id, seq) takes effect once per node
	InvReadCovers       = "read-covers-committed"   // a read index covers what was committed when asked
	InvReadAfterApplied = "read-after-applied"      // a read is served once its index is applied
	InvLeaderOwnTerm    = "leader-commits-own-term" // a leader's commit index advances only to an entry of its term
	InvLiveness         = "liveness"                // fault-free: a leader is elected and a write commits
)

// InvariantNames lists every safety invariant the explorer checks.
func InvariantNames() []string {
	return []string{InvElectionSafety, InvOneVote, InvLogMatching, InvLeaderComplete, InvStateMachine,
		InvMonotonicCommit, InvAckedDurable, InvApplyCommitted, InvAtMostOnce, InvReadCovers, InvReadAfterApplied, InvLeaderOwnTerm}
}

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("explore: invalid config")

// DefaultConfig is the goal configuration's shape: 3 nodes, 2 proposals,
// 1 crash, depth 20.
func DefaultConfig() Config {
	return Config{Nodes: 3, MaxDepth: 20, MaxInFlight: 6, MaxCrashes: 1, MaxProposals: 2, MaxReads: 0,
		MaxDrops: 1, MaxDups: 0, MaxTerm: 3, MaxStates: 5_000_000, Strategy: "bfs"}
}

// Validate reports the first out-of-range field, naming it.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Nodes < 3 || c.Nodes > 5:
		return bad("nodes %d out of range [3, 5]", c.Nodes)
	case c.MaxDepth < 1 || c.MaxDepth > 64:
		return bad("max depth %d out of range [1, 64]", c.MaxDepth)
	case c.MaxInFlight < 1 || c.MaxInFlight > 64:
		return bad("max in-flight %d out of range [1, 64]", c.MaxInFlight)
	case c.MaxCrashes < 0 || c.MaxCrashes > 8:
		return bad("max crashes %d out of range [0, 8]", c.MaxCrashes)
	case c.MaxProposals < 0 || c.MaxProposals > 8:
		return bad("max proposals %d out of range [0, 8]", c.MaxProposals)
	case c.MaxReads < 0 || c.MaxReads > 8:
		return bad("max reads %d out of range [0, 8]", c.MaxReads)
	case c.MaxDrops < 0 || c.MaxDrops > 16:
		return bad("max drops %d out of range [0, 16]", c.MaxDrops)
	case c.MaxDups < 0 || c.MaxDups > 16:
		return bad("max duplicates %d out of range [0, 16]", c.MaxDups)
	case c.MaxTerm < 2 || c.MaxTerm > 32:
		return bad("max term %d out of range [2, 32]", c.MaxTerm)
	case c.MaxStates < 1 || c.MaxStates > 200_000_000:
		return bad("max states %d out of range [1, 200000000]", c.MaxStates)
	case c.LivenessSteps < 0 || c.LivenessSteps > 100_000:
		return bad("liveness steps %d out of range [0, 100000]", c.LivenessSteps)
	}
	switch c.Strategy {
	case "", "bfs", "iddfs", "dfs":
	default:
		return bad("unknown strategy %q (want bfs, iddfs or dfs)", c.Strategy)
	}
	if c.Symmetry && c.MaxReads > 0 {
		return bad("symmetry cannot be used with reads (a read's context names its node)")
	}
	if c.Symmetry && c.Liveness {
		return bad("symmetry cannot be used with liveness (the fair suffix breaks ties by node order)")
	}
	known := InvariantNames()
	for _, inv := range c.Invariants {
		if !slices.Contains(known, inv) {
			return bad("unknown invariant %q (known: %s)", inv, strings.Join(known, ", "))
		}
	}
	if _, err := c.bugOptions(); err != nil {
		return err
	}
	return nil
}

// bugOptions resolves Bugs through the simulator's names.
func (c *Config) bugOptions() (sim.Options, error) {
	var o sim.Options
	for _, b := range c.Bugs {
		if !sim.BugByName(b, &o) {
			return o, fmt.Errorf("%w: unknown bug %q (known: %s)", ErrConfig, b, strings.Join(sim.BugNames(), ", "))
		}
	}
	if len(c.Bugs) > 0 && !(engine.BugsEnabled() && driver.BugsEnabled()) {
		return o, fmt.Errorf("%w: %v", ErrConfig, sim.ErrBugsNotBuilt)
	}
	return o, nil
}

// checks reports whether invariant inv is enabled.
func (c *Config) checks(inv string) bool {
	return len(c.Invariants) == 0 || slices.Contains(c.Invariants, inv)
}
