package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftbench/raftbench/bench"
)

// Limits, so a typo cannot schedule a week of runs.
const (
	MaxSystems = 16
	MaxClients = 16 // client counts per comparison
	MaxRepeat  = 100
)

// Config says what to compare and under which load.
type Config struct {
	// Systems are target names; "raftbench" means our engine's "inproc"
	// target, "raftbench:tcp" and "raftbench:nats" the same over TCP on
	// loopback and over an embedded NATS broker (see TargetName). A name
	// may carry target options after a colon (see ParseSystem), e.g.
	// "floor:stores=3".
	Systems []string
	Clients []int
	Repeat  int
	Nodes   int
	Fsync   bool
	// ModelFsync, when positive, runs every system that fsyncs on a
	// modelled disk (bench.ModelDisk: each fsync a wait of this long, plus
	// the timer's wake-up, that never stalls, nothing durable; target
	// option bench.ModelFsyncOption), so the ranking says what the designs
	// do on a disk that is the same in every hour. Needs Fsync; systems
	// marked NoFsyncSuffix keep fsync off. No disk floor is measured
	// (there is no disk to measure); put DataDir on a tmpfs so the writes
	// touch none.
	ModelFsync time.Duration
	// Load is the workload of every run; Clients, Rate, Nodes and Fsync
	// are set per run from the fields above.
	Load bench.RunConfig
	// DataDir is the parent of each run's fresh data directory ("" = the
	// system temp dir). It decides which disk the fsyncs hit.
	DataDir string
	// DiskFloor, when fsync is on, measures for this long (per client
	// count, kind and way of writing a log: floorWays) before the runs and
	// again after them what the disk
	// alone allows the clients' writes (bench.MeasureQuorumFloor, in
	// DataDir), the ceiling of the usual design's figures. 0 skips it.
	DiskFloor time.Duration
	// FloorEachPass, with DiskFloor, also measures the every-replica floor
	// (both ways of writing a log) at each client count right before each
	// repeat's runs at that count (FloorSample.When FloorPass, Repeat
	// set). A disk whose speed drifts between the runs (this project's
	// alternates between two speeds within minutes) is then rated in the
	// same minute as the runs it is set against: Row.OfPassCeiling. Adds
	// 2 × DiskFloor per repeat and client count.
	FloorEachPass bool
	Out           string
	// NoCheck turns off the correctness gate's history: runs are not
	// checked, so every row is "unchecked" and none is ranked.
	NoCheck bool
	// History bounds each run's sampled history (nil = bench's defaults).
	History *bench.HistoryConfig
	// CheckTimeout bounds the check of one key (0 = DefaultCheckTimeout).
	CheckTimeout time.Duration
	// Log receives one line per finished run (nil = discard).
	Log     io.Writer
	Logger  *slog.Logger
	Command string // recorded in compare.json and compare.md

	// Open and Drive default to bench.Lookup(...)(ctx, cfg) and bench.Run;
	// tests replace them.
	Open  func(ctx context.Context, system string, cfg bench.TargetConfig) (bench.Target, error)
	Drive func(ctx context.Context, cfg bench.RunConfig, t bench.Target, sink bench.ProgressSink) (*bench.Summary, error)
}

// NoFsyncSuffix marks a system that runs with fsync off while the others
// keep the comparison's setting, e.g. "etcd:nofsync": it answers "does our
// engine with fsync on beat the peers with fsync off?" within one run.
const NoFsyncSuffix = ":nofsync"

// transportSystems are our engine over another transport than the
// in-memory network: "raftbench:tcp" and "raftbench:nats" run the inproc
// target with that transport option, so the cost of the network (or of
// the bus) shows beside "raftbench".
var transportSystems = map[string]string{"raftbench:tcp": "tcp", "raftbench:nats": "nats"}

