package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// Test-only node binaries, built once: the toy node, the kvnodes
// designs (correct and broken lin-kv nodes written as an outsider
// would), and the shipped raft-maelstrom.
var toyBin, kvBin, raftBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-nodes-")
	if err != nil {
		panic(err)
	}
	toyBin = filepath.Join(dir, "toynode")
	kvBin = filepath.Join(dir, "kvnodes")
	raftBin = filepath.Join(dir, "raft-maelstrom")
	for bin, pkg := range map[string]string{
		toyBin:  "github.com/raftbench/raftbench/chaos/internal/toynode",
		kvBin:   "github.com/raftbench/raftbench/chaos/internal/kvnodes",
		raftBin: "github.com/raftbench/raftbench/cmd/raft-maelstrom",
	} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			panic("building " + pkg + ": " + err.Error() + "\n" + string(out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// toyConfig is a short run against the toy node.
func toyConfig(t *testing.T, seed int64, nemesis ...string) Config {
	return Config{
		Bin: toyBin, Nodes: 5, Time: 4 * time.Second, Quiet: time.Second,
		Rate: 100, Concurrency: 10, Latency: 2 * time.Millisecond,
		Nemesis: nemesis, NemesisInterval: 500 * time.Millisecond,
		Seed: seed, Out: t.TempDir(), Log: testLog{t},
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(time.Now().Format("05.000"), strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runOK(t *testing.T, cfg Config) *Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoToyProcesses(t)
	for _, f := range []string{"history.json", "summary.json", "logs/n0.log"} {
		if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
	return s
}

func TestCorrectNodeIsLinearizableUnderPartitionAndDup(t *testing.T) {
	cfg := toyConfig(t, 1, NemesisPartition, NemesisDup)
	s := runOK(t, cfg)
	if !s.Valid || !s.Linearizable || s.ExitCode() != 0 {
		t.Fatalf("correct node: valid=%v verdict=%s problems=%v", s.Valid, s.Verdict, s.Problems)
	}
	kinds := map[string]bool{}
	for _, a := range s.Nemesis {
		kinds[a.Kind] = true
	}
	if !kinds[NemesisPartition] && !kinds[NemesisDup] {
		t.Fatalf("no fault was injected: %+v", s.Nemesis)
	}
	if s.Ops.OK < 100 || s.Availability <= 0 || s.Availability > 1 || s.LatencyMs.P50 <= 0 {
		t.Fatalf("implausible numbers: %+v avail %v latency %+v", s.Ops, s.Availability, s.LatencyMs)
	}
	if s.MessagesPerOp <= 0 {
		t.Fatalf("no node-to-node messages counted: %+v", s.Messages)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "linearizability.html")); err == nil {
		t.Fatal("visualization written for a linearizable run")
	}
}

// The checker has teeth: a node that serves reads from its own copy and
// replicates asynchronously is caught in a short run.
func TestUnsafeNodeIsCaught(t *testing.T) {
	cfg := toyConfig(t, 2, NemesisPartition)
	cfg.Args = []string{"--unsafe"}
	s := runOK(t, cfg)
	if s.Linearizable || s.Valid || s.Verdict != string(check.NotLinearizable) || s.ExitCode() != 1 {
		t.Fatalf("unsafe node passed: verdict %s valid %v", s.Verdict, s.Valid)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "linearizability.html")); err != nil {
		t.Fatalf("no visualization: %v", err)
	}
	history := readHistory(t, cfg.Out)
	t.Logf("unsafe node: not linearizable at key %s; earliest violating prefix ends at %v of a %v run",
		s.BadKey, earliestViolation(history), cfg.Time+cfg.Quiet)
}

func TestKillAndRestartKeepData(t *testing.T) {
	cfg := toyConfig(t, 3, NemesisKill)
	cfg.Nodes, cfg.Concurrency, cfg.NodeTargets = 3, 6, []string{TargetAll}
	s := runOK(t, cfg)
	kills := 0
	for _, a := range s.Nemesis {
		if a.Err != "" {
			t.Errorf("nemesis %s: %s", a.Event, a.Err)
		}
		if a.Kind == NemesisKill && a.Action == "start" {
			kills++
		}
	}
	if kills == 0 {
		t.Fatalf("no kill in the schedule: %+v", s.Nemesis)
	}
	if !s.Valid || s.UnexpectedExits != 0 {
		t.Fatalf("kill/restart run: valid=%v verdict=%s problems=%v", s.Valid, s.Verdict, s.Problems)
	}
	restarted := 0
	for _, n := range serverNames(3) {
		b, err := os.ReadFile(filepath.Join(cfg.Out, "logs", n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "incarnation 2") {
			restarted++
		}
	}
	if restarted != 3 {
		t.Fatalf("%d node logs show a second incarnation, want all 3 (target all)", restarted)
	}
}

// Without its data directory the toy node forgets everything when n0 is
// killed: acknowledged writes are lost and the checker must say so. The
// same happens to a durable node under Maelstrom's kill semantics
// (restart with an empty data directory). The checker can only say so if
// the history reads a key written before a kill after it; 5 s gives the
// schedule six kills of all three nodes (3 s, with three, once passed
// when a loaded machine served few operations between them).
func TestForgetfulNodeIsCaught(t *testing.T) {
	for _, mode := range []string{"no data dir", KillWipeData} {
		t.Run(mode, func(t *testing.T) {
			cfg := toyConfig(t, 3, NemesisKill)
			cfg.Nodes, cfg.Concurrency, cfg.Time, cfg.NodeTargets = 3, 6, 5*time.Second, []string{TargetAll}
			if mode == KillWipeData {
				cfg.KillMode = KillWipeData
			} else {
				cfg.DataDirFlag = "-"
			}
			s := runOK(t, cfg)
			if s.Linearizable || s.Verdict != string(check.NotLinearizable) {
				t.Fatalf("a node that loses acknowledged writes passed: %s", s.Verdict)
			}
		})
	}
}

// The same seed gives the same fault schedule, both computed and applied.
func TestSameSeedSameSchedule(t *testing.T) {
	run := func() []Event {
		cfg := toyConfig(t, 42, NemesisPartition, NemesisKill, NemesisPause, NemesisLoss, NemesisDup)
		cfg.Time, cfg.Quiet, cfg.NemesisInterval, cfg.Rate = 1500*time.Millisecond, 200*time.Millisecond, 150*time.Millisecond, 50
		s := runOK(t, cfg)
		var evs []Event
		for _, a := range s.Nemesis {
			evs = append(evs, a.Event)
		}
		return evs
	}
	a, b := run(), run()
	if len(a) < 4 || !reflect.DeepEqual(a, b) {
		t.Fatalf("schedules differ or are empty:\n%v\n%v", a, b)
	}
}

func TestScheduleIsAFunctionOfTheSeed(t *testing.T) {
	cfg := Config{Nodes: 5, Time: 60 * time.Second, NemesisInterval: 2 * time.Second, Seed: 9,
		Nemesis: []string{NemesisPartition, NemesisKill, NemesisPause}}
	a, b := Schedule(cfg), Schedule(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	cfg.Seed = 10
	if reflect.DeepEqual(a, Schedule(cfg)) {
		t.Fatal("different seeds, same schedule")
	}
	if last := a[len(a)-1]; last.Kind != "heal" || last.AtMs != 60000 {
		t.Fatalf("want a final heal at 60s, got %+v", last)
	}
	// Jepsen's stagger: gaps within a family are uniform(0, 2 × interval),
	// so about Time/interval operations per family (30 here), never
	// evenly spaced.
	perFamily := map[string][]int64{}
	for i, e := range a[:len(a)-1] {
		if e.AtMs < 0 || e.AtMs >= 60000 || (i > 0 && e.AtMs < a[i-1].AtMs) {
			t.Fatalf("event %d out of order or range: %+v", i, e)
		}
		fam := e.Kind
		if fam == NemesisPause {
			fam = NemesisKill
		}
		perFamily[fam] = append(perFamily[fam], e.AtMs)
	}
	if len(perFamily) != 2 {
		t.Fatalf("want the partition and kill/pause families, got %v", perFamily)
	}
	for fam, times := range perFamily {
		if len(times) < 15 || len(times) > 45 {
			t.Errorf("%s family: %d operations in 60s at a 2s mean interval", fam, len(times))
		}
		gaps := map[int64]bool{}
		for i := 1; i < len(times); i++ {
			gaps[times[i]-times[i-1]] = true
		}
		if len(gaps) < len(times)/2 {
			t.Errorf("%s family: gaps look fixed: %v", fam, times)
		}
	}
	if Schedule(Config{Nodes: 5, Time: time.Minute}) != nil {
		t.Fatal("no nemesis must mean no events")
	}
}

// Kills and pauses flip-flop each on its own, overlap with partitions,
// and each stop restarts (resumes) every node its kind hit.
func TestScheduleFlipFlopsAndOverlaps(t *testing.T) {
	overlapped := false
	for seed := int64(1); seed <= 20; seed++ {
		cfg := Config{Nodes: 5, Time: 120 * time.Second, NemesisInterval: 3 * time.Second, Seed: seed,
			Nemesis: []string{NemesisPartition, NemesisKill, NemesisPause}}
		down := map[string][]string{} // kind → nodes hit and not yet restored
		partitioned := false
		for _, e := range Schedule(cfg) {
			switch {
			case e.Kind == "heal":
			case e.Action == "start" && e.Kind == NemesisPartition:
				if partitioned || !contains(allPartitionTargets, e.Shape) || len(e.Grudge) == 0 {
					t.Fatalf("seed %d: bad partition start %+v", seed, e)
				}
				partitioned = true
			case e.Action == "start":
				if len(down[e.Kind]) > 0 {
					t.Fatalf("seed %d: %s started twice without a stop: %+v", seed, e.Kind, e)
				}
				if len(e.Nodes) == 0 || !contains(allNodeTargets, e.Shape) {
					t.Fatalf("seed %d: %+v hits no nodes or names no target", seed, e)
				}
				down[e.Kind] = e.Nodes
			case e.Kind == NemesisPartition:
				partitioned = false
			default:
				if !reflect.DeepEqual(e.Nodes, down[e.Kind]) {
					t.Fatalf("seed %d: %s stop restores %v, want %v", seed, e.Kind, e.Nodes, down[e.Kind])
				}
				delete(down, e.Kind)
			}
			if partitioned && (len(down[NemesisKill]) > 0 || len(down[NemesisPause]) > 0) {
				overlapped = true
			}
		}
	}
	if !overlapped {
		t.Fatal("partitions never overlapped a kill or pause in 20 seeds")
	}
}

// Every node target hits the number of nodes Jepsen's spec names.
func TestNodeTargets(t *testing.T) {
	want := map[string][2]int{ // min, max nodes hit of 5
		TargetSome: {1, 5}, TargetOne: {1, 1}, TargetMinorityThird: {1, 1},
		TargetMinority: {2, 2}, TargetMajority: {3, 3}, TargetAll: {5, 5},
	}
	for target, w := range want {
		for seed := uint64(0); seed < 50; seed++ {
			got := drawNodes(newRand(seed), target, serverNames(5))
			if len(got) < w[0] || len(got) > w[1] {
				t.Fatalf("%s hit %v", target, got)
			}
		}
	}
}

// Every partition shape leaves the grudge consistent with its name.
func TestPartitionShapes(t *testing.T) {
	nodes := serverNames(5)
	seen := map[string]bool{}
	for seed := uint64(0); seed < 300 && len(seen) < len(allPartitionTargets); seed++ {
		shape, g := drawPartition(newRand(seed), allPartitionTargets, nodes)
		seen[shape] = true
		hears := func(d string) int { return len(nodes) - len(g[d]) }
		sizes := []int{}
		for _, d := range nodes {
			sizes = append(sizes, hears(d))
		}
		sort.Ints(sizes)
		switch shape {
		case PartitionMajoritiesRing:
			views := map[string]bool{}
			for _, d := range nodes {
				if hears(d) != 3 {
					t.Fatalf("ring: %s hears %d nodes, want a majority of 3: %v", d, hears(d), g)
				}
				views[strings.Join(g[d], ",")] = true
			}
			if len(views) != 5 {
				t.Fatalf("ring: views not distinct: %v", g)
			}
		case PartitionOne, PartitionMinorityThird: // 1 | 4 with 5 nodes
			if !reflect.DeepEqual(sizes, []int{1, 4, 4, 4, 4}) {
				t.Fatalf("%s: %v", shape, g)
			}
		case PartitionBridge:
			if len(g) != 4 {
				t.Fatalf("bridge: the bridge node must hear everyone: %v", g)
			}
		case PartitionMajority:
			if !reflect.DeepEqual(sizes, []int{2, 2, 3, 3, 3}) {
				t.Fatalf("majority: %v", g)
			}
		}
	}
	if len(seen) != len(allPartitionTargets) {
		t.Fatalf("shapes drawn: %v", seen)
	}
	// Shapes that cut nothing with this many nodes are not drawn.
	for seed := uint64(0); seed < 50; seed++ {
		if shape, g := drawPartition(newRand(seed), allPartitionTargets, serverNames(3)); len(g) == 0 {
			t.Fatalf("3 nodes: %s cut nothing", shape)
		}
	}
}

func TestBadConfigIsAClearError(t *testing.T) {
	cases := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Nodes = -1 }, "nodes"},
		{func(c *Config) { c.Nemesis = []string{"meteor"} }, `unknown "meteor"`},
		{func(c *Config) { c.LatencyDist = "pareto" }, "latency-dist"},
		{func(c *Config) { c.Rate = -5 }, "rate"},
		{func(c *Config) { c.Bin = "" }, "bin"},
		{func(c *Config) { c.Nodes, c.Nemesis = 1, []string{NemesisPartition} }, "at least 2 nodes"},
		{func(c *Config) { c.Concurrency = 7 }, "multiple of 2 × nodes"},
		{func(c *Config) { c.Workload = "lin-kv-9000" }, "workload"},
		{func(c *Config) { c.KillMode = "reboot" }, "kill-mode"},
		{func(c *Config) { c.PartitionTargets = []string{"halves"} }, "partition-targets"},
		{func(c *Config) { c.NodeTargets = []string{"everyone"} }, "node-targets"},
		{func(c *Config) { c.Values = -1 }, "values"},
	}
	for _, tc := range cases {
		cfg := toyConfig(t, 1)
		tc.mut(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error about %q", err, tc.want)
		}
	}
	cfg := toyConfig(t, 1)
	cfg.Bin = filepath.Join(t.TempDir(), "no-such-binary")
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "start n0") {
		t.Errorf("missing binary: got %v", err)
	}
}

func TestInterruptStopsEverything(t *testing.T) {
	cfg := toyConfig(t, 5, NemesisPause)
	cfg.Time = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("got %v, want interrupted", err)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Fatalf("interrupt took %v", d)
	}
	assertNoToyProcesses(t)
	if _, err := os.Stat(filepath.Join(cfg.Out, "history.json")); err != nil {
		t.Fatalf("partial history not written: %v", err)
	}
}

