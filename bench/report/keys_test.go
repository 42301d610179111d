package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/bench"
)

func keysRun(keys int, ops, p999 float64, clients int) *RunResult {
	return &RunResult{Dir: "run", Summary: bench.Summary{Target: "inproc", Nodes: 3, Clients: clients, Fsync: true,
		ThroughputOps: ops, LatencyMs: bench.Latency{P999: p999},
		Workload: bench.WorkloadInfo{Mix: "write=1", Keys: keys, ValueBytes: 128}}}
}

func TestKeysSeries(t *testing.T) {
	pts, err := KeysSeries([]*RunResult{
		keysRun(1_000_000, 45_000, 40, 256), keysRun(10_000, 100_000, 20, 256),
		keysRun(1_000_000, 55_000, 60, 256), keysRun(10_000, 80_000, 10, 256),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].Keys != 10_000 || pts[1].Keys != 1_000_000 {
		t.Fatalf("points %+v", pts)
	}
	if pts[0].OpsMedian != 90_000 || pts[1].OpsMedian != 50_000 || pts[1].P999Median != 50 {
		t.Errorf("medians %v %v %v", pts[0].OpsMedian, pts[1].OpsMedian, pts[1].P999Median)
	}
	var md bytes.Buffer
	WriteKeysTable(&md, pts)
	if !strings.Contains(md.String(), "| 0.56x |") || !strings.Contains(md.String(), "| 3.33x |") {
		t.Errorf("ratios missing:\n%s", md.String())
	}
	if _, err := KeysSeries([]*RunResult{keysRun(10_000, 1, 1, 256), keysRun(100_000, 1, 1, 64)}); err == nil {
		t.Error("runs with different client counts were accepted as one series")
	}
	if err := KeysPlot(t.TempDir(), pts); err != nil {
		t.Fatal(err)
	}
}
