package harness

import (
	"strings"
	"testing"
	"time"
)

// TestDiskAndClockFaults runs raft-maelstrom under disk faults (EIO,
// ENOSPC, slow), clock jumps and drift, and kills: the history must be
// linearizable, nodes whose disk failed must have stopped themselves (or
// been stopped at repair) without counting as unexpected exits, and the
// summary must count every fault.
func TestDiskAndClockFaults(t *testing.T) {
	cfg := Config{
		Bin: raftBin, Nodes: 3, Time: 6 * time.Second, Quiet: 2 * time.Second,
		Rate: 100, Concurrency: 6, Latency: 2 * time.Millisecond,
		Nemesis: []string{NemesisDisk, NemesisClock, NemesisKill}, NemesisInterval: 400 * time.Millisecond,
		NodeTargets: []string{TargetOne}, Seed: 7, Out: t.TempDir(), Log: testLog{t},
	}
	s := runOK(t, cfg)
	if !s.Valid || !s.Linearizable || s.UnexpectedExits != 0 {
		t.Fatalf("valid=%v verdict=%s exits=%d problems=%v", s.Valid, s.Verdict, s.UnexpectedExits, s.Problems)
	}
	var disk, failing, clock int
	for k, n := range s.FaultCounts {
		switch {
		case k == "disk:eio" || k == "disk:enospc":
			failing += n
			disk += n
		case strings.HasPrefix(k, "disk:"):
			disk += n
		case strings.HasPrefix(k, "clock:"):
			clock += n
		}
	}
	if disk == 0 || clock == 0 || failing == 0 {
		t.Fatalf("schedule lacks disk failures or clock faults: %v", s.FaultCounts)
	}
	if s.DiskFailedNodesStopped+s.DiskFailedNodesRunning == 0 {
		t.Fatalf("no failed disk was repaired: %+v", s)
	}
	t.Logf("faults %v; failed-disk nodes stopped themselves %d, still running at repair %d",
		s.FaultCounts, s.DiskFailedNodesStopped, s.DiskFailedNodesRunning)
}