// ParseSystem splits a system name into its registered target and the
// target options the name sets. A name is a target ("raftbench" for our
// engine's inproc target), one of the transport systems above, or a
// target followed by key=value target options, each after a colon, e.g.
// "floor:stores=3" (the floor target keeping a copy of the state per
// node, as every cluster in one process does) or
// "raftbench:wal-commit-delay=100us:lazy-commit=false": one comparison then
// runs settings side by side, interleaved in the same minutes. Any of
// them may end in NoFsyncSuffix. The target itself checks the keys and
// values when it opens; ParseSystem only the form.
func ParseSystem(system string) (target string, opts map[string]string, err error) {
	base := strings.TrimSuffix(system, NoFsyncSuffix)
	if tr := transportSystems[base]; tr != "" {
		return "inproc", map[string]string{"transport": tr}, nil
	}
	name, list, hasOpts := strings.Cut(base, ":")
	if name == "" {
		return "", nil, fmt.Errorf("compare: system %q names no target", system)
	}
	target = name
	if name == "raftbench" {
		target = "inproc"
	}
	if !hasOpts {
		return target, nil, nil
	}
	opts = map[string]string{}
	for kv := range strings.SplitSeq(list, ":") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return "", nil, fmt.Errorf("compare: system %q: after the target, want target options key=value, each after a colon "+
				"(e.g. floor:stores=3), and %q is not one (the other names with a colon: raftbench:tcp, raftbench:nats, and the suffix %q)",
				system, kv, NoFsyncSuffix)
		}
		if _, dup := opts[k]; dup {
			return "", nil, fmt.Errorf("compare: system %q sets option %q twice", system, k)
		}
		opts[k] = v
	}
	return target, opts, nil
}

// TargetName maps a system name to its registered target ("" for a
// name ParseSystem refuses).
func TargetName(system string) string {
	t, _, _ := ParseSystem(system)
	return t
}

// TargetOptions are the target options a system name sets (nil for
// most).
func TargetOptions(system string) map[string]string {
	_, opts, _ := ParseSystem(system)
	return opts
}

// systemOptions are the target options system runs with under cfg: the
// ones its name implies, and the modelled disk's when it fsyncs on one.
func (c *Config) systemOptions(system string) map[string]string {
	opts := TargetOptions(system)
	if c.ModelFsync > 0 && SystemFsync(system, c.Fsync) {
		if opts == nil {
			opts = map[string]string{}
		}
		opts[bench.ModelFsyncOption] = c.ModelFsync.String()
	}
	return opts
}

// SystemFsync says whether system runs with fsync on under a comparison
// whose setting is fsync.
func SystemFsync(system string, fsync bool) bool {
	return fsync && !strings.HasSuffix(system, NoFsyncSuffix)
}

// Slot is one scheduled run.
type Slot struct {
	Repeat  int // 1-based
	Clients int
	System  string
}

// Schedule interleaves the runs: per repeat, per client count, every
// system once, starting with a system that rotates with the repeat.
func Schedule(systems []string, clients []int, repeat int) []Slot {
	var out []Slot
	for r := 0; r < repeat; r++ {
		for _, c := range clients {
			for k := range systems {
				out = append(out, Slot{Repeat: r + 1, Clients: c, System: systems[(k+r)%len(systems)]})
			}
		}
	}
	return out
}

