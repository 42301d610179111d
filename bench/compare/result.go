package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/raftbench/raftbench/bench"
)

// FloorSample is one disk floor measurement; When is "before" or
// "after" the runs, or FloorPass: right before repeat Repeat's runs at
// its client count (Config.FloorEachPass).
type FloorSample struct {
	When   string `json:"when"`
	Repeat int    `json:"repeat,omitempty"`
	bench.DiskFloor
}

// RunRecord is one run's figures.
type RunRecord struct {
	Order         int           `json:"order"` // 1-based position in the schedule
	Repeat        int           `json:"repeat"`
	System        string        `json:"system"`
	Target        string        `json:"target"`
	Clients       int           `json:"clients"`
	Fsync         bool          `json:"fsync"`
	Ops           uint64        `json:"ops"`
	Errors        uint64        `json:"errors"`
	ThroughputOps float64       `json:"throughput_ops"`
	LatencyMs     bench.Latency `json:"latency_ms"`
	// LatencyByOpMs is LatencyMs for each kind of operation of the mix
	// (bench.Summary.LatencyByOpMs).
	LatencyByOpMs map[string]bench.Latency `json:"latency_ms_by_op,omitempty"`
	CPUCores      float64                  `json:"cpu_cores"`
	// CPUWindow is "measured" (warm-up excluded) or "whole run".
	CPUWindow    string  `json:"cpu_window"`
	OpsPerCPUSec float64 `json:"ops_per_cpu_s"`
	// CPUUsPerOp is the run's CPU per operation, the process's code
	// against the kernel's work (bench.Summary.CPUUsPerOp).
	CPUUsPerOp *bench.CPUPerOp `json:"cpu_us_per_op,omitempty"`
	// GC is the run's heap bytes per operation and collections
	// (bench.Summary.GC): a system that allocates more per operation
	// collects more often, and every collection's mark lands on whichever
	// goroutines allocate while it runs.
	GC               *bench.GCSummary `json:"gc,omitempty"`
	LeaderChanges    uint64           `json:"leader_changes"`
	FsyncsPerSec     *float64         `json:"fsyncs_per_s,omitempty"`
	EntriesPerFsync  *float64         `json:"entries_per_fsync,omitempty"`
	EntriesPerAppend *float64         `json:"entries_per_append,omitempty"`
	// LogCycleUs is one group commit's cycle (bench.Summary.LogCycleUs;
	// nil where the system does not report it).
	LogCycleUs *bench.LogCycleUs `json:"log_cycle_us,omitempty"`
	// Snapshots the nodes took in the measured window (nil: the system
	// does not count them).
	Snapshots *uint64 `json:"snapshots,omitempty"`
	// Contract is what the system states it promises (nil: unstated).
	Contract *bench.Contract `json:"contract,omitempty"`
	// Check is the linearizability check of the run's sampled keys (nil:
	// not checked).
	Check *RunCheck `json:"check,omitempty"`
}

func newRunRecord(s Slot, sum *bench.Summary) RunRecord {
	return RunRecord{
		Repeat: s.Repeat, System: s.System, Target: TargetName(s.System), Clients: s.Clients,
		Fsync: sum.Fsync, Ops: sum.Ops, Errors: sum.Errors, ThroughputOps: sum.ThroughputOps,
		LatencyMs: sum.LatencyMs, LatencyByOpMs: sum.LatencyByOpMs, LeaderChanges: sum.LeaderChanges, FsyncsPerSec: sum.FsyncsPerSec,
		EntriesPerFsync: sum.EntriesPerFsync, EntriesPerAppend: sum.EntriesPerAppend, Snapshots: sum.Snapshots,
		LogCycleUs: sum.LogCycleUs, CPUUsPerOp: sum.CPUUsPerOp, GC: sum.GC,
	}
}

func (r *RunRecord) fileName() string { return r.fileNameFor(r.Order) }

func (r *RunRecord) fileNameFor(order int) string {
	return fmt.Sprintf("%03d-%s-c%d-r%d.json", order, strings.ReplaceAll(r.System, ":", "-"), r.Clients, r.Repeat)
}

