package report

import (
	"strings"
	"testing"

	"github.com/raftbench/raftbench/bench"
)

func TestTable(t *testing.T) {
	s := &bench.Summary{Target: "inproc", Nodes: 3, Mode: "closed", Clients: 64, ValueBytes: 128, Fsync: true}
	var b strings.Builder
	WriteTable(&b, s)
	if !strings.Contains(b.String(), "throughput") || !strings.Contains(b.String(), s.Title()) {
		t.Fatalf("table lacks its title or throughput row:\n%s", b.String())
	}
}

func TestProgressLines(t *testing.T) {
	var b strings.Builder
	p := NewProgressPrinter(&b, true)
	is := bench.IntervalStats{ElapsedS: 3, TotalS: 33, OpsPerSec: 41203, P50: 1.2, P99: 4.5, LeaderChanges: 1, FsyncsPerSec: 2950, EntriesPerFsync: 13.9}
	p.Progress(is)
	p.Progress(is)
	p.Finish()
	out := b.String()
	if strings.Count(out, "\r\x1b[K") != 2 || strings.Count(out, "\n") != 1 {
		t.Fatalf("terminal output should refresh one line: %q", out)
	}
	for _, want := range []string{"41,203 ops/s", "p50 1.20ms", "p99 4.50ms", "errors 0", "leader chg 1", "fsyncs/s 2,950", "entries/fsync 13.9", "[  3s/33s]"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress line lacks %q: %q", want, out)
		}
	}
	b.Reset()
	p = NewProgressPrinter(&b, false)
	p.Progress(is)
	p.Progress(is)
	p.Finish()
	if strings.Count(b.String(), "\n") != 2 || strings.Contains(b.String(), "\r") {
		t.Fatalf("plain output should be one line per second: %q", b.String())
	}
}