// Validate reports the first bad setting.
func (c *Config) Validate() error {
	if len(c.Systems) == 0 || len(c.Systems) > MaxSystems {
		return fmt.Errorf("compare: need 1..%d systems, got %d", MaxSystems, len(c.Systems))
	}
	seen := map[string]bool{}
	for _, s := range c.Systems {
		if seen[s] {
			return fmt.Errorf("compare: system %q listed twice", s)
		}
		seen[s] = true
		if _, _, err := ParseSystem(s); err != nil {
			return err
		}
	}
	if len(c.Clients) == 0 || len(c.Clients) > MaxClients {
		return fmt.Errorf("compare: need 1..%d client counts, got %d", MaxClients, len(c.Clients))
	}
	for _, n := range c.Clients {
		if n < 1 || n > bench.MaxClients {
			return fmt.Errorf("compare: client count %d out of 1..%d", n, bench.MaxClients)
		}
	}
	if c.Repeat < 1 || c.Repeat > MaxRepeat {
		return fmt.Errorf("compare: repeat %d out of 1..%d", c.Repeat, MaxRepeat)
	}
	if c.Out == "" {
		return errors.New("compare: no output directory")
	}
	if c.ModelFsync < 0 || c.ModelFsync > time.Second {
		return fmt.Errorf("compare: modelled fsync %v out of 0..1s", c.ModelFsync)
	}
	if c.ModelFsync > 0 && !c.Fsync {
		return errors.New("compare: a modelled fsync needs fsync on (it replaces each fsync by a wait)")
	}
	if c.DiskFloor < 0 || c.DiskFloor > time.Minute {
		return fmt.Errorf("compare: disk floor duration %v out of 0..1m", c.DiskFloor)
	}
	probe := c.Load
	probe.Clients, probe.Rate, probe.Nodes, probe.Fsync = c.Clients[0], 0, c.Nodes, c.Fsync
	if c.History != nil {
		probe.History = c.History
	}
	if c.CheckTimeout < 0 {
		return fmt.Errorf("compare: check timeout %v must not be negative", c.CheckTimeout)
	}
	return probe.Validate()
}

// Run executes the whole comparison and writes its outputs. When a run
// fails, the runs finished so far are still written and the error names
// the failed run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if err := openWithOptions(ctx, &cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, "runs"), 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	res := newResult(&cfg)
	if err := measureFloor(ctx, &cfg, res, "before"); err != nil {
		return nil, err
	}
	slots := Schedule(cfg.Systems, cfg.Clients, cfg.Repeat)
	var runErr error
	for i, s := range slots {
		if cfg.FloorEachPass && cfg.FloorSamples() > 0 && (i == 0 || slots[i-1].Repeat != s.Repeat || slots[i-1].Clients != s.Clients) {
			if runErr = measureFloorAt(ctx, &cfg, res, FloorPass, s.Repeat, s.Clients, []bool{true}); runErr != nil {
				break
			}
		}
		r, sum, err := runOne(ctx, &cfg, s, i+1)
		if err != nil {
			runErr = fmt.Errorf("compare: run %d/%d (%s, %d clients, repeat %d): %w",
				i+1, len(slots), s.System, s.Clients, s.Repeat, err)
			break
		}
		r.Order = i + 1
		res.Runs = append(res.Runs, r)
		if err := writeJSON(filepath.Join(cfg.Out, "runs", r.fileName()), sum); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Log, "[%d/%d] %s\n", i+1, len(slots), r.line())
	}
	if runErr == nil {
		runErr = measureFloor(ctx, &cfg, res, "after")
	}
	res.aggregate(cfg.Systems, cfg.Clients)
	if err := res.write(cfg.Out); err != nil {
		return nil, errors.Join(runErr, err)
	}
	return res, runErr
}

// floorRecordBytes approximates one write's log record: the value, a
// 16-byte key, and command, session and framing headers.
func floorRecordBytes(valueBytes int) int { return valueBytes + 48 }

// measureFloor adds the disk floor samples (at every client count, a
// quorum of logs writing and then every replica's, each both ways of
// writing a log: floorWays) to res when fsync is on and cfg.DiskFloor asks
// for them.
func measureFloor(ctx context.Context, cfg *Config, res *Result, when string) error {
	if cfg.FloorSamples() == 0 {
		return nil
	}
	for _, c := range cfg.Clients {
		if err := measureFloorAt(ctx, cfg, res, when, 0, c, cfg.floorKinds()); err != nil {
			return err
		}
	}
	return nil
}

// FloorPass is FloorSample.When for a floor measured right before one
// repeat's runs at one client count (Config.FloorEachPass).
const FloorPass = "pass"