func (r *RunRecord) line() string {
	lin := "unchecked"
	if r.Check != nil {
		lin = fmt.Sprintf("%s (%d ops on %d keys)", r.Check.Verdict, r.Check.Ops, r.Check.Keys)
	}
	return fmt.Sprintf("%-16s clients=%-4d repeat=%d  %9.0f ops/s  p50 %7.3f ms  p99 %8.3f ms  %.2f cores  %6.0f ops/CPU-s  errors %d  %s",
		r.System, r.Clients, r.Repeat, r.ThroughputOps, r.LatencyMs.P50, r.LatencyMs.P99, r.CPUCores, r.OpsPerCPUSec, r.Errors, lin)
}

// Row aggregates one system at one client count over its repeats:
// medians, plus the minimum throughput.
type Row struct {
	System          string   `json:"system"`
	Clients         int      `json:"clients"`
	Runs            int      `json:"runs"`
	OpsMedian       float64  `json:"ops_median"`
	OpsMin          float64  `json:"ops_min"`
	P50Ms           float64  `json:"p50_ms"`
	P99Ms           float64  `json:"p99_ms"`
	P999Ms          float64  `json:"p999_ms"`
	CPUCores        float64  `json:"cpu_cores"`
	OpsPerCPUSec    float64  `json:"ops_per_cpu_s"`
	EntriesPerFsync *float64 `json:"entries_per_fsync,omitempty"`
	// LogCycleUs is each part of a group commit's cycle, the median over
	// the runs that report it (nil: none does).
	LogCycleUs *bench.LogCycleUs `json:"log_cycle_us,omitempty"`
	// CPUUsPerOp is the CPU per operation in the process's code and in
	// the kernel, each the median over the runs that measured it;
	// FsyncsPerOp the median of the runs' fsyncs per operation (nil:
	// not measured or not counted).
	CPUUsPerOp  *bench.CPUPerOp `json:"cpu_us_per_op,omitempty"`
	FsyncsPerOp *float64        `json:"fsyncs_per_op,omitempty"`
	// AllocBytesPerOp and GCsPerSec are the medians of the runs' heap
	// bytes allocated per operation and collections per second (nil: not
	// measured).
	AllocBytesPerOp *float64 `json:"alloc_bytes_per_op,omitempty"`
	GCsPerSec       *float64 `json:"gcs_per_s,omitempty"`
	// Snapshots is the median over the runs of the snapshots the
	// system's nodes took in the measured window (nil: not counted).
	Snapshots *float64 `json:"snapshots,omitempty"`
	// ByOp is P50Ms/P99Ms/P999Ms for each kind of operation of the mix
	// (medians over the runs that had it): reads and writes wait for
	// different things, so a mix's percentiles alone do not say which.
	ByOp   map[string]OpLatency `json:"by_op,omitempty"`
	Errors uint64               `json:"errors"`
	// VsBestOther is OpsMedian over the best other ranked system's
	// OpsMedian at the same client count (0 when there is none, and for
	// every row that is not ranked: see Gate).
	VsBestOther float64 `json:"vs_best_other"`
	// Contract is the system's contract class (bench.Contract.Class).
	Contract string `json:"contract"`
	// Linearizable is the worst check verdict over the row's runs;
	// CheckedOps the operations checked in all of them.
	Linearizable string `json:"linearizable"`
	CheckedOps   int    `json:"checked_ops"`
	// Gate says why the row is not ranked: GateNotLinearizable,
	// GateUnchecked, GateContract (its class is not the reference), or
	// GateUnstated; "" for a ranked row. Unranked rows get no ratio and
	// are listed after the ranked ones.
	Gate string `json:"gate,omitempty"`
	// OfPassCeiling, with floors measured before each pass
	// (Config.FloorEachPass) and fsync on, is the median over the row's
	// runs of the run's ops/s over its own pass's every-replica ceiling:
	// a same-minute ratio, where "of ceiling" sets the median against the
	// best sample before or after all the runs. 0 when not measured.
	OfPassCeiling float64 `json:"of_pass_ceiling,omitempty"`
}

