package compare

import (
	"bytes"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/bench"
)

// A row's log cycle is each part's median over the runs that report it,
// and compare.md tabulates it for those rows only.
func TestLogCycleRows(t *testing.T) {
	run := func(c *bench.LogCycleUs) RunRecord {
		return RunRecord{System: "a", Clients: 64, ThroughputOps: 1000, LogCycleUs: c}
	}
	row := makeRow("a", 64, []RunRecord{
		run(&bench.LogCycleUs{Idle: 40, Linger: 150, Write: 10, Fsync: 380}),
		run(nil),
		run(&bench.LogCycleUs{Idle: 50, Linger: 160, Write: 12, Fsync: 400}),
		run(&bench.LogCycleUs{Idle: 60, Linger: 170, Write: 14, Fsync: 390}),
	})
	if c := row.LogCycleUs; c == nil || *c != (bench.LogCycleUs{Idle: 50, Linger: 160, Write: 12, Fsync: 390}) {
		t.Fatalf("row's log cycle %+v, want the medians 50 / 160 / 12 / 390", c)
	}
	other := makeRow("b", 64, []RunRecord{{System: "b", Clients: 64, ThroughputOps: 500}})
	if other.LogCycleUs != nil {
		t.Fatalf("a system that reports no cycle: %+v", other.LogCycleUs)
	}
	var b bytes.Buffer
	writeLogCycles(&b, &Result{Rows: []Row{row, other}})
	md := b.String()
	if !strings.Contains(md, "| a | 64 | 50 | 160 | 12 | 390 | 612 |") || strings.Contains(md, "| b |") {
		t.Fatalf("log cycle table:\n%s", md)
	}
	b.Reset()
	writeLogCycles(&b, &Result{Rows: []Row{other}})
	if b.Len() != 0 {
		t.Fatalf("a table with no system reporting a cycle:\n%s", b.String())
	}
}
