package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/raftbench/raftbench/chaos/explore"
	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/spf13/cobra"
)

type exploreFlags struct {
	cfg      explore.Config
	out      string
	coverage string
	replay   string
	mermaid  string
	quiet    bool
	cloneBy  string
	ui       string
}

func init() {
	f := exploreFlags{cfg: explore.DefaultConfig()}
	c := &cobra.Command{
		Use:   "explore",
		Short: "Exhaustive state-space exploration of the Raft core and driver",
		Long: `explore runs small clusters of the real Raft core behind the runtime's
driver over the in-memory WAL, and tries every interleaving of: deliver, drop
or duplicate an in-flight message, an election or heartbeat timeout, a WAL
sync, a crash that loses unsynced writes (and restart), a client proposal or
read — within the budgets below. Each distinct state is expanded once,
breadth-first, so a violation comes with a shortest counterexample.
--strategy dfs reaches the depth bound before the state limit (a bound, not
an exhaustive search, when the limit stops it); --symmetry counts states that
differ only by a renaming of the nodes once.

  raftbench explore [--nodes 3 --depth 20 --crashes 1 --proposals 2 ...]
  raftbench explore --bug vote-ignores-log --out cx.json --mermaid cx.md
  raftbench explore --replay cx.json

Exit status: 0 no violation, 1 violation (or a replay that reproduces it),
2 bad flags. Bug switches (--bug) need a binary built with -tags raftbugs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.replay != "" {
				return exploreReplay(f)
			}
			if err := f.cfg.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			return exploreRun(f)
		},
	}
	fl := c.Flags()
	fl.IntVar(&f.cfg.Nodes, "nodes", f.cfg.Nodes, "cluster size, 3..5")
	fl.IntVar(&f.cfg.MaxDepth, "depth", f.cfg.MaxDepth, "actions per path, 1..64")
	fl.IntVar(&f.cfg.MaxInFlight, "in-flight", f.cfg.MaxInFlight, "messages in flight; states above it are not expanded")
	fl.IntVar(&f.cfg.MaxCrashes, "crashes", f.cfg.MaxCrashes, "crash+restart actions per path")
	fl.IntVar(&f.cfg.MaxProposals, "proposals", f.cfg.MaxProposals, "client proposals per path")
	fl.IntVar(&f.cfg.MaxReads, "reads", f.cfg.MaxReads, "client reads per path")
	fl.IntVar(&f.cfg.MaxDrops, "drops", f.cfg.MaxDrops, "dropped messages per path")
	fl.IntVar(&f.cfg.MaxDups, "dups", f.cfg.MaxDups, "duplicated messages per path")
	fl.IntVar(&f.cfg.MaxTerm, "max-term", f.cfg.MaxTerm, "no election timeout fires at or above this term")
	fl.IntVar(&f.cfg.MaxStates, "max-states", f.cfg.MaxStates, "distinct states kept (memory bound)")
	fl.BoolVar(&f.cfg.Symmetry, "symmetry", false, "identify states that differ only by a renaming of the nodes (not with --reads)")
	fl.BoolVar(&f.cfg.Heartbeats, "heartbeats", f.cfg.Heartbeats, "enable the leader's heartbeat-timer action")
	fl.BoolVar(&f.cfg.PreVote, "prevote", f.cfg.PreVote, "enable pre-vote")
	fl.BoolVar(&f.cfg.LazyCommit, "lazy-commit", f.cfg.LazyCommit, "followers learn a commit index with the next entries or heartbeat unless they wait for it (the runtime's default)")
	fl.BoolVar(&f.cfg.AutoSync, "auto-sync", false, "every WAL write durable when submitted: no sync actions, crashes lose nothing (a smaller space)")
	fl.BoolVar(&f.cfg.Liveness, "liveness", false, "from every state, a fault-free fair suffix must elect a leader and commit a write")
	fl.IntVar(&f.cfg.LivenessSteps, "liveness-steps", 200, "actions allowed for that suffix")
	fl.StringVar(&f.cfg.Strategy, "strategy", "bfs", "bfs (shortest counterexample), iddfs (iterative deepening) or dfs (one depth-first search to the depth bound; reaches it before the state limit)")
	fl.StringSliceVar(&f.cfg.Invariants, "invariant", nil, "check only these invariants: "+strings.Join(explore.InvariantNames(), ", "))
	fl.StringSliceVar(&f.cfg.Bugs, "bug", nil, "switch on a known bug: "+strings.Join(sim.BugNames(), ", "))
	fl.StringVar(&f.out, "out", "", "write a counterexample here (JSON, see chaos/explore's doc)")
	fl.StringVar(&f.coverage, "coverage", "", "write the coverage as JSON here")
	fl.StringVar(&f.mermaid, "mermaid", "", "write the counterexample's Mermaid sequence diagram here")
	fl.StringVar(&f.replay, "replay", "", "replay a counterexample file and show each step")
	fl.StringVar(&f.ui, "ui", "", "with --replay: serve a step-through view of the replay on this host:port until Ctrl-C")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fl.StringVar(&f.cloneBy, "clone", "replay", "how a state is rebuilt for each child: copy (deep copy of the parent) or replay (its path from the initial state)")
	addCommand(c)
}

func exploreRun(f exploreFlags) error {
	opts := explore.Options{}
	switch f.cloneBy {
	case "copy":
		opts.Copy = true
	case "replay":
	default:
		return &exitError{code: 2, err: fmt.Errorf("--clone must be copy or replay, got %q", f.cloneBy)}
	}
	if !f.quiet {
		opts.Progress = func(c explore.Coverage) {
			fmt.Fprintf(os.Stderr, "\r%d states  %d transitions  depth %d  %.0f states/s  heap %d MiB   ",
				c.States, c.Transitions, c.DepthReached, c.StatesPerSec, c.PeakHeapBytes>>20)
		}
	}
	if os.Getenv("GOGC") == "" {
		// Rebuilding states allocates a lot of short-lived garbage while
		// the live heap stays small (the visited set): collecting at 5x
		// the live heap instead of 2x cut user CPU by about 1.6x
		// (results/explore.md). GOGC, if set, wins.
		debug.SetGCPercent(400)
	}
	res, err := explore.Run(f.cfg, opts)
	if !f.quiet {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	printCoverage(res)
	if f.coverage != "" {
		b, _ := json.MarshalIndent(res.Coverage, "", "  ")
		if err := os.WriteFile(f.coverage, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	cx := res.Counterexample
	if cx == nil {
		if !res.Coverage.Complete {
			fmt.Printf("INCOMPLETE: %s\n", res.Coverage.Stopped)
		}
		fmt.Println("no violation")
		return nil
	}
	fmt.Print(cx.Text())
	if err := writeCounterexample(f, cx); err != nil {
		return err
	}
	return &exitError{code: 1, err: fmt.Errorf("%s violated after %d actions", cx.Violation.Invariant, len(cx.Actions))}
}

func writeCounterexample(f exploreFlags, cx *explore.Counterexample) error {
	if f.out != "" {
		if err := cx.WriteFile(f.out); err != nil {
			return err
		}
		fmt.Printf("counterexample written to %s (replay: raftbench explore --replay %s)\n", f.out, f.out)
	}
	if f.mermaid != "" {
		if err := os.WriteFile(f.mermaid, []byte(cx.Mermaid()), 0o644); err != nil {
			return err
		}
		fmt.Printf("diagram written to %s\n", f.mermaid)
	}
	return nil
}

func printCoverage(res *explore.Result) {
	c := res.Coverage
	fmt.Printf("distinct states %d, transitions %d, depth reached %d, %.1fs, %.0f states/s, peak heap %d MiB, replayed actions %d\n",
		c.States, c.Transitions, c.DepthReached, c.Seconds, c.StatesPerSec, c.PeakHeapBytes>>20, c.ReplayedActions)
	fmt.Printf("new states by depth: %v\n", c.NewByDepth)
	fmt.Printf("pruned over in-flight bound: %d\n", c.Pruned)
	fmt.Printf("actions: %s\n", sortedCounts(c.Actions))
	fmt.Printf("messages delivered: %s\n", sortedCounts(c.Messages))
}

func sortedCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func exploreReplay(f exploreFlags) error {
	cx, err := explore.ReadFile(f.replay)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	start := time.Now()
	steps, v, err := explore.Replay(cx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	cx.Steps = steps
	for _, st := range steps {
		if st.Action == nil {
			continue
		}
		fmt.Printf("%3d. %s", st.Index, st.Action)
		if len(st.Notes) > 0 {
			fmt.Printf("  // %s", strings.Join(st.Notes, "; "))
		}
		fmt.Println()
		for _, n := range st.Nodes {
			fmt.Printf("       n%d %-12s term=%d vote=%d commit=%d applied=%d log=%v durable=%d pending=%d\n",
				n.ID, n.Role, n.Term, n.Vote, n.Commit, n.Applied, n.LogTerms, n.DurableLast, n.PendingWrites)
		}
	}
	fmt.Printf("replayed %d actions in %v\n", len(cx.Actions), time.Since(start).Round(time.Millisecond))
	if err := writeCounterexample(exploreFlags{mermaid: f.mermaid}, cx); err != nil {
		return err
	}
	if f.ui != "" {
		if err := serveCounterexample(f.ui, f.replay, cx); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	if v == nil {
		fmt.Printf("no violation: the file's %s did not reproduce on this build\n", cx.Violation.Invariant)
		return nil
	}
	return &exitError{code: 1, err: fmt.Errorf("reproduced: %v", v)}
}
