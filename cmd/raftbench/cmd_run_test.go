package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/report"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// loadTestTarget is an in-memory kv.Store behind the Target interface,
// so these tests exercise the commands without a cluster.
type loadTestTarget struct {
	mu    sync.Mutex
	store *kv.Store
}

func (t *loadTestTarget) Name() string { return "cmdtest" }
func (t *loadTestTarget) Do(_ context.Context, r bench.Request) (kv.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cmd := kv.AppendCommand(nil, kv.Command{Op: r.Op, Key: r.Key, Value: r.Value, From: r.From})
	if r.Op == kv.OpRead {
		return kv.DecodeResult(t.store.Query(cmd))
	}
	return kv.DecodeResult(t.store.Apply(cmd))
}
func (t *loadTestTarget) Stats() bench.TargetStats { return bench.TargetStats{} }
func (t *loadTestTarget) Close() error             { return nil }

func init() {
	bench.Register("cmdtest", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		if len(cfg.Options) > 0 || cfg.Dir == "" || cfg.Nodes < 1 {
			return nil, errors.New("cmdtest: bad target config")
		}
		return &loadTestTarget{store: kv.NewStore()}, nil
	})
}

// readSummary reads dir/summary.json.
func readSummary(t *testing.T, dir string) bench.Summary {
	t.Helper()
	return readJSON[bench.Summary](t, filepath.Join(dir, "summary.json"))
}

// readJSON reads the JSON file at path into a T.
func readJSON[T any](t *testing.T, path string) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// execLoadCmd runs a fresh command (flags do not leak between tests).
func execLoadCmd(t *testing.T, mk func() *cobra.Command, args ...string) (string, error) {
	t.Helper()
	c := mk()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestRunWorkloadFlagsRecordTheWorkload(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "4", "--warmup", "50ms", "--duration", "300ms",
		"--workload", "D", "--theta", "0.7", "--keys", "200", "--out", out, "--quiet"); err != nil {
		t.Fatal(err)
	}
	s := readSummary(t, out)
	w := s.Workload
	if w.Name != "d" || w.Distribution != "latest" || w.Theta != 0.7 || !w.Preload || w.Keys != 200 ||
		w.Fractions["read"] != 0.95 || w.Fractions["insert"] != 0.05 || s.OpsByOp["insert"] == 0 {
		t.Fatalf("summary.json workload %+v, ops %v", w, s.OpsByOp)
	}
	// --preload gives a --mix workload the load phase: every key is in the
	// state before the measured writes begin.
	out3 := filepath.Join(t.TempDir(), "p")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "2", "--warmup", "0s", "--duration", "200ms",
		"--mix", "write=1", "--preload", "--keys", "300", "--out", out3, "--quiet"); err != nil {
		t.Fatal(err)
	}
	if s = readSummary(t, out3); !s.Workload.Preload || s.Workload.Keys != 300 {
		t.Fatalf("--preload: workload %+v", s.Workload)
	}
	// A preset with another distribution says so in its name.
	out2 := filepath.Join(t.TempDir(), "a")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "2", "--warmup", "0s", "--duration", "200ms",
		"--workload", "a", "--distribution", "uniform", "--keys", "50", "--out", out2, "--quiet"); err != nil {
		t.Fatal(err)
	}
	if s = readSummary(t, out2); s.Workload.Name != "a/uniform" || s.Workload.Theta != 0 {
		t.Fatalf("workload %+v", s.Workload)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "4", "--rate", "100"}, "--clients and --rate are both set"},
		{[]string{"--mix", "write=1,delete=1"}, `unknown operation "delete"`},
		{[]string{"--mix", "write=0,read=0"}, "sum to more than 0"},
		{[]string{"--duration", "-1s"}, "duration -1s must be positive"},
		{[]string{"--warmup", "-1s"}, "warmup -1s must not be negative"},
		{[]string{"--rate", "-5"}, "--rate -5 must be positive"},
		{[]string{"--target", "nosuch"}, `unknown target "nosuch"`},
		{[]string{"--key-dist", "normal"}, `unknown key distribution "normal"`},
		{[]string{"--workers", "8"}, "--workers applies to the open loop"},
		{[]string{"--value-bytes", "0"}, "value bytes 0"},
		{[]string{"--nodes", "0"}, "--nodes 0"},
		{[]string{"--endpoints", "127.0.0.1:1"}, "--endpoints applies to --target tcp"},
		{[]string{"--target", "tcp", "--endpoints", "a:1,b:2", "--nodes", "3"}, "--nodes 3 but 2 --endpoints"},
		{[]string{"--target-opt", "novalue"}, "want key=value"},
		{[]string{"--zipf-theta", "0.5"}, "--theta 0.5 needs --distribution zipfian or latest"},
		{[]string{"--workload", "e"}, `--workload: unknown workload "e" (known: a, b, c, d, default, f, write-only)`},
		{[]string{"--workload", "a", "--mix", "write=1"}, "--mix and --workload a are both set"},
		{[]string{"--workload", "a", "--theta", "1"}, "--theta 1 out of range: the zipfian skew must be in (0, 1)"},
		{[]string{"--workload", "a", "--theta", "0"}, "--theta 0 out of range"},
		{[]string{"--distribution", "zipfian", "--theta", "-0.5"}, "--theta -0.5 out of range"},
		{[]string{"--workload", "c", "--preload=false"}, "--preload=false: workload c needs its load phase"},
		{[]string{"--distribution", "pareto"}, `--distribution: unknown key distribution "pareto" (known: uniform, zipfian, latest)`},
	} {
		_, err := execLoadCmd(t, newRunCmd, append([]string{"--target", "cmdtest"}, c.args...)...)
		var ee *exitError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("run %v: err %v, want usage error containing %q", c.args, err, c.want)
		}
	}
	if _, err := execLoadCmd(t, newSweepCmd, "--target", "cmdtest", "--rates", "200,100", "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "rates must increase") {
		t.Errorf("sweep with decreasing rates: %v", err)
	}
	if _, err := execLoadCmd(t, newSweepCmd, "--target", "cmdtest", "--rates", "100"); err == nil || !strings.Contains(err.Error(), "--out DIR is required") {
		t.Errorf("sweep without --out: %v", err)
	}
	if _, err := execLoadCmd(t, newSweepCmd, "--target", "cmdtest", "--rates", "100", "--out", t.TempDir(), "--disk-floor", "-1s"); err == nil || !strings.Contains(err.Error(), "--disk-floor -1s") {
		t.Errorf("sweep with a negative --disk-floor: %v", err)
	}
	if _, err := execLoadCmd(t, newSweepCmd, "--target", "cmdtest", "--rates", "100", "--out", t.TempDir(), "--fsync=false", "--disk-floor", "1s"); err == nil || !strings.Contains(err.Error(), "--disk-floor needs fsync on") {
		t.Errorf("sweep --disk-floor without fsync: %v", err)
	}
	if _, err := execLoadCmd(t, newPlotCmd, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "needs --out") {
		t.Errorf("plot overlay without --out: %v", err)
	}
}

