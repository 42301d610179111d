package report

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/bench"
)

// runInto makes a real run with cfg against a fake and writes it to dir.
func runInto(t *testing.T, dir string, cfg bench.RunConfig) *bench.Summary {
	t.Helper()
	sum, err := bench.Run(context.Background(), cfg, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bench.FillEnvironment(sum, []string{"raftbench", "run"})
	if err := WriteResults(dir, sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestMergeAddsCountsAndMergesHistograms: merging two generators' runs
// gives exactly the counts of both and the percentiles of one histogram
// holding both runs' values, not averaged percentiles.
func TestMergeAddsCountsAndMergesHistograms(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "gen1"), filepath.Join(base, "gen2")
	cfg := shortConfig()
	p, _ := bench.LookupWorkload("b")
	p.Apply(&cfg)
	sa := runInto(t, a, cfg)
	cfg.Seed, cfg.Clients = 2, 7
	sb := runInto(t, b, cfg)

	var in []*MergeInput
	for _, d := range []string{a, b} {
		mi, err := ReadMergeInput(d)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, mi)
	}
	m, err := Merge(in)
	if err != nil {
		t.Fatal(err)
	}
	if m.Ops != sa.Ops+sb.Ops || m.Errors != sa.Errors+sb.Errors || m.Clients != 11 ||
		m.OpsByOp["read"] != sa.OpsByOp["read"]+sb.OpsByOp["read"] ||
		m.Results.OK != sa.Results.OK+sb.Results.OK || m.Results.NotFound != sa.Results.NotFound+sb.Results.NotFound {
		t.Fatalf("merged counts %+v from %d + %d ops", m, sa.Ops, sb.Ops)
	}
	if got, want := m.ThroughputOps, sa.ThroughputOps+sb.ThroughputOps; got != want {
		t.Errorf("throughput %v, want %v", got, want)
	}
	// The histograms as run, merged directly: the same counts and
	// percentiles as the merge of what the runs wrote.
	direct := hdr.New(1, 600_000_000, 3)
	direct.Merge(sa.Hist)
	direct.Merge(sb.Hist)
	if !direct.Equals(m.Hist) || uint64(m.Hist.TotalCount()) != m.Ops {
		t.Fatalf("merged histogram differs: %d values vs %d direct", m.Hist.TotalCount(), direct.TotalCount())
	}
	if want := bench.LatencyOf(direct); m.LatencyMs != want {
		t.Errorf("merged latency %+v, want %+v", m.LatencyMs, want)
	}
	if len(m.MergedFrom) != 2 || m.MergedFrom[1].Seed != 2 || m.Workload.Name != "b" {
		t.Errorf("merged from %+v, workload %+v", m.MergedFrom, m.Workload)
	}
	// Written and read back like any run, and the round trip holds.
	out := filepath.Join(base, "merged")
	if err := WriteResults(out, m); err != nil {
		t.Fatal(err)
	}
	lat, _, err := ReadHistograms(out)
	if err != nil || !lat.Equals(direct) {
		t.Fatalf("merged hlog read back: %v", err)
	}
}

func TestMergeRefusesMismatchedRuns(t *testing.T) {
	base := t.TempDir()
	cfg := shortConfig()
	cfg.Duration = 200e6
	runInto(t, filepath.Join(base, "a"), cfg)
	other := cfg
	other.Seed = 5
	p, _ := bench.LookupWorkload("write-only")
	p.Apply(&other)
	runInto(t, filepath.Join(base, "wo"), other)
	same := cfg
	runInto(t, filepath.Join(base, "same-seed"), same)
	read := func(dirs ...string) []*MergeInput {
		var in []*MergeInput
		for _, d := range dirs {
			mi, err := ReadMergeInput(filepath.Join(base, d))
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, mi)
		}
		return in
	}
	_, err := Merge(read("a", "wo"))
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "workload default vs write-only") || !strings.Contains(err.Error(), "mix write=0.5,read=0.4,cas=0.1 vs write=1,read=0,cas=0") {
		t.Errorf("different workloads: %v", err)
	}
	if _, err := Merge(read("a", "same-seed")); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "both used seed 1") {
		t.Errorf("same seed: %v", err)
	}
	if _, err := Merge(read("a")); err == nil || !strings.Contains(err.Error(), "at least two runs") {
		t.Errorf("one run: %v", err)
	}
	if _, err := ReadMergeInput(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("empty dir: %v", err)
	}
}