// OpLatency is one kind of operation's latency in a Row, in ms.
type OpLatency struct {
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
}

// Result is compare.json.
type Result struct {
	Systems []string `json:"systems"`
	Targets []string `json:"targets"`
	Clients []int    `json:"clients"`
	Repeat  int      `json:"repeat"`
	Nodes   int      `json:"nodes"`
	Fsync   bool     `json:"fsync"` // the same for every system
	// ModelFsync is Config.ModelFsync ("" for a real disk): every system
	// that fsyncs did so on a modelled disk, each fsync a wait this long.
	ModelFsync string `json:"model_fsync,omitempty"`
	ValueBytes int    `json:"value_bytes"`
	Keys       int    `json:"keys"`
	KeyDist    string `json:"key_dist"`
	Mix        string `json:"mix"`
	// Workload is the full load of every run (preset, mix, distribution,
	// theta, load phase); absent in comparisons saved before it existed.
	Workload  *bench.WorkloadInfo `json:"workload,omitempty"`
	Seed      uint64              `json:"seed"`
	WarmupS   float64             `json:"warmup_s"`
	DurationS float64             `json:"duration_s"`
	CPUs      int                 `json:"cpus"`
	GoVersion string              `json:"go_version"`
	Date      string              `json:"date"`
	Command   string              `json:"command"`
	// Environment: CPU model, kernel, file system and disk of DataDir.
	Environment *bench.Environment `json:"environment,omitempty"`

	// DiskFloor: what the disk alone allows the clients' writes, measured
	// before and after the runs, and with Config.FloorEachPass before each
	// pass's runs at each client count (fsync on only; see
	// Config.DiskFloor).
	DiskFloor []FloorSample `json:"disk_floor,omitempty"`

	Runs []RunRecord `json:"runs"` // in schedule order
	Rows []Row       `json:"rows"` // ranked rows first, then the others; each by system, then client count
	// ReferenceContract is the contract class rows are ranked under: the
	// one most systems state (ties to the stronger).
	ReferenceContract string `json:"reference_contract"`
}

func newResult(cfg *Config) *Result {
	r := &Result{
		Systems: cfg.Systems, Clients: cfg.Clients, Repeat: cfg.Repeat, Nodes: cfg.Nodes,
		Fsync: cfg.Fsync, ValueBytes: cfg.Load.ValueBytes, Keys: cfg.Load.Keys,
		KeyDist: cfg.Load.KeyDist, Mix: cfg.Load.Mix.String(), Seed: cfg.Load.Seed,
		WarmupS: cfg.Load.Warmup.Seconds(), DurationS: cfg.Load.Duration.Seconds(),
		Workload: ptrTo(cfg.Load.Info()), Environment: ptrTo(bench.DescribeEnvironment(cfg.DataDir)),
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Date: time.Now().UTC().Format(time.RFC3339), Command: cfg.Command,
	}
	if cfg.ModelFsync > 0 {
		r.ModelFsync = cfg.ModelFsync.String()
	}
	for _, s := range cfg.Systems {
		r.Targets = append(r.Targets, TargetName(s))
	}
	return r
}

// aggregate fills Rows from Runs, in system order then client order.
func (r *Result) aggregate(systems []string, clients []int) {
	r.Rows = nil
	for _, s := range systems {
		for _, c := range clients {
			var runs []RunRecord
			for _, rr := range r.Runs {
				if rr.System == s && rr.Clients == c {
					runs = append(runs, rr)
				}
			}
			if len(runs) > 0 {
				row := makeRow(s, c, runs)
				row.OfPassCeiling = r.ofPassCeiling(s, c, runs)
				r.Rows = append(r.Rows, row)
			}
		}
	}
	r.gateRows()
	for i := range r.Rows {
		if r.Rows[i].Gate != "" {
			continue
		}
		best := 0.0
		for j, o := range r.Rows {
			if j != i && o.Gate == "" && o.Clients == r.Rows[i].Clients && o.OpsMedian > best {
				best = o.OpsMedian
			}
		}
		if best > 0 {
			r.Rows[i].VsBestOther = r.Rows[i].OpsMedian / best
		}
	}
	// Never listed above the others: unranked rows go last.
	slices.SortStableFunc(r.Rows, func(a, b Row) int {
		switch {
		case a.Gate == "" && b.Gate != "":
			return -1
		case a.Gate != "" && b.Gate == "":
			return 1
		}
		return 0
	})
}