// The flags `make bench` passes must exist with those names.
func TestRunWithMakeBenchFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "latest")
	stdout, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--nodes", "3", "--clients", "64",
		"--value-bytes", "128", "--warmup", "100ms", "--duration", "400ms", "--out", out, "--fsync=true",
		"--mix", "write=0.5,read=0.4,cas=0.1", "--keys", "1000", "--key-dist", "zipfian", "--seed", "3",
		"--metrics-addr", "127.0.0.1:0", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "cmdtest, 3 nodes, 64 clients, 128 B values, fsync on") || !strings.Contains(stdout, "throughput") {
		t.Errorf("summary table missing:\n%s", stdout)
	}
	s := readSummary(t, out)
	if s.Clients != 64 || s.KeyDist != "zipfian" || s.Seed != 3 || s.Ops == 0 || s.Command == "" {
		t.Errorf("summary.json: %+v", s)
	}
	for _, f := range []string{"timeseries.csv", "latency_percentiles.csv", "histogram.hlog", "throughput.png", "latency.svg", "spectrum.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if s.Workload.Name != "default/zipfian" || s.Workload.Distribution != "zipfian" || s.Workload.Theta != bench.DefaultZipfTheta || s.Workload.Preload {
		t.Errorf("summary.json workload: %+v", s.Workload)
	}
	// plot redraws in place and overlays into --out.
	if _, err := execLoadCmd(t, newPlotCmd, out); err != nil {
		t.Fatalf("plot %s: %v", out, err)
	}
	overlay := filepath.Join(t.TempDir(), "overlay")
	if _, err := execLoadCmd(t, newPlotCmd, out, out, "--out", overlay); err != nil {
		t.Fatalf("plot overlay: %v", err)
	}
	if _, err := os.Stat(filepath.Join(overlay, "spectrum.svg")); err != nil {
		t.Error(err)
	}
}

