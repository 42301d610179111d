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

// A row's CPU per operation is the median of its runs' user and kernel
// shares, beside the median fsyncs per operation; compare.md tabulates
// the rows that measured it.
func TestCPUPerOpRows(t *testing.T) {
	fsyncs := func(f float64) *float64 { return &f }
	row := makeRow("a", 16, []RunRecord{
		{ThroughputOps: 1000, FsyncsPerSec: fsyncs(300), CPUUsPerOp: &bench.CPUPerOp{User: 10, Kernel: 8}, GC: &bench.GCSummary{AllocBytesPerOp: 400, CyclesPerSec: 1}},
		{ThroughputOps: 2000, FsyncsPerSec: fsyncs(400), CPUUsPerOp: &bench.CPUPerOp{User: 12, Kernel: 6}, GC: &bench.GCSummary{AllocBytesPerOp: 600, CyclesPerSec: 2}},
		{ThroughputOps: 1000, FsyncsPerSec: fsyncs(250), CPUUsPerOp: &bench.CPUPerOp{User: 11, Kernel: 9}, GC: &bench.GCSummary{AllocBytesPerOp: 500, CyclesPerSec: 0.5}},
		{ThroughputOps: 1000},
	})
	if c := row.CPUUsPerOp; c == nil || *c != (bench.CPUPerOp{User: 11, Kernel: 8}) {
		t.Fatalf("row's CPU per op %+v, want the medians 11 and 8", c)
	}
	if f := row.FsyncsPerOp; f == nil || *f != 0.25 {
		t.Fatalf("row's fsyncs per op %v, want the median 0.25 (of 0.3, 0.2, 0.25)", f)
	}
	other := makeRow("b", 16, []RunRecord{{ThroughputOps: 500}})
	if a, g := row.AllocBytesPerOp, row.GCsPerSec; a == nil || *a != 500 || g == nil || *g != 1 {
		t.Fatalf("row's heap bytes per op %v and GCs per second %v, want the medians 500 and 1", a, g)
	}
	if other.CPUUsPerOp != nil || other.FsyncsPerOp != nil || other.AllocBytesPerOp != nil {
		t.Fatalf("a row that measured nothing: %+v %v", other.CPUUsPerOp, other.FsyncsPerOp)
	}
	var b bytes.Buffer
	writeCPUPerOp(&b, &Result{Rows: []Row{row, other}})
	md := b.String()
	if !strings.Contains(md, "| a | 16 | 11.0 | 8.0 | 19.0 | 0.250 | 500 | 1.00 |") || strings.Contains(md, "| b |") {
		t.Fatalf("CPU per op table:\n%s", md)
	}
	b.Reset()
	writeCPUPerOp(&b, &Result{Rows: []Row{other}})
	if b.Len() != 0 {
		t.Fatalf("a table with no row measured:\n%s", b.String())
	}
}