func makeRow(system string, clients int, runs []RunRecord) Row {
	pick := func(f func(RunRecord) float64) []float64 {
		v := make([]float64, len(runs))
		for i, rr := range runs {
			v[i] = f(rr)
		}
		return v
	}
	ops := pick(func(rr RunRecord) float64 { return rr.ThroughputOps })
	row := Row{
		System: system, Clients: clients, Runs: len(runs),
		OpsMedian:    median(ops),
		OpsMin:       slices.Min(ops),
		P50Ms:        median(pick(func(rr RunRecord) float64 { return rr.LatencyMs.P50 })),
		P99Ms:        median(pick(func(rr RunRecord) float64 { return rr.LatencyMs.P99 })),
		P999Ms:       median(pick(func(rr RunRecord) float64 { return rr.LatencyMs.P999 })),
		CPUCores:     median(pick(func(rr RunRecord) float64 { return rr.CPUCores })),
		OpsPerCPUSec: median(pick(func(rr RunRecord) float64 { return rr.OpsPerCPUSec })),
	}
	var epf, snaps, cpuUser, cpuKernel, fpo, allocs, gcs []float64
	var cycles []bench.LogCycleUs
	for _, rr := range runs {
		row.Errors += rr.Errors
		if c := rr.CPUUsPerOp; c != nil {
			cpuUser, cpuKernel = append(cpuUser, c.User), append(cpuKernel, c.Kernel)
		}
		if g := rr.GC; g != nil {
			allocs, gcs = append(allocs, g.AllocBytesPerOp), append(gcs, g.CyclesPerSec)
		}
		if rr.FsyncsPerSec != nil && rr.ThroughputOps > 0 {
			fpo = append(fpo, *rr.FsyncsPerSec/rr.ThroughputOps)
		}
		if rr.EntriesPerFsync != nil {
			epf = append(epf, *rr.EntriesPerFsync)
		}
		if rr.LogCycleUs != nil {
			cycles = append(cycles, *rr.LogCycleUs)
		}
		if rr.Snapshots != nil {
			snaps = append(snaps, float64(*rr.Snapshots))
		}
	}
	if len(epf) > 0 {
		m := median(epf)
		row.EntriesPerFsync = &m
	}
	if len(snaps) > 0 {
		m := median(snaps)
		row.Snapshots = &m
	}
	if len(cpuUser) > 0 {
		row.CPUUsPerOp = &bench.CPUPerOp{User: median(cpuUser), Kernel: median(cpuKernel)}
	}
	if len(fpo) > 0 {
		m := median(fpo)
		row.FsyncsPerOp = &m
	}
	if len(allocs) > 0 {
		a, g := median(allocs), median(gcs)
		row.AllocBytesPerOp, row.GCsPerSec = &a, &g
	}
	if len(cycles) > 0 {
		part := func(f func(bench.LogCycleUs) float64) float64 {
			v := make([]float64, len(cycles))
			for i, c := range cycles {
				v[i] = f(c)
			}
			return median(v)
		}
		row.LogCycleUs = &bench.LogCycleUs{
			Idle:   part(func(c bench.LogCycleUs) float64 { return c.Idle }),
			Linger: part(func(c bench.LogCycleUs) float64 { return c.Linger }),
			Write:  part(func(c bench.LogCycleUs) float64 { return c.Write }),
			Fsync:  part(func(c bench.LogCycleUs) float64 { return c.Fsync }),
		}
	}
	for _, op := range bench.OpNames() {
		var p50, p99, p999 []float64
		for _, rr := range runs {
			if l, ok := rr.LatencyByOpMs[op]; ok {
				p50, p99, p999 = append(p50, l.P50), append(p99, l.P99), append(p999, l.P999)
			}
		}
		if len(p50) > 0 {
			if row.ByOp == nil {
				row.ByOp = map[string]OpLatency{}
			}
			row.ByOp[op] = OpLatency{P50Ms: median(p50), P99Ms: median(p99), P999Ms: median(p999)}
		}
	}
	return row
}

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// write puts compare.json, compare.md and the plots in dir.
func (r *Result) write(dir string) error {
	if err := writeJSON(filepath.Join(dir, "compare.json"), r); err != nil {
		return err
	}
	if err := writeMarkdown(filepath.Join(dir, "compare.md"), r); err != nil {
		return err
	}
	return writePlots(dir, r)
}