func TestSweepWritesEveryRate(t *testing.T) {
	out := t.TempDir()
	stdout, err := execLoadCmd(t, newSweepCmd, "--target", "cmdtest", "--rates", "200,400", "--warmup", "0s",
		"--duration", "300ms", "--workers", "4", "--out", out, "--quiet", "--disk-floor", "200ms", "--data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sw, err := report.ReadSweep(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Points) != 2 || sw.Saturation == nil || sw.Points[1].Dir != "rate-400" {
		t.Fatalf("sweep.json: %+v", sw)
	}
	for _, f := range []string{"rate-200/summary.json", "rate-400/spectrum.png", "latency_vs_throughput.png", "latency_vs_throughput.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout, "offered/s") {
		t.Errorf("sweep table missing:\n%s", stdout)
	}
	// The disk floor at half the highest rate held, on the same schedule.
	// Both ways of writing the logs, the lower p99 first.
	fl, other := sw.HalfSaturationFloor, sw.HalfSaturationFloorOther
	for _, f := range []*bench.DiskFloor{fl, other} {
		if f == nil || f.Rate != sw.HalfSaturationOps || f.Writes == 0 || f.Files != 3 {
			t.Fatalf("sweep.json half_saturation_floor(_other): %+v (half saturation %v)", f, sw.HalfSaturationOps)
		}
	}
	if fl.Overwrite == other.Overwrite || fl.P99Us > other.P99Us {
		t.Errorf("sweep.json floors: kept %s p99 %.0f µs, other %s p99 %.0f µs; want both ways, the lower p99 kept",
			fl.Way(), fl.P99Us, other.Way(), other.P99Us)
	}
	for _, way := range []string{"append + fsync", "overwrite + fdatasync"} {
		if !strings.Contains(stdout, "the disk alone at 200 writes/s") || !strings.Contains(stdout, way+"): p50") {
			t.Errorf("sweep table lacks the disk floor (%s):\n%s", way, stdout)
		}
	}
	if _, err := execLoadCmd(t, newPlotCmd, out); err != nil {
		t.Fatalf("plot sweep dir: %v", err)
	}
}

// --cpuprofile and --memprofile write profiles (gzipped, as pprof's are),
// with --preload too (the CPU profile then starts after the preload); a
// path that cannot be created is an error before any load runs.
func TestRunWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "4", "--warmup", "0s",
		"--duration", "300ms", "--quiet", "--cpuprofile", cpu, "--memprofile", mem); err != nil {
		t.Fatal(err)
	}
	cpuPreload := filepath.Join(dir, "cpu-preload.pprof")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "4", "--warmup", "0s",
		"--duration", "300ms", "--keys", "200", "--preload", "--quiet", "--cpuprofile", cpuPreload); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cpu, mem, cpuPreload} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// pprof profiles are gzipped protocol buffers.
		if len(b) < 32 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: %d bytes, not a gzipped pprof profile", p, len(b))
		}
	}
	_, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--duration", "100ms", "--quiet",
		"--cpuprofile", filepath.Join(dir, "missing", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Errorf("unwritable --cpuprofile: %v", err)
	}
}

// --trace writes an execution trace of the run (go tool trace reads it); a
// path that cannot be created is an error before any load runs.
func TestRunWritesTrace(t *testing.T) {
	dir := t.TempDir()
	tr := filepath.Join(dir, "run.trace")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--clients", "4", "--warmup", "0s",
		"--duration", "200ms", "--quiet", "--trace", tr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	// An execution trace starts with "go 1.N trace" and a NUL.
	if len(b) < 1024 || !strings.HasPrefix(string(b), "go 1.") || !strings.Contains(string(b[:16]), " trace\x00") {
		t.Errorf("%s: %d bytes starting %q, not an execution trace", tr, len(b), b[:min(16, len(b))])
	}
	_, err = execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--duration", "100ms", "--quiet",
		"--trace", filepath.Join(dir, "missing", "run.trace"))
	if err == nil || !strings.Contains(err.Error(), "--trace") {
		t.Errorf("unwritable --trace: %v", err)
	}
}

// sizedTestTarget is loadTestTarget reporting its store's memory
// (bench.StateSizer), as the inproc target does.
type sizedTestTarget struct{ loadTestTarget }

func (t *sizedTestTarget) Name() string { return "cmdtest-sized" }
func (t *sizedTestTarget) StateBytes() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.store.MemoryBytes()
}

func init() {
	bench.Register("cmdtest-sized", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		return &sizedTestTarget{loadTestTarget{store: kv.NewStore()}}, nil
	})
}

func TestRunMemoryFloor(t *testing.T) {
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest", "--duration", "100ms", "--warmup", "0s", "--quiet", "--memory-floor"); err == nil ||
		!strings.Contains(err.Error(), "does not report its state's size") {
		t.Errorf("--memory-floor on a target without a state size: %v, want a clear error", err)
	}
	out := filepath.Join(t.TempDir(), "run")
	if _, err := execLoadCmd(t, newRunCmd, "--target", "cmdtest-sized", "--clients", "4", "--keys", "2000", "--mix", "write=1",
		"--duration", "200ms", "--warmup", "0s", "--quiet", "--memory-floor", "--out", out); err != nil {
		t.Fatal(err)
	}
	s := readSummary(t, out)
	if s.StateBytes == 0 {
		t.Errorf("summary.json state_bytes missing: %+v", s)
	}
	f := s.MemoryFloor
	if f == nil || f.Bytes < bench.MinMemoryFloorBytes || f.Bytes < int64(s.StateBytes) || f.RandomReadNs <= 0 || f.CachedReadNs <= 0 || f.FirstWriteUsPerPage <= 0 {
		t.Errorf("summary.json memory_floor: %+v (state %d bytes)", f, s.StateBytes)
	}
}