// assertNoToyProcesses fails if any process runs the toy binary.
func assertNoToyProcesses(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.HasPrefix(string(b), toyBin+"\x00") {
			stat, _ := os.ReadFile(filepath.Join(d, "stat"))
			if strings.Contains(string(stat), ") Z ") {
				continue // a zombie is already dead
			}
			t.Fatalf("toy node still running after Run: %s %q", d, b)
		}
	}
}

// A node that writes garbage and then dies is reported, not ignored.
func TestMisbehavingNodeIsReported(t *testing.T) {
	script := filepath.Join(t.TempDir(), "bad-node")
	err := os.WriteFile(script, []byte(`#!/bin/sh
read line
id=$(echo "$line" | sed 's/.*"node_id":"\([^"]*\)".*/\1/')
echo "{\"src\":\"$id\",\"dest\":\"c0\",\"body\":{\"type\":\"init_ok\",\"in_reply_to\":1}}"
echo "this is not json"
echo "{\"src\":\"n9\",\"dest\":\"c1\",\"body\":{}}"
exit 3
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	cfg := toyConfig(t, 1)
	cfg.Bin, cfg.Nodes, cfg.Concurrency, cfg.Time, cfg.Quiet, cfg.DataDirFlag = script, 2, 4, 1500*time.Millisecond, -1, "-"
	s := runOK(t, cfg)
	if s.Valid || s.ExitCode() == 0 || s.ProtocolErrors < 4 || s.UnexpectedExits != 2 {
		t.Fatalf("valid=%v protocol errors %d unexpected exits %d, want invalid, ≥4, 2: %v",
			s.Valid, s.ProtocolErrors, s.UnexpectedExits, s.Problems)
	}
	if s.Ops.OK != 0 || s.Ops.Info == 0 {
		t.Fatalf("ops %+v: a dead node answers nothing", s.Ops)
	}
}

// The bug report this harness was fixed for: a single-node, in-memory
// lin-kv store written to Maelstrom's spec (it ignores
// create_if_not_exists) must pass a run with no faults.
func TestSpecFaithfulSingleNodeStorePasses(t *testing.T) {
	cfg := toyConfig(t, 1)
	cfg.Bin, cfg.Args, cfg.Nodes, cfg.Concurrency, cfg.DataDirFlag = kvBin, []string{"--design=single"}, 1, 2, "-"
	s := runOK(t, cfg)
	if !s.Valid || !s.Workload.MaelstromFaithful {
		t.Fatalf("spec-faithful single-node store: valid=%v verdict=%s workload %+v problems=%v",
			s.Valid, s.Verdict, s.Workload, s.Problems)
	}
}

// A restarted node gets init before anything else: no client request or
// peer message may reach it first (kvnodes answers a request before init
// with a definite "not initialised yet" and logs a peer message it had
// to skip).
func TestRestartedNodeGetsInitFirst(t *testing.T) {
	cfg := toyConfig(t, 4, NemesisKill)
	cfg.Bin, cfg.Args, cfg.Nodes, cfg.Concurrency = kvBin, []string{"--design=primary"}, 3, 6
	cfg.NemesisInterval, cfg.NodeTargets = 300*time.Millisecond, []string{TargetAll}
	s := runOK(t, cfg)
	restarts := 0
	for _, a := range s.Nemesis {
		if a.Kind == NemesisKill && a.Action == "stop" {
			restarts += len(a.Nodes)
		}
	}
	if restarts < 3 {
		t.Fatalf("only %d restarts in the schedule: %+v", restarts, s.Nemesis)
	}
	for _, op := range readHistory(t, cfg.Out) {
		if strings.Contains(op.Note, "not initialised") {
			t.Fatalf("a client request reached a node before its init: %+v", op)
		}
	}
	for _, n := range serverNames(3) {
		b, err := os.ReadFile(filepath.Join(cfg.Out, "logs", n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "before init") {
			t.Fatalf("%s got a message before init:\n%s", n, b)
		}
	}
	if !s.Valid {
		t.Fatalf("primary under kills: valid=%v verdict=%s problems=%v", s.Valid, s.Verdict, s.Problems)
	}
}

// A node that is a wrapper script (the shell stays, its children hold
// the pipes) is killed, paused and stopped as a whole process group, and
// the run still ends by itself.
func TestWrapperScriptNode(t *testing.T) {
	script := filepath.Join(t.TempDir(), "wrapped-node")
	body := "#!/bin/sh\ncat | " + kvBin + " --design=primary \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := toyConfig(t, 5, NemesisKill, NemesisPause)
	cfg.Bin, cfg.Nodes, cfg.Concurrency, cfg.Time = script, 3, 6, 3*time.Second
	cfg.NemesisInterval = 500 * time.Millisecond
	start := time.Now()
	s := runOK(t, cfg)
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("run took %v", d)
	}
	if !s.Valid {
		t.Fatalf("wrapped primary: valid=%v verdict=%s problems=%v", s.Valid, s.Verdict, s.Problems)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.Contains(string(b), script) {
			if stat, _ := os.ReadFile(filepath.Join(d, "stat")); !strings.Contains(string(stat), ") Z ") {
				t.Fatalf("wrapper still running after Run: %s %q", d, b)
			}
		}
	}
}
