package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// fakeTarget is a single kv.Store with a fixed service delay; it counts
// one fsync per write so entries-per-fsync is known.
type fakeTarget struct {
	name    string
	delay   time.Duration
	nofsync bool // states a no-fsync contract
	store   *kv.Store
	writes  atomic.Uint64
	closed  atomic.Bool
}

func (f *fakeTarget) Name() string { return f.name }

func (f *fakeTarget) Do(ctx context.Context, req bench.Request) (kv.Result, error) {
	time.Sleep(f.delay)
	var res []byte
	switch req.Op {
	case kv.OpRead:
		res = f.store.Query(kv.EncodeRead(req.Key))
	case kv.OpWrite:
		f.writes.Add(1)
		res = f.store.Apply(kv.EncodeWrite(req.Key, req.Value))
	default:
		f.writes.Add(1)
		res = f.store.Apply(kv.EncodeCas(req.Key, req.From, req.Value, false))
	}
	return kv.DecodeResult(res)
}

// Stats: three entries per fsync; "fast" counts a snapshot every
// writesPerSnapshot writes, "slow" does not count its snapshots.
func (f *fakeTarget) Stats() bench.TargetStats {
	w := f.writes.Load()
	s := bench.TargetStats{Fsyncs: w, FsyncEntries: 3 * w}
	if f.name == "fast" {
		s.Snapshots, s.SnapshotsCounted = w/writesPerSnapshot, true
	}
	return s
}

const writesPerSnapshot = 10

func (f *fakeTarget) Close() error { f.closed.Store(true); return nil }

// Contract: the fake states the usual Raft contract (its one store is
// trivially linearizable).
func (f *fakeTarget) Contract() bench.Contract {
	return bench.RaftContract(!f.nofsync, bench.ReadsReadIndex, "")
}

func TestScheduleInterleavesAndRotates(t *testing.T) {
	got := Schedule([]string{"a", "b", "c"}, []int{1, 8}, 2)
	want := []Slot{
		{1, 1, "a"}, {1, 1, "b"}, {1, 1, "c"}, {1, 8, "a"}, {1, 8, "b"}, {1, 8, "c"},
		{2, 1, "b"}, {2, 1, "c"}, {2, 1, "a"}, {2, 8, "b"}, {2, 8, "c"}, {2, 8, "a"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Schedule = %v\nwant %v", got, want)
	}
}

func TestCompareWritesOutputsInInterleavedOrder(t *testing.T) {
	out := t.TempDir()
	var mu sync.Mutex
	var opened []string
	var targets []*fakeTarget
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 100*time.Millisecond, 1200*time.Millisecond, 100, 16
	var log bytes.Buffer
	cfg := Config{
		Systems: []string{"slow", "fast"}, Clients: []int{1, 4}, Repeat: 1, Nodes: 3, Fsync: true,
		Load: load, DataDir: t.TempDir(), DiskFloor: 100 * time.Millisecond, Out: out, Log: &log, Command: "raftbench compare (test)",
		Open: func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			if tc.Nodes != 3 || !tc.Fsync || tc.ValueBytes != 16 || tc.Dir == "" {
				t.Errorf("target config %+v", tc)
			}
			d := 2 * time.Millisecond
			if system == "fast" {
				d = 200 * time.Microsecond
			}
			f := &fakeTarget{name: system, delay: d, store: kv.NewStore()}
			mu.Lock()
			opened = append(opened, system)
			targets = append(targets, f)
			mu.Unlock()
			return f, nil
		},
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"slow", "fast", "slow", "fast"}; !slices.Equal(opened, want) {
		t.Errorf("opened %v, want interleaved %v", opened, want)
	}
	for _, f := range targets {
		if !f.closed.Load() {
			t.Errorf("target %s not closed", f.name)
		}
	}
	checkResult(t, res)
	checkFiles(t, out, len(res.Runs))
	if n := strings.Count(log.String(), "\n"); n != 20 {
		t.Errorf("log has %d lines, want one per run and sixteen for the disk floor:\n%s", n, log.String())
	}
	checkFloor(t, out, res)
	again, err := Redraw(out) // the floor survives re-summarising
	if err != nil {
		t.Fatal(err)
	}
	checkFloor(t, out, again)
}