// measureFloorAt measures the floor kinds (every replica's logs writing,
// or a quorum's) at one client count, both ways of writing a log, and
// adds the samples to res; repeat is set for a FloorPass sample.
func measureFloorAt(ctx context.Context, cfg *Config, res *Result, when string, repeat, clients int, kinds []bool) error {
	dir := cfg.DataDir
	if dir == "" {
		dir = os.TempDir()
	}
	for _, every := range kinds {
		for _, overwrite := range floorWays {
			f, err := bench.MeasureQuorumFloor(ctx, dir, bench.FloorConfig{
				Nodes: cfg.Nodes, RecordBytes: floorRecordBytes(cfg.Load.ValueBytes), Writers: clients,
				EveryReplica: every, Overwrite: overwrite, Duration: cfg.DiskFloor,
			})
			where := when + " the runs"
			if when == FloorPass {
				where = fmt.Sprintf("before repeat %d's runs", repeat)
			}
			if err != nil {
				return fmt.Errorf("compare: disk floor %s: %w", where, err)
			}
			res.DiskFloor = append(res.DiskFloor, FloorSample{When: when, Repeat: repeat, DiskFloor: *f})
			fmt.Fprintf(cfg.Log, "disk floor (%s, %d clients, %d of %d logs writing, %s): %.0f writes/s, %.0f µs mean\n",
				where, clients, f.Files, f.Nodes, bench.FloorWay(overwrite), f.WritesPerSec, f.MeanUs)
		}
	}
	return nil
}

// floorWays are the two ways a log can be written that the floor
// measures: appended and fsynced (a log whose file grows, as
// hashicorp/raft's stores and our WAL with AppendSegments), then
// overwriting a preallocated file of zeros with fdatasync (no size or
// block map change per write, so no journal commit per flush on ext4: our
// WAL's default, and etcd's). Which is faster depends on the disk and the
// number of writers, so every figure rated against the floor takes the
// better of the two: the ceiling is what the disk allows whichever way a
// system writes its log, not what the way we chose allows.
var floorWays = []bool{false, true}

// floorKinds lists the disk floor kinds measured per client count: only
// the quorum's logs writing, then every replica's (when that differs).
func (c *Config) floorKinds() []bool {
	if c.Nodes/2+1 < c.Nodes {
		return []bool{false, true}
	}
	return []bool{false}
}

// FloorSamples is how many disk floor measurements Run makes, each
// DiskFloor long (0 with fsync off, on a modelled disk or with DiskFloor
// 0).
func (c *Config) FloorSamples() int {
	if !c.Fsync || c.ModelFsync > 0 || c.DiskFloor <= 0 {
		return 0
	}
	n := 2 * len(c.Clients) * len(c.floorKinds()) * len(floorWays) // before and after the runs
	if c.FloorEachPass {
		n += c.Repeat * len(c.Clients) * len(floorWays) // every replica's logs, before each pass at each count
	}
	return n
}

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Open == nil {
		c.Open = func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			f, err := bench.Lookup(TargetName(system))
			if err != nil {
				return nil, err
			}
			return f(ctx, tc)
		}
	}
	if c.Drive == nil {
		c.Drive = bench.Run
	}
}

// openWithOptions opens and closes, before anything is measured, each
// system whose name sets target options (ParseSystem), so a key or value
// its target refuses fails the comparison in seconds, not at that
// system's first run after minutes of measuring.
func openWithOptions(ctx context.Context, cfg *Config) error {
	for _, system := range cfg.Systems {
		if base := strings.TrimSuffix(system, NoFsyncSuffix); transportSystems[base] != "" || !strings.Contains(base, ":") {
			continue
		}
		t, dir, err := openSystem(ctx, cfg, system)
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		cerr := t.Close()
		os.RemoveAll(dir)
		if cerr != nil {
			return fmt.Errorf("compare: close %s after checking its options: %w", system, cerr)
		}
	}
	return nil
}

