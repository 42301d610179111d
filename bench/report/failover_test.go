package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
)

func TestFailoverTables(t *testing.T) {
	mk := func(target string, leader, write float64) *bench.FailoverResult {
		return &bench.FailoverResult{
			Target: target, Fault: bench.FaultPartition, ElectionTimeoutMs: 100, AtS: 5, ForS: 5, OldLeader: 1, NewLeader: 2,
			NewLeaderMs: leader, FirstWriteMs: write, Unknown: 3,
			Phases: []bench.FailoverPhase{
				{Name: "before", OpsPerSec: 1000, LatencyMs: bench.Latency{P99: 2}},
				{Name: "during", LatencyMs: bench.Latency{P99: 150}, Errors: map[string]uint64{"timeout": 3}},
				{Name: "after", OpsPerSec: 900, LatencyMs: bench.Latency{P99: 3}},
			},
			Summary: &bench.Summary{Target: target, Nodes: 3, Clients: 8, ValueBytes: 128, Fsync: true, Workload: bench.WorkloadInfo{Name: "a"}},
		}
	}
	var one bytes.Buffer
	WriteFailoverTable(&one, mk("inproc", 120.5, 190))
	for _, want := range []string{"| inproc | 100 ms | partition | 1 | 2 | 120 ms | 190 ms | 0 | 3 |", "| during |", "timeout 3"} {
		if !strings.Contains(one.String(), want) {
			t.Errorf("failover.md lacks %q:\n%s", want, one.String())
		}
	}
	var side bytes.Buffer
	WriteFailoverComparison(&side, []*bench.FailoverResult{mk("inproc", 120, 190), mk("etcd", 130, -1)})
	for _, want := range []string{"| [inproc](inproc/failover.md) | 100 ms | 120 | 190 | 0 | 3 | 1,000 | 900 | 2.00 | 150 | 3.00 |",
		"| [etcd](etcd/failover.md) | 100 ms | 130 | never |", "same base election timeout, 100 ms"} {
		if !strings.Contains(side.String(), want) {
			t.Errorf("side-by-side table lacks %q:\n%s", want, side.String())
		}
	}
	// Different timeouts are said to compare configurations too.
	other := mk("hashicorp", 700, 710)
	other.ElectionTimeoutMs = 500
	side.Reset()
	WriteFailoverComparison(&side, []*bench.FailoverResult{mk("inproc", 120, 190), other})
	if !strings.Contains(side.String(), "different base election timeouts") || !strings.Contains(side.String(), "| 500 ms |") {
		t.Errorf("mixed timeouts not stated:\n%s", side.String())
	}
}

func TestElectionTicks(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    int
		ok      bool
	}{
		{0, 10, true}, {100 * time.Millisecond, 10, true}, {500 * time.Millisecond, 50, true},
		{15 * time.Millisecond, 0, false}, {10 * time.Millisecond, 0, false}, {-time.Second, 0, false},
	} {
		got, err := bench.ElectionTicks(tc.timeout, 10*time.Millisecond, 10)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ElectionTicks(%v) = %d, %v; want %d, ok %v", tc.timeout, got, err, tc.want, tc.ok)
		}
	}
}
