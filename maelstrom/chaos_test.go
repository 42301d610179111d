package maelstrom_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/harness"
)

// buildNode compiles cmd/raft-maelstrom into a temporary directory.
func buildNode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "raft-maelstrom")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/raftbench/raftbench/cmd/raft-maelstrom").CombinedOutput()
	if err != nil {
		t.Fatalf("building raft-maelstrom: %v\n%s", err, out)
	}
	return bin
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runChaos(t *testing.T, cfg harness.Config) *harness.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := harness.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRaftMaelstromUnderFaults is the short CI version of `make chaos`:
// our node under partitions, kill -9 with restart, and pauses must stay
// linearizable, and available once healed.
func TestRaftMaelstromUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 5 processes for ~25 s per seed")
	}
	bin := buildNode(t)
	for _, seed := range []int64{1, 2, 3} {
		cfg := harness.Config{
			Bin: bin, Nodes: 5, Time: 20 * time.Second, Quiet: 3 * time.Second,
			Rate: 100, Concurrency: 10, Latency: 5 * time.Millisecond,
			Nemesis:         []string{harness.NemesisPartition, harness.NemesisKill, harness.NemesisPause},
			NemesisInterval: 2 * time.Second,
			Seed:            seed, Out: t.TempDir(), Log: testLog{t},
		}
		s := runChaos(t, cfg)
		if !s.Valid || !s.Linearizable {
			t.Fatalf("seed %d: valid=%v verdict=%s problems=%v (output in %s)", seed, s.Valid, s.Verdict, s.Problems, cfg.Out)
		}
		if len(s.Nemesis) == 0 {
			t.Fatalf("seed %d: no fault was injected", seed)
		}
		t.Logf("seed %d: availability %.1f%%, p50 %.1f ms, p99 %.1f ms", seed, 100*s.Availability, s.LatencyMs.P50, s.LatencyMs.P99)
	}
}

// TestCheckerCatchesUnsafeLocalReads proves the harness has teeth against
// our own node: serving reads from local state without ReadIndex lets a
// partitioned ex-leader or lagging follower answer stale values, and the
// checker must say so.
func TestCheckerCatchesUnsafeLocalReads(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 5 processes for ~10 s")
	}
	bin := buildNode(t)
	caught := 0
	for _, seed := range []int64{1, 2, 3} {
		cfg := harness.Config{
			Bin: bin, Args: []string{"--unsafe-local-reads"}, Nodes: 5, Time: 6 * time.Second, Quiet: time.Second,
			Rate: 200, Concurrency: 10, Latency: 5 * time.Millisecond,
			Nemesis: []string{harness.NemesisPartition}, NemesisInterval: time.Second,
			Seed: seed, Out: t.TempDir(), Log: testLog{t},
		}
		s := runChaos(t, cfg)
		if !s.Linearizable && s.Verdict == "not-linearizable" {
			caught++
			t.Logf("seed %d: caught, bad key %s", seed, s.BadKey)
			if _, err := os.Stat(filepath.Join(cfg.Out, "linearizability.html")); err != nil {
				t.Errorf("no visualization for the failed check: %v", err)
			}
			break
		}
	}
	if caught == 0 {
		t.Fatal("stale local reads under partitions went undetected in 3 seeds")
	}
}

// TestSnapshotsStreamUnderFaults: with a snapshot every 50 entries, nodes
// cut off by partitions and kill -9 fall behind the leader's compacted
// log and must be caught up by snapshots streamed in line-sized chunks;
// the history stays linearizable and the logs show installs.
func TestSnapshotsStreamUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 5 processes for ~12 s")
	}
	bin := buildNode(t)
	cfg := harness.Config{
		Bin: bin, Args: []string{"--snapshot-every", "30", "--log-level", "info"}, Nodes: 5,
		Time: 8 * time.Second, Quiet: 2 * time.Second,
		Rate: 100, Concurrency: 10, Latency: 5 * time.Millisecond,
		Nemesis:         []string{harness.NemesisPartition, harness.NemesisKill},
		NemesisInterval: 2 * time.Second,
		Seed:            7, Out: t.TempDir(), Log: testLog{t},
	}
	s := runChaos(t, cfg)
	if !s.Valid || !s.Linearizable {
		t.Fatalf("valid=%v verdict=%s problems=%v (output in %s)", s.Valid, s.Verdict, s.Problems, cfg.Out)
	}
	installs := 0
	logs, _ := filepath.Glob(filepath.Join(cfg.Out, "logs", "*.log"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		installs += strings.Count(string(b), "snapshot installed from the leader")
	}
	if installs == 0 {
		t.Fatalf("no snapshot was installed in %d node logs", len(logs))
	}
	t.Logf("%d snapshot installs, availability %.1f%%", installs, 100*s.Availability)
}