// checkFloor: the disk floor was measured before and after the runs, at
// every client count, with the quorum's logs and with every replica's,
// each both ways of writing a log, with one write's record size;
// compare.md tabulates it per way and rates the fsync-on rows against the
// every-replica ceiling of the better way (the best sample of either).
func checkFloor(t *testing.T, dir string, res *Result) {
	t.Helper()
	var got []string
	best := map[string]float64{}
	for _, f := range res.DiskFloor {
		way := "append"
		if f.Overwrite {
			way = "overwrite"
		}
		key := fmt.Sprintf("%d/%d", f.Writers, f.Files)
		got = append(got, f.When+"/"+key+"/"+way)
		if f.Nodes != 3 || f.Quorum != 2 || f.RecordBytes != floorRecordBytes(16) || f.Writes < 1 || f.MeanUs <= 0 {
			t.Errorf("disk floor sample %+v", f)
		}
		best[key] = max(best[key], f.WritesPerSec)
		best[key+"/"+way] = max(best[key+"/"+way], f.WritesPerSec)
	}
	var want []string
	for _, when := range []string{"before", "after"} {
		for _, key := range []string{"1/2", "1/3", "4/2", "4/3"} {
			want = append(want, when+"/"+key+"/append", when+"/"+key+"/overwrite")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("disk floor samples %v, want %v", got, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{"**Disk floor**", "write+cas share (60%)", "| clients | logs written | 2 of 3 logs: writes/s (mean µs) |", "| stalls/s, 3 of 3 logs (median ms) |", "of ceiling |"}
	for _, c := range []int{1, 4} {
		for _, way := range []string{"append", "overwrite"} {
			q, e := best[fmt.Sprintf("%d/2/%s", c, way)], best[fmt.Sprintf("%d/3/%s", c, way)]
			cell := func(v float64, all string) string {
				if v == best[all] {
					return "**" + bench.FormatCount(v/0.6) + "**"
				}
				return bench.FormatCount(v / 0.6)
			}
			wants = append(wants, fmt.Sprintf("| %d | %s + ", c, way), fmt.Sprintf("| %s (", bench.FormatCount(q)),
				fmt.Sprintf("| %s | %s | ", cell(q, fmt.Sprintf("%d/2", c)), cell(e, fmt.Sprintf("%d/3", c))))
		}
		if e := best[fmt.Sprintf("%d/3", c)]; math.Abs(res.floorCeiling(c, 3)-e/0.6) > 1e-6 {
			t.Errorf("ceiling at %d clients %.1f, want %.1f (the better way's)", c, res.floorCeiling(c, 3), e/0.6)
		}
	}
	for _, row := range res.Rows {
		wants = append(wants, fmt.Sprintf("| %d | yes (%s ops) | %s | %.0f%% |\n", row.Errors, bench.FormatCount(float64(row.CheckedOps)),
			row.Contract, 100*row.OpsMedian/res.floorCeiling(row.Clients, 3)))
	}
	for _, w := range wants {
		if !bytes.Contains(md, []byte(w)) {
			t.Errorf("compare.md lacks %q:\n%s", w, md)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "throughput_vs_clients.svg"))
	if err != nil || !bytes.Contains(svg, []byte("disk ceiling, fsync on (3 of 3 logs writing)")) {
		t.Errorf("the throughput plot does not draw the disk ceiling (err %v)", err)
	}
}

func checkResult(t *testing.T, res *Result) {
	t.Helper()
	if len(res.Runs) != 4 || len(res.Rows) != 4 {
		t.Fatalf("%d runs, %d rows; want 4 and 4", len(res.Runs), len(res.Rows))
	}
	for i, r := range res.Runs {
		if r.Order != i+1 || r.ThroughputOps <= 0 || r.LatencyMs.P50 <= 0 || r.CPUCores <= 0 || r.OpsPerCPUSec <= 0 {
			t.Errorf("run %+v: missing figures", r)
		}
		if r.EntriesPerFsync == nil || *r.EntriesPerFsync != 3 {
			t.Errorf("run %d entries/fsync %v, want 3", i+1, r.EntriesPerFsync)
		}
	}
	byKey := map[string]Row{}
	for _, row := range res.Rows {
		byKey[row.System+"/"+strconv.Itoa(row.Clients)] = row
	}
	// A 10x faster service time must show, and ratios must be reciprocal.
	f, s := byKey["fast/4"], byKey["slow/4"]
	if f.OpsMedian <= s.OpsMedian || f.VsBestOther <= 1 || s.VsBestOther >= 1 {
		t.Errorf("fast %+v vs slow %+v", f, s)
	}
	// Snapshots are counted in the measured window where the system
	// counts them, and left out (not 0) where it does not.
	for _, row := range res.Rows {
		switch {
		case row.System == "fast" && (row.Snapshots == nil || *row.Snapshots <= 0):
			t.Errorf("fast/%d: snapshots %v, want a positive count", row.Clients, row.Snapshots)
		case row.System == "slow" && row.Snapshots != nil:
			t.Errorf("slow/%d: snapshots %v, want none recorded (not counted)", row.Clients, *row.Snapshots)
		}
	}
	for _, r := range res.Runs {
		if r.System == "fast" && r.Snapshots != nil && float64(*r.Snapshots) > float64(r.Ops)/writesPerSnapshot+2 {
			t.Errorf("run %d: %d snapshots for %d operations: the warm-up's were counted", r.Order, *r.Snapshots, r.Ops)
		}
	}
	// The default mix's three kinds, each with its own latency.
	for _, row := range res.Rows {
		for _, op := range []string{"write", "read", "cas"} {
			if l, ok := row.ByOp[op]; !ok || l.P50Ms <= 0 || l.P99Ms < l.P50Ms {
				t.Errorf("%s/%d: %s latency %+v (present %v)", row.System, row.Clients, op, l, ok)
			}
		}
	}
}

func checkFiles(t *testing.T, dir string, runs int) {
	t.Helper()
	var back Result
	b, err := os.ReadFile(filepath.Join(dir, "compare.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Runs) != runs || !back.Fsync {
		t.Errorf("compare.json: %v, %d runs, fsync %v", err, len(back.Runs), back.Fsync)
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| slow | 1 |", "| fast | 4 |", "fsync **on for every system**", "ops/CPU-s",
		"**By operation**", "| system | clients | write | read | cas |", "| entries/fsync | snapshots | vs best other |"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
	for _, name := range []string{"throughput_vs_clients", "p99_vs_clients"} {
		png, err := os.ReadFile(filepath.Join(dir, name+".png"))
		if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s.png: %v, %d bytes", name, err, len(png))
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("clients")) {
			t.Errorf("%s.svg: %v, %d bytes", name, err, len(svg))
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "runs"))
	if err != nil || len(entries) != runs {
		t.Errorf("runs/: %v, %d files, want %d", err, len(entries), runs)
	}
}

func TestBadConfig(t *testing.T) {
	load := bench.DefaultRunConfig()
	ok := Config{Systems: []string{"a"}, Clients: []int{1}, Repeat: 1, Nodes: 3, Load: load, Out: t.TempDir()}
	for name, mut := range map[string]func(*Config){
		"no systems":    func(c *Config) { c.Systems = nil },
		"duplicate":     func(c *Config) { c.Systems = []string{"a", "a"} },
		"no clients":    func(c *Config) { c.Clients = nil },
		"zero clients":  func(c *Config) { c.Clients = []int{0} },
		"zero repeat":   func(c *Config) { c.Repeat = 0 },
		"no out":        func(c *Config) { c.Out = "" },
		"zero duration": func(c *Config) { c.Load.Duration = 0 },
		"bad option":    func(c *Config) { c.Systems = []string{"a:fast"} },
		"option only":   func(c *Config) { c.Systems = []string{":nofsync"} },
		"empty value":   func(c *Config) { c.Systems = []string{"a:stores="} },
		"empty key":     func(c *Config) { c.Systems = []string{"a:=3"} },
		"option twice":  func(c *Config) { c.Systems = []string{"a:stores=3:stores=1"} },
		"empty option":  func(c *Config) { c.Systems = []string{"a:stores=3::nofsync"} },
		"history keys":  func(c *Config) { c.History = &bench.HistoryConfig{Keys: 1 << 20} },
		"check timeout": func(c *Config) { c.CheckTimeout = -time.Second },
	} {
		c := ok
		mut(&c)
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: Run succeeded", name)
		}
	}
}

// TestNoFsyncSuffix: "x:nofsync" opens target x with fsync off while the
// other systems keep fsync on, and the table says so.
func TestNoFsyncSuffix(t *testing.T) {
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 0, 300*time.Millisecond, 10, 16
	fsyncOf := map[string]bool{}
	var mu sync.Mutex
	out := t.TempDir()
	res, err := Run(context.Background(), Config{
		Systems: []string{"a", "a:nofsync"}, Clients: []int{1}, Repeat: 1, Nodes: 3, Fsync: true,
		Load: load, DataDir: t.TempDir(), Out: out,
		Open: func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			mu.Lock()
			fsyncOf[system] = tc.Fsync
			mu.Unlock()
			if TargetName(system) != "a" {
				t.Errorf("system %q maps to target %q", system, TargetName(system))
			}
			return &fakeTarget{name: system, delay: 100 * time.Microsecond, store: kv.NewStore(), nofsync: !tc.Fsync}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !fsyncOf["a"] || fsyncOf["a:nofsync"] {
		t.Fatalf("fsync per system = %v, want a on and a:nofsync off", fsyncOf)
	}
	for _, r := range res.Runs {
		if r.Fsync != (r.System == "a") {
			t.Errorf("run %s recorded fsync=%v", r.System, r.Fsync)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil || !strings.Contains(string(md), "except systems marked :nofsync") {
		t.Errorf("compare.md does not state the mixed fsync policy (err %v)", err)
	}
	for _, row := range res.Rows {
		if row.VsBestOther != 0 {
			t.Errorf("%s ranked against a system with another fsync setting: %.2fx", row.System, row.VsBestOther)
		}
	}
	// Redraw re-summarises the saved runs without measuring again.
	if err := os.Remove(filepath.Join(out, "compare.md")); err != nil {
		t.Fatal(err)
	}
	again, err := Redraw(out)
	if err != nil || len(again.Rows) != len(res.Rows) {
		t.Fatalf("Redraw: %v, %d rows (want %d)", err, len(again.Rows), len(res.Rows))
	}
	if _, err := os.Stat(filepath.Join(out, "compare.md")); err != nil {
		t.Errorf("Redraw did not rewrite compare.md: %v", err)
	}
	if _, err := Redraw(t.TempDir()); err == nil {
		t.Error("Redraw of a directory without compare.json succeeded")
	}
}

func TestParseSystem(t *testing.T) {
	for _, c := range []struct {
		system, target string
		opts           map[string]string
	}{
		{"etcd", "etcd", nil},
		{"raftbench", "inproc", nil},
		{"raftbench:nofsync", "inproc", nil},
		{"raftbench:tcp", "inproc", map[string]string{"transport": "tcp"}},
		{"floor:stores=3", "floor", map[string]string{"stores": "3"}},
		{"floor:stores=3:nofsync", "floor", map[string]string{"stores": "3"}},
		{"raftbench:wal-commit-delay=100us:lazy-commit=false", "inproc", map[string]string{"wal-commit-delay": "100us", "lazy-commit": "false"}},
	} {
		target, opts, err := ParseSystem(c.system)
		if err != nil || target != c.target || !maps.Equal(opts, c.opts) {
			t.Errorf("ParseSystem(%q) = %q, %v, %v; want %q, %v", c.system, target, opts, err, c.target, c.opts)
		}
	}
	for _, bad := range []string{"", ":nofsync", ":stores=3", "floor:", "floor:stores", "floor:stores=", "floor:=3", "floor:stores=3:stores=4", "floor:a=1::b=2"} {
		if _, _, err := ParseSystem(bad); err == nil {
			t.Errorf("ParseSystem(%q) accepted", bad)
		}
	}
}

// TestSystemOptions: the options a system's name sets reach its target
// (with the modelled disk's beside them), its rows keep the name, and an
// option the target refuses fails the comparison before anything is
// measured.
func TestSystemOptions(t *testing.T) {
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 0, 200*time.Millisecond, 10, 16
	var mu sync.Mutex
	got := map[string]map[string]string{}
	open := func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
		if tc.Options["speed"] == "bad" {
			return nil, errors.New(`fake target: speed="bad": want fast`)
		}
		mu.Lock()
		got[system] = tc.Options
		mu.Unlock()
		return &fakeTarget{name: system, delay: 100 * time.Microsecond, store: kv.NewStore()}, nil
	}
	res, err := Run(context.Background(), Config{
		Systems: []string{"a", "a:speed=fast"}, Clients: []int{1}, Repeat: 1, Nodes: 3, Fsync: true,
		ModelFsync: 200 * time.Microsecond, Load: load, DataDir: t.TempDir(), Out: t.TempDir(), Open: open,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o := got["a:speed=fast"]; o["speed"] != "fast" || o[bench.ModelFsyncOption] == "" {
		t.Errorf("a:speed=fast opened with options %v", o)
	}
	if o := got["a"]; o["speed"] != "" {
		t.Errorf("a opened with options %v", o)
	}
	names := map[string]bool{}
	for _, r := range res.Rows {
		names[r.System] = true
	}
	if !names["a"] || !names["a:speed=fast"] {
		t.Errorf("rows %v, want one per system name", names)
	}

	runs := 0
	out := t.TempDir()
	_, err = Run(context.Background(), Config{
		Systems: []string{"a", "a:speed=bad"}, Clients: []int{1}, Repeat: 1, Nodes: 3, Fsync: true, DiskFloor: time.Second,
		Load: load, DataDir: t.TempDir(), Out: out, Open: open,
		Drive: func(ctx context.Context, cfg bench.RunConfig, tg bench.Target, sink bench.ProgressSink) (*bench.Summary, error) {
			runs++
			return bench.Run(ctx, cfg, tg, sink)
		},
	})
	if err == nil || !strings.Contains(err.Error(), "a:speed=bad") || !strings.Contains(err.Error(), "want fast") {
		t.Errorf("err = %v, want the target's refusal naming the system", err)
	}
	if runs != 0 {
		t.Errorf("%d runs before the refused option was reported", runs)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the output directory has %d entries after a refused option (a disk floor or a run was measured)", len(entries))
	}
}

func TestUnknownSystemFailsClearly(t *testing.T) {
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration = 0, 100*time.Millisecond
	_, err := Run(context.Background(), Config{Systems: []string{"no-such-system"}, Clients: []int{1}, Repeat: 1,
		Nodes: 3, Load: load, Out: t.TempDir(), DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no-such-system") {
		t.Errorf("err = %v, want it to name the unknown system", err)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
}

func TestTransportSystems(t *testing.T) {
	for sys, want := range map[string]string{"raftbench:nats": "nats", "raftbench:tcp": "tcp", "raftbench:nats:nofsync": "nats"} {
		if TargetName(sys) != "inproc" || TargetOptions(sys)["transport"] != want {
			t.Errorf("%s: target %q options %v", sys, TargetName(sys), TargetOptions(sys))
		}
	}
	if TargetOptions("raftbench") != nil || TargetOptions("etcd") != nil {
		t.Error("options for plain systems")
	}
	cfg := Config{Systems: []string{"raftbench", "raftbench:tcp", "raftbench:nats"}, Clients: []int{1}, Repeat: 1,
		Nodes: 3, Out: t.TempDir(), Load: bench.DefaultRunConfig()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Systems = []string{"raftbench:udp"}
	if err := cfg.Validate(); err == nil {
		t.Error("raftbench:udp accepted")
	}
}

// TestFloorEachPass: with FloorEachPass the every-replica floor is
// measured at each client count right before each repeat's runs there
// (both ways of writing a log), each run is rated against its own pass's
// ceiling (Row.OfPassCeiling, the median over the row's runs), and the
// before/after ceiling ("of ceiling") is left as it was.
func TestFloorEachPass(t *testing.T) {
	out := t.TempDir()
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 50*time.Millisecond, 300*time.Millisecond, 100, 16
	var log bytes.Buffer
	cfg := Config{
		Systems: []string{"slow", "fast"}, Clients: []int{1, 4}, Repeat: 2, Nodes: 3, Fsync: true,
		Load: load, DataDir: t.TempDir(), DiskFloor: 50 * time.Millisecond, FloorEachPass: true, Out: out, Log: &log,
		Open: func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			return &fakeTarget{name: system, delay: 200 * time.Microsecond, store: kv.NewStore()}, nil
		},
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DiskFloor) != cfg.FloorSamples() || cfg.FloorSamples() != 16+8 {
		t.Fatalf("%d floor samples, FloorSamples() %d, want 24 (16 before and after, 8 before the passes)", len(res.DiskFloor), cfg.FloorSamples())
	}
	// The log: each pass's two floor lines come right before its runs.
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		switch {
		case strings.Contains(line, "'s runs,"):
			kinds = append(kinds, "pass")
		case strings.HasPrefix(line, "disk floor"):
			kinds = append(kinds, "floor")
		default:
			kinds = append(kinds, "run")
		}
	}
	want := slices.Repeat([]string{"floor"}, 8)
	for range 4 { // 2 repeats x 2 client counts
		want = append(want, "pass", "pass", "run", "run")
	}
	want = append(want, slices.Repeat([]string{"floor"}, 8)...)
	if !slices.Equal(kinds, want) {
		t.Fatalf("log order %v, want %v:\n%s", kinds, want, log.String())
	}
	for _, f := range res.DiskFloor {
		if f.When == FloorPass && (f.Repeat < 1 || f.Repeat > 2 || f.Files != 3) {
			t.Errorf("pass sample %+v: want repeat 1 or 2 with every replica's log", f)
		}
	}
	check := func(res *Result) {
		t.Helper()
		for _, row := range res.Rows {
			var xs []float64
			for _, rr := range res.Runs {
				if rr.System == row.System && rr.Clients == row.Clients {
					xs = append(xs, rr.ThroughputOps/res.passCeiling(row.Clients, 3, rr.Repeat))
				}
			}
			if got := row.OfPassCeiling; got <= 0 || math.Abs(got-median(xs)) > 1e-9 {
				t.Errorf("%s at %d clients: of pass ceiling %v, want the median of %v", row.System, row.Clients, got, xs)
			}
		}
		md, err := os.ReadFile(filepath.Join(out, "compare.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{" of ceiling | of pass ceiling |", fmt.Sprintf(" %.0f%% |\n", 100*res.Rows[0].OfPassCeiling),
			"| clients | ops/s ceiling per pass (1, 2, ...) |", fmt.Sprintf("| 4 | %s / %s |",
				bench.FormatCount(res.passCeiling(4, 3, 1)), bench.FormatCount(res.passCeiling(4, 3, 2)))} {
			if !bytes.Contains(md, []byte(w)) {
				t.Errorf("compare.md lacks %q:\n%s", w, md)
			}
		}
	}
	check(res)
	again, err := Redraw(out)
	if err != nil {
		t.Fatal(err)
	}
	check(again)
}

// The pass samples rate only their own pass: the before/after ceiling
// ignores them, and each pass's ceiling is its own samples' best way.
func TestPassCeilingsStayApart(t *testing.T) {
	sample := func(when string, repeat int, overwrite bool, perSec float64) FloorSample {
		return FloorSample{When: when, Repeat: repeat, DiskFloor: bench.DiskFloor{Nodes: 3, Quorum: 2, Files: 3, Writers: 4, Overwrite: overwrite, WritesPerSec: perSec}}
	}
	r := &Result{Mix: "write=1", Fsync: true, DiskFloor: []FloorSample{
		sample("before", 0, false, 100), sample("after", 0, true, 120),
		sample(FloorPass, 1, false, 1000), sample(FloorPass, 1, true, 900),
		sample(FloorPass, 2, false, 50), sample(FloorPass, 2, true, 60),
	}}
	if got := r.floorCeiling(4, 3); got != 120 {
		t.Errorf("before/after ceiling %v, want 120 (the pass samples are not among them)", got)
	}
	if a, b, none := r.passCeiling(4, 3, 1), r.passCeiling(4, 3, 2), r.passCeiling(4, 3, 3); a != 1000 || b != 60 || none != 0 {
		t.Errorf("pass ceilings %v / %v / %v, want 1000 / 60 / 0", a, b, none)
	}
	runs := []RunRecord{{Repeat: 1, ThroughputOps: 500}, {Repeat: 2, ThroughputOps: 45}}
	if got := r.ofPassCeiling("raftbench", 4, runs); math.Abs(got-0.625) > 1e-9 { // median of 0.5 and 0.75
		t.Errorf("of pass ceiling %v, want 0.625", got)
	}
	if got := r.ofPassCeiling("raftbench"+NoFsyncSuffix, 4, runs); got != 0 {
		t.Errorf("an fsync-off system was rated against the disk: %v", got)
	}
}

// The disk floor table gives each client count and way of writing the
// stalls its every-replica samples saw (before / after, per second, with
// their median length), not the pass samples' nor the quorum-only ones.
func TestFloorTableShowsStalls(t *testing.T) {
	sample := func(when string, files int, overwrite bool, stalls int, p50 float64) FloorSample {
		return FloorSample{When: when, DiskFloor: bench.DiskFloor{Nodes: 3, Quorum: 2, Files: files, Writers: 1, Overwrite: overwrite,
			RecordBytes: 176, WritesPerSec: 1000, MeanUs: 300, DurationS: 2, Stalls: stalls, StallP50Ms: p50}}
	}
	r := &Result{Mix: "write=1", Fsync: true, Clients: []int{1}, DiskFloor: []FloorSample{
		sample("before", 3, true, 19, 14.25), sample("after", 3, true, 0, 0),
		sample("before", 3, false, 3, 12), sample("after", 3, false, 1, 6.5),
		sample("before", 2, true, 7, 9), sample(FloorPass, 3, true, 50, 20),
	}}
	var b bytes.Buffer
	writeFloor(&b, r)
	md := b.String()
	for _, want := range []string{
		"| stalls/s, 3 of 3 logs (median ms) |",
		"| 1 | overwrite + fdatasync | ", "| 9.5 (14.2) / 0 |",
		"| 1 | append + fsync | ", "| 1.5 (12.0) / 0.5 (6.5) |",
		"took 5ms or more",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("disk floor table lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "25.0") || strings.Contains(md, "3.5 (9.0)") {
		t.Errorf("a pass or quorum-only sample's stalls in the table:\n%s", md)
	}
}

// TestModelFsync: --model-fsync gives every system that fsyncs the
// modelled disk's option (beside the options its name implies), not the
// systems marked :nofsync; measures no disk floor; records the model in
// compare.json and compare.md; and refuses a bad duration or fsync off.
func TestModelFsync(t *testing.T) {
	load := bench.DefaultRunConfig()
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 0, 200*time.Millisecond, 10, 16
	optsOf := map[string]map[string]string{}
	var mu sync.Mutex
	out := t.TempDir()
	cfg := Config{
		Systems: []string{"a", "raftbench:tcp", "a:nofsync"}, Clients: []int{1}, Repeat: 1, Nodes: 3, Fsync: true,
		ModelFsync: 300 * time.Microsecond, DiskFloor: time.Second, FloorEachPass: true,
		Load: load, DataDir: t.TempDir(), Out: out,
		Open: func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			mu.Lock()
			optsOf[system] = tc.Options
			mu.Unlock()
			return &fakeTarget{name: system, delay: 100 * time.Microsecond, store: kv.NewStore(), nofsync: !tc.Fsync}, nil
		},
	}
	if n := cfg.FloorSamples(); n != 0 {
		t.Errorf("%d disk floor samples on a modelled disk, want none", n)
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"a":             {bench.ModelFsyncOption: "300µs"},
		"raftbench:tcp": {bench.ModelFsyncOption: "300µs", "transport": "tcp"},
		"a:nofsync":     nil,
	}
	for sys, w := range want {
		if got := optsOf[sys]; !maps.Equal(got, w) {
			t.Errorf("%s opened with options %v, want %v", sys, got, w)
		}
	}
	if res.ModelFsync != "300µs" || len(res.DiskFloor) != 0 {
		t.Errorf("result: model %q, %d disk floor samples; want 300µs and none", res.ModelFsync, len(res.DiskFloor))
	}
	md, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil || !strings.Contains(string(md), "modelled disk: every fsync a wait of 300µs") {
		t.Errorf("compare.md does not name the modelled disk (err %v)", err)
	}
	for _, bad := range []Config{
		{ModelFsync: -time.Millisecond, Fsync: true},
		{ModelFsync: 2 * time.Second, Fsync: true},
		{ModelFsync: time.Millisecond, Fsync: false},
	} {
		c := cfg
		c.ModelFsync, c.Fsync = bad.ModelFsync, bad.Fsync
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "modelled fsync") {
			t.Errorf("model %v with fsync %v: %v, want an error naming the modelled fsync", bad.ModelFsync, bad.Fsync, err)
		}
	}
}