// hasNoFsyncSystem reports whether some system ran with fsync off while
// the comparison's setting was on.
func (r *Result) hasNoFsyncSystem() bool {
	for _, s := range r.Systems {
		if strings.HasSuffix(s, NoFsyncSuffix) {
			return true
		}
	}
	return false
}

// Redraw re-aggregates a saved comparison's runs (compare.json in dir)
// and rewrites compare.json, compare.md and the plots, so a change in how
// results are summarised never requires measuring again.
func Redraw(dir string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, "compare.json"))
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("compare: %s: %w", filepath.Join(dir, "compare.json"), err)
	}
	if len(r.Systems) == 0 || len(r.Clients) == 0 {
		return nil, fmt.Errorf("compare: %s names no systems or client counts", filepath.Join(dir, "compare.json"))
	}
	r.aggregate(r.Systems, r.Clients)
	return &r, r.write(dir)
}

// floorCeiling is the most ops/s the disk allows clients on this mix:
// the best sample's writes/s with files logs writing, whichever way its
// logs were written and whether before or after the runs, divided by the
// mix's write+cas share (reads counted as free). 0 when not measured.
// The samples of each pass (FloorPass) are not among them: they rate
// their own pass's runs (passCeiling).
func (r *Result) floorCeiling(clients, files int) float64 {
	return r.floorCeilingOf(clients, files, func(FloorSample) bool { return true })
}

// floorCeilingOf is floorCeiling over the samples keep accepts.
func (r *Result) floorCeilingOf(clients, files int, keep func(FloorSample) bool) float64 {
	return r.ceilingOf(clients, files, func(f FloorSample) bool { return f.When != FloorPass && keep(f) })
}

// passCeiling is floorCeiling from the samples measured right before
// repeat's runs at clients (Config.FloorEachPass); 0 when there are none.
func (r *Result) passCeiling(clients, files, repeat int) float64 {
	return r.ceilingOf(clients, files, func(f FloorSample) bool { return f.When == FloorPass && f.Repeat == repeat })
}

func (r *Result) ceilingOf(clients, files int, keep func(FloorSample) bool) float64 {
	share := r.writeShare()
	best := 0.0
	for _, f := range r.DiskFloor {
		if f.Writers == clients && f.Files == files && keep(f) {
			best = max(best, f.WritesPerSec)
		}
	}
	if share <= 0 {
		return 0
	}
	return best / share
}

// hasPassFloors says whether floors were measured before each pass.
func (r *Result) hasPassFloors() bool {
	for _, f := range r.DiskFloor {
		if f.When == FloorPass {
			return true
		}
	}
	return false
}

// ofPassCeiling is Row.OfPassCeiling for system's runs at clients.
func (r *Result) ofPassCeiling(system string, clients int, runs []RunRecord) float64 {
	if len(r.DiskFloor) == 0 || !SystemFsync(system, r.Fsync) {
		return 0
	}
	var xs []float64
	for _, rr := range runs {
		if c := r.passCeiling(clients, r.DiskFloor[0].Nodes, rr.Repeat); c > 0 {
			xs = append(xs, rr.ThroughputOps/c)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}

// writeShare is the fraction of operations that append to the log
// (writes and cas), 0 if the mix does not parse.
func (r *Result) writeShare() float64 {
	m, err := bench.ParseMix(r.Mix)
	if err != nil {
		return 0
	}
	return m.WriteShare()
}

func ptrTo[T any](v T) *T { return &v }
