package explore

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tinyConfig is small enough for every `go test` run.
func tinyConfig() Config {
	return Config{Nodes: 3, MaxDepth: 6, MaxInFlight: 4, MaxProposals: 1, MaxTerm: 2, MaxStates: 100_000}
}

// TestTinyStateCount pins the exact size of a tiny state space: a
// change in the core, the driver, the action model or the hashing that
// changes it must be looked at (and this number updated on purpose).
func TestTinyStateCount(t *testing.T) {
	res, err := Run(tinyConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Coverage
	if res.Counterexample != nil {
		t.Fatalf("violation in the correct core: %s", res.Counterexample.Text())
	}
	if !c.Complete {
		t.Fatalf("tiny exploration incomplete: %s", c.Stopped)
	}
	const wantStates, wantTransitions = 940, 1752
	if c.States != wantStates || c.Transitions != wantTransitions {
		t.Fatalf("states %d transitions %d, want %d and %d (by depth %v)", c.States, c.Transitions, wantStates, wantTransitions, c.NewByDepth)
	}
	var sum uint64
	for _, n := range c.NewByDepth {
		sum += n
	}
	if sum != c.States {
		t.Fatalf("new states by depth %v sum to %d, not %d", c.NewByDepth, sum, c.States)
	}
}

// TestIterativeDeepeningAgrees: both strategies see the same state space.
func TestIterativeDeepeningAgrees(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxDepth = 5
	bfs, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []string{"iddfs", "dfs"} {
		cfg.Strategy = strategy
		dfs, err := Run(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if bfs.Coverage.States != dfs.Coverage.States || !dfs.Coverage.Complete {
			t.Fatalf("bfs %d states, %s %d (complete %v)", bfs.Coverage.States, strategy, dfs.Coverage.States, dfs.Coverage.Complete)
		}
		if strategy == "dfs" && !reflect.DeepEqual(bfs.Coverage.NewByDepth, dfs.Coverage.NewByDepth) {
			t.Fatalf("states by smallest depth: bfs %v, dfs %v", bfs.Coverage.NewByDepth, dfs.Coverage.NewByDepth)
		}
	}
}

// TestCrashesAndFaultsExplored runs every action kind on the correct
// core without a violation, liveness included, with the commit index
// sent eagerly and lazily (engine.Config.LazyCommit).
func TestCrashesAndFaultsExplored(t *testing.T) {
	for _, lazy := range []bool{false, true} {
		cfg := Config{Nodes: 3, MaxDepth: 5, MaxInFlight: 4, MaxCrashes: 1, MaxProposals: 1, MaxReads: 1,
			MaxDrops: 1, MaxDups: 1, MaxTerm: 3, MaxStates: 200_000, Heartbeats: true, Liveness: true, LazyCommit: lazy}
		res, err := Run(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Counterexample != nil {
			t.Fatalf("lazy commit %v: violation in the correct core:\n%s", lazy, res.Counterexample.Text())
		}
		for _, k := range []string{"deliver", "drop", "duplicate", "timeout", "sync", "crash"} {
			if res.Coverage.Actions[k] == 0 {
				t.Errorf("lazy commit %v: action %s never taken: %v", lazy, k, res.Coverage.Actions)
			}
		}
	}
}

// TestAutoSync: with writes durable at once there is nothing to sync and
// the space is smaller; still no violation.
func TestAutoSync(t *testing.T) {
	cfg := tinyConfig()
	cfg.AutoSync, cfg.MaxCrashes = true, 1
	res, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counterexample != nil {
		t.Fatalf("violation:\n%s", res.Counterexample.Text())
	}
	if res.Coverage.Actions["sync"] != 0 || res.Coverage.Actions["crash"] == 0 {
		t.Fatalf("actions %v", res.Coverage.Actions)
	}
}

func TestStateLimitStopsClearly(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxStates = 50
	res, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Coverage.Complete || !strings.Contains(res.Coverage.Stopped, "state limit") {
		t.Fatalf("complete=%v stopped=%q", res.Coverage.Complete, res.Coverage.Stopped)
	}
}

func TestBadConfig(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"nodes":                  func(c *Config) { c.Nodes = 2 },
		"depth":                  func(c *Config) { c.MaxDepth = 0 },
		"deep":                   func(c *Config) { c.MaxDepth = 65 },
		"in-flight":              func(c *Config) { c.MaxInFlight = 0 },
		"crashes":                func(c *Config) { c.MaxCrashes = -1 },
		"term":                   func(c *Config) { c.MaxTerm = 1 },
		"states":                 func(c *Config) { c.MaxStates = 0 },
		"strategy":               func(c *Config) { c.Strategy = "random" },
		"symmetry with reads":    func(c *Config) { c.Symmetry, c.MaxReads = true, 1 },
		"symmetry with liveness": func(c *Config) { c.Symmetry, c.Liveness = true, true },
		"invariant":              func(c *Config) { c.Invariants = []string{"no-such-invariant"} },
		"bug":                    func(c *Config) { c.Bugs = []string{"no-such-bug"} },
	} {
		cfg := tinyConfig()
		mut(&cfg)
		_, err := Run(cfg, Options{})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// TestReplayRejectsForeignFile: a file whose message is not in flight
// is an error naming the action, not a silent pass.
func TestReplayRejectsForeignFile(t *testing.T) {
	cx := &Counterexample{Format: FormatVersion, Config: tinyConfig(),
		Actions: []Action{{Kind: Timeout, Node: 1}, {Kind: Deliver, MsgHash: 12345}}}
	if _, _, err := Replay(cx); err == nil || !strings.Contains(err.Error(), "action 2") {
		t.Fatalf("got %v", err)
	}
	cx.Format = "something-else"
	if _, _, err := Replay(cx); err == nil {
		t.Fatal("wrong format accepted")
	}
}

// TestReplayRoundTrip writes a path as a file, reads it back and replays
// it step by step.
func TestReplayRoundTrip(t *testing.T) {
	cx := &Counterexample{Format: FormatVersion, Config: tinyConfig(), Actions: []Action{{Kind: Timeout, Node: 2}, {Kind: Sync, Node: 2}}}
	path := filepath.Join(t.TempDir(), "cx.json")
	if err := cx.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	steps, v, err := Replay(back)
	if err != nil || v != nil {
		t.Fatalf("replay: %v %v", err, v)
	}
	if len(steps) != 3 || steps[2].Nodes[1].Term != 1 || steps[2].Nodes[1].DurableTerm != 1 || len(steps[2].InFlight) != 2 {
		t.Fatalf("steps: %+v", steps)
	}
}

// TestCloneMatchesReplay: deep-copying a state and rebuilding it by
// replaying its path give the same exploration, action for action.
func TestCloneMatchesReplay(t *testing.T) {
	cfg := Config{Nodes: 3, MaxDepth: 5, MaxInFlight: 4, MaxCrashes: 1, MaxProposals: 1, MaxReads: 1,
		MaxDrops: 1, MaxTerm: 3, MaxStates: 200_000, Heartbeats: true}
	for _, strategy := range []string{"bfs", "iddfs", "dfs", "bfs+symmetry"} {
		cfg.Strategy, cfg.Symmetry, cfg.MaxReads = strategy, false, 1
		if strategy == "bfs+symmetry" {
			cfg.Strategy, cfg.Symmetry, cfg.MaxReads = "bfs", true, 0
		}
		byCopy, err := Run(cfg, Options{Copy: true})
		if err != nil {
			t.Fatal(err)
		}
		byReplay, err := Run(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, b := byCopy.Coverage, byReplay.Coverage
		if a.States != b.States || a.Transitions != b.Transitions || !reflect.DeepEqual(a.NewByDepth, b.NewByDepth) {
			t.Fatalf("%s: copy %d states %d transitions %v; replay %d states %d transitions %v",
				strategy, a.States, a.Transitions, a.NewByDepth, b.States, b.Transitions, b.NewByDepth)
		}
		t.Logf("%s: %d states; copy %.2fs, replay %.2fs", strategy, a.States, a.Seconds, b.Seconds)
	}
}

// TestLeaderOwnTermQuiet: the schedule that makes a buggy leader commit
// an earlier term's entry by counting (testdata, found with
// commit-prior-term-by-count on) leaves the correct core's leader
// waiting for its own entry: no violation.
func TestLeaderOwnTermQuiet(t *testing.T) {
	cx, err := ReadFile("testdata/commit-prior-term-by-count.json")
	if err != nil {
		t.Fatal(err)
	}
	cx.Config.Bugs = nil
	steps, v, err := Replay(cx)
	if err != nil || v != nil {
		t.Fatalf("correct core: violation %v, err %v", v, err)
	}
	if last := steps[len(steps)-1].Nodes[1]; last.Role != "leader" || last.Commit != 0 {
		t.Fatalf("node 2 at the end: %+v (want a leader that has not committed the term-1 entry)", last)
	}
}