// openSystem opens system on a fresh cluster in a fresh directory under
// cfg.DataDir, which the caller removes after closing the target.
func openSystem(ctx context.Context, cfg *Config, system string) (bench.Target, string, error) {
	dir, err := os.MkdirTemp(cfg.DataDir, "compare-"+strings.ReplaceAll(system, ":", "-")+"-")
	if err != nil {
		return nil, "", err
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t, err := cfg.Open(octx, system, bench.TargetConfig{
		Nodes: cfg.Nodes, Dir: dir, Fsync: SystemFsync(system, cfg.Fsync), ValueBytes: cfg.Load.ValueBytes, Logger: cfg.Logger,
		Options: cfg.systemOptions(system),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("start %s: %w", system, err)
	}
	return t, dir, nil
}

// runOne runs one slot on a fresh cluster in a fresh directory.
func runOne(ctx context.Context, cfg *Config, s Slot, order int) (RunRecord, *bench.Summary, error) {
	t, dir, err := openSystem(ctx, cfg, s.System)
	if err != nil {
		return RunRecord{}, nil, err
	}
	defer os.RemoveAll(dir)
	rc := cfg.Load
	rc.Clients, rc.Rate, rc.Nodes, rc.Fsync = s.Clients, 0, cfg.Nodes, SystemFsync(s.System, cfg.Fsync)
	rc.History = nil
	if !cfg.NoCheck {
		rc.History = &bench.HistoryConfig{}
		if cfg.History != nil {
			rc.History = cfg.History
		}
	}
	var contract *bench.Contract
	if ct, ok := t.(bench.ContractTarget); ok {
		c := ct.Contract()
		contract = &c
	}
	sink, err := newCPUSink()
	if err != nil {
		t.Close()
		return RunRecord{}, nil, err
	}
	sum, err := cfg.Drive(ctx, rc, t, sink)
	end, cpuErr := sink.sample(false)
	closeErr := t.Close()
	if err = errors.Join(err, cpuErr); err != nil {
		return RunRecord{}, nil, err
	}
	if closeErr != nil {
		return RunRecord{}, nil, fmt.Errorf("close %s: %w", s.System, closeErr)
	}
	sum.Target = s.System
	bench.FillEnvironment(sum, nil)
	sum.Command = cfg.Command
	r := newRunRecord(s, sum)
	r.Contract = contract
	r.CPUCores, r.CPUWindow = sink.cores(end)
	if r.CPUCores > 0 {
		r.OpsPerCPUSec = r.ThroughputOps / r.CPUCores
	}
	if !cfg.NoCheck {
		timeout := cfg.CheckTimeout
		if timeout == 0 {
			timeout = DefaultCheckTimeout
		}
		r.Check = checkRun(sum, timeout, cfg.Out, strings.TrimSuffix(r.fileNameFor(order), ".json"))
	}
	return r, sum, nil
}

// cpuSink samples process CPU time at every progress tick of the driver.
type cpuSink struct {
	start   cpuSample
	samples []cpuSample // written only by the driver's progress goroutine
}

func newCPUSink() (*cpuSink, error) {
	s := &cpuSink{}
	var err error
	s.start, err = s.sample(true)
	return s, err
}

func (s *cpuSink) sample(warmup bool) (cpuSample, error) {
	c, err := processCPU()
	return cpuSample{wall: time.Now(), cpu: c, warmup: warmup}, err
}

// Progress implements bench.ProgressSink.
func (s *cpuSink) Progress(st bench.IntervalStats) {
	if smp, err := s.sample(st.Warmup); err == nil {
		s.samples = append(s.samples, smp)
	}
}

// cores returns CPU cores used over the measured window (last warm-up
// tick to last measured tick), or over the whole run when there are too
// few ticks, and which window it used.
func (s *cpuSink) cores(end cpuSample) (float64, string) {
	from, to, measured := s.start, cpuSample{}, 0
	for _, smp := range s.samples {
		if smp.warmup {
			from = smp
		} else {
			to = smp
			measured++
		}
	}
	if measured >= 1 && to.wall.Sub(from.wall) >= 500*time.Millisecond {
		return cores(from, to), "measured"
	}
	return cores(s.start, end), "whole run"
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("compare: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}
