package bench

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/wal"
)

// Latency is a latency distribution's landmarks in milliseconds.
type Latency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Results counts state-machine answers; none of them is an error.
type Results struct {
	OK       uint64 `json:"ok"`
	NotFound uint64 `json:"not_found"`
	Mismatch uint64 `json:"mismatch"`
}

// Summary is one run's measured window (warm-up excluded); it is
// summary.json. Latencies count only operations that got an answer;
// errors are counted apart by kind.
type Summary struct {
	Target string `json:"target"`
	Nodes  int    `json:"nodes"`
	// Mode is "closed" (Clients set) or "open" (Rate set).
	Mode       string  `json:"mode"`
	Clients    int     `json:"clients,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
	Workers    int     `json:"workers"`
	ValueBytes int     `json:"value_bytes"`
	KeyBytes   int     `json:"key_bytes"`
	Keys       int     `json:"keys"`
	KeyDist    string  `json:"key_dist"`
	Mix        string  `json:"mix"`
	// Workload is the full load: preset name, mix, distribution and
	// theta, keys, sizes, load phase, seed.
	Workload WorkloadInfo `json:"workload"`
	// PreloadS is how long the load phase took (Workload.Preload).
	PreloadS  float64 `json:"preload_s,omitempty"`
	Seed      uint64  `json:"seed"`
	WarmupS   float64 `json:"warmup_s"`
	DurationS float64 `json:"duration_s"`

	Ops           uint64            `json:"ops"`
	OpsByOp       map[string]uint64 `json:"ops_by_op"`
	Results       Results           `json:"results"`
	Errors        uint64            `json:"errors"`
	ErrorsByKind  map[string]uint64 `json:"errors_by_kind"`
	ThroughputOps float64           `json:"throughput_ops"`
	// LatencyMs is from intended send time in the open loop (corrected
	// for coordinated omission), from send time in the closed loop.
	LatencyMs Latency `json:"latency_ms"`
	// LatencyByOpMs is LatencyMs for each kind of operation in the mix
	// that got an answer ("write", "read", "cas", ...): a read waits for
	// a ReadIndex round, a write for a quorum's fsyncs. Absent from
	// merged summaries (`raftbench merge` works from the HDR logs, which
	// hold the whole run's histogram only).
	LatencyByOpMs map[string]Latency `json:"latency_ms_by_op,omitempty"`
	// ServiceLatencyMs (open loop only) is the raw time from actual send
	// to answer, which hides queueing behind a stall.
	ServiceLatencyMs *Latency `json:"service_latency_ms,omitempty"`
	// ScheduleLagMs (open loop only) is how late requests went out
	// against their schedule: the generator's own delay (all workers
	// busy, or the machine too loaded to wake the pacer on time).
	ScheduleLagMs *Latency `json:"schedule_lag_ms,omitempty"`
	LateSends     uint64   `json:"late_sends,omitempty"`
	MaxLateMs     float64  `json:"max_late_ms,omitempty"`

	Fsync bool `json:"fsync"`
	// Security is how the target's traffic was protected (targets with a
	// network; plain mode says so).
	Security         string   `json:"security,omitempty"`
	LeaderChanges    uint64   `json:"leader_changes"`
	FsyncsPerSec     *float64 `json:"fsyncs_per_s,omitempty"`
	EntriesPerFsync  *float64 `json:"entries_per_fsync,omitempty"`
	EntriesPerAppend *float64 `json:"entries_per_append,omitempty"`
	// LogCycleUs is one group commit's cycle in the measured window,
	// averaged over every log of the target (TargetStats.Log): nil where
	// the target does not report it or made no group commit.
	LogCycleUs *LogCycleUs `json:"log_cycle_us,omitempty"`
	// Snapshots is how many snapshots the target's nodes took during the
	// measured window (summed over the nodes; nil where the target does
	// not count them: TargetStats.SnapshotsCounted). Short runs at a
	// modest rate can end before a system's first snapshot while another
	// system writes several: compare their tails with this beside them.
	Snapshots *uint64 `json:"snapshots,omitempty"`
	// ProcessCPUCores is the CPU this process (load generator and, for
	// in-process targets, the whole cluster) used over the measured
	// window, in cores; OpsPerCPUSecond divides ops by that CPU time.
	// Processes of a tcp target are not included.
	ProcessCPUCores *float64 `json:"process_cpu_cores,omitempty"`
	OpsPerCPUSecond *float64 `json:"ops_per_cpu_second,omitempty"`
	// CPUUsPerOp is that CPU time per operation, split into the
	// process's own code and the kernel's work for it (CPUPerOp).
	CPUUsPerOp *CPUPerOp `json:"cpu_us_per_op,omitempty"`
	// GC is the heap bytes allocated per operation and the garbage
	// collections over the measured window, in the whole process (the
	// load generator included, as for the CPU figures).
	GC *GCSummary `json:"gc,omitempty"`

	GitCommit  string `json:"git_commit"`
	GoVersion  string `json:"go_version"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// WALFsyncOffload says whether this machine let the raftbench WAL
	// offload fsyncs to io_uring (wal/doc.go, "Fsync offload"); the
	// raftbench engine's figures from machines that differ here are not
	// comparable (the peers do not use it).
	WALFsyncOffload bool   `json:"wal_fsync_offload"`
	OS              string `json:"os"`
	Arch            string `json:"arch"`
	Date            string `json:"date"`
	Command         string `json:"command"`
	// LoadAvg is the machine's 1/5/15-minute load average when the run
	// ended (this run's own load included; absent where unknown). Figures
	// from a machine busy with other work are not comparable.
	LoadAvg []float64 `json:"load_avg,omitempty"`
	// PeakRSSBytes is the load generator process's peak resident set
	// (the in-process target's nodes included) when the run ended; 0
	// where unknown.
	PeakRSSBytes uint64 `json:"peak_rss_bytes,omitempty"`
	// StateBytes is the memory the target's state machines held at the
	// end of the load, summed over the nodes (targets that report it:
	// StateSizer); MemoryFloor, with `run --memory-floor`, what this
	// machine's memory costs a state of that size (MeasureMemoryFloor).
	StateBytes  uint64       `json:"state_bytes,omitempty"`
	MemoryFloor *MemoryFloor `json:"memory_floor,omitempty"`
	// SnapshotWindows (run --timeline, in-process targets): the run
	// inside and outside the windows in which a node wrote a snapshot.
	SnapshotWindows *SnapshotWindows `json:"snapshot_windows,omitempty"`
	// Environment: CPU model, kernel, file system and disk of the data
	// directory (set by the command that made the run).
	Environment *Environment `json:"environment,omitempty"`

	// Not in summary.json: the full histograms (written as
	// histogram.hlog and latency_percentiles.csv) and the per-second
	// series (timeseries.csv).
	Hist    *hdr.Histogram  `json:"-"`
	SvcHist *hdr.Histogram  `json:"-"`
	Series  []IntervalStats `json:"-"`
	// History is the sampled keys' history when RunConfig.History asked
	// for it (its counts are in summary.json, the operations are not).
	History *History `json:"history,omitempty"`

	// MergedFrom lists the generator runs this summary merged
	// (`raftbench merge`); empty for a single run.
	MergedFrom []MergedRun `json:"merged_from,omitempty"`
}

// MergedRun is one generator's run inside a merged summary.
type MergedRun struct {
	Dir           string  `json:"dir"`
	Seed          uint64  `json:"seed"`
	Clients       int     `json:"clients,omitempty"`
	Rate          float64 `json:"rate,omitempty"`
	Ops           uint64  `json:"ops"`
	ThroughputOps float64 `json:"throughput_ops"`
	Date          string  `json:"date"`
	GitCommit     string  `json:"git_commit"`
}

// Title names the configuration, for plots and tables.
func (s *Summary) Title() string {
	load := ""
	if s.Mode == "open" {
		load = FormatCount(s.Rate) + " ops/s offered"
	} else {
		load = FormatCount(float64(s.Clients)) + " clients"
		if s.Clients == 1 {
			load = "1 client"
		}
	}
	fs := "fsync on"
	if !s.Fsync {
		fs = "fsync off"
	}
	return strings.Join([]string{s.Target, itoa(s.Nodes) + " nodes", load, itoa(s.ValueBytes) + " B values", fs}, ", ")
}

// IntervalStats is one second of a run: progress lines and
// timeseries.csv. Latencies in milliseconds.
type IntervalStats struct {
	Second   int     `json:"second"`
	ElapsedS float64 `json:"elapsed_s"`
	TotalS   float64 `json:"total_s"`
	Warmup   bool    `json:"warmup"`
	// Drain: after the end, requests in flight finishing.
	Drain     bool    `json:"drain"`
	Ops       uint64  `json:"ops"`
	OpsPerSec float64 `json:"ops_per_s"`
	Errors    uint64  `json:"errors"`
	Late      uint64  `json:"late"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Max       float64 `json:"max_ms"`
	SvcP50    float64 `json:"service_p50_ms"`
	SvcP99    float64 `json:"service_p99_ms"`
	// LeaderChanges since the start of the run.
	LeaderChanges uint64 `json:"leader_changes"`
	// Zero when the target does not report them.
	FsyncsPerSec     float64 `json:"fsyncs_per_s"`
	EntriesPerFsync  float64 `json:"entries_per_fsync"`
	EntriesPerAppend float64 `json:"entries_per_append"`
	OpenLoop         bool    `json:"-"`
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

// LatencyOf reads a histogram's (microseconds) landmarks in milliseconds.
func LatencyOf(h *hdr.Histogram) Latency { return latencyOf(h) }

func latencyOf(h *hdr.Histogram) Latency {
	return Latency{
		P50:   usToMs(h.ValueAtPercentile(50)),
		P90:   usToMs(h.ValueAtPercentile(90)),
		P99:   usToMs(h.ValueAtPercentile(99)),
		P999:  usToMs(h.ValueAtPercentile(99.9)),
		P9999: usToMs(h.ValueAtPercentile(99.99)),
		Max:   usToMs(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

// interval turns the second ending at now into IntervalStats, feeds the
// sink and the metrics, and keeps it for timeseries.csv.
func (r *runner) interval(sec int, from, now time.Time) {
	if r.second == nil {
		r.second = newBucket()
	}
	b := r.second
	b.reset()
	r.rec.swap(b)
	st := r.target.Stats()
	dt := now.Sub(from).Seconds()
	is := IntervalStats{
		Second:        sec,
		ElapsedS:      now.Sub(r.start).Seconds(),
		TotalS:        r.end.Sub(r.start).Seconds(),
		Warmup:        from.Add(now.Sub(from) / 2).Before(r.warmEnd), // most of the second
		Drain:         !from.Add(now.Sub(from) / 2).Before(r.end),
		Ops:           b.c.total(),
		OpsPerSec:     float64(b.c.total()) / dt,
		Errors:        b.c.errors(),
		Late:          b.c.late,
		P50:           usToMs(b.lat.ValueAtPercentile(50)),
		P90:           usToMs(b.lat.ValueAtPercentile(90)),
		P99:           usToMs(b.lat.ValueAtPercentile(99)),
		P999:          usToMs(b.lat.ValueAtPercentile(99.9)),
		Max:           usToMs(b.lat.Max()),
		SvcP50:        usToMs(b.service().ValueAtPercentile(50)),
		SvcP99:        usToMs(b.service().ValueAtPercentile(99)),
		LeaderChanges: st.LeaderChanges - r.statsStart.LeaderChanges,
		OpenLoop:      r.cfg.OpenLoop(),
	}
	prev := r.prevStats
	r.prevStats = st
	if st.Fsyncs > prev.Fsyncs {
		d := float64(st.Fsyncs - prev.Fsyncs)
		is.FsyncsPerSec = d / dt
		is.EntriesPerFsync = float64(st.FsyncEntries-prev.FsyncEntries) / d
	}
	if st.AppendMsgs > prev.AppendMsgs {
		is.EntriesPerAppend = float64(st.AppendEntries-prev.AppendEntries) / float64(st.AppendMsgs-prev.AppendMsgs)
	}
	r.series = append(r.series, is)
	r.cfg.Metrics.observe(b, &is)
	if r.sink != nil {
		r.sink.Progress(is)
	}
}

// summary builds the measured window's Summary after all workers ended.
func (r *runner) summary() *Summary {
	tot := r.rec.totals()
	tot.c.errs[errUnfinished] += r.unsentSlots(tot.c.total() + tot.c.errors())
	cfg := &r.cfg
	s := &Summary{
		Target:        r.target.Name(),
		Nodes:         cfg.Nodes,
		Mode:          "closed",
		Clients:       cfg.Clients,
		Workers:       cfg.workers(),
		ValueBytes:    cfg.ValueBytes,
		KeyBytes:      KeyBytes,
		Keys:          cfg.Keys,
		KeyDist:       cfg.KeyDist,
		Mix:           cfg.Mix.String(),
		Workload:      cfg.Info(),
		PreloadS:      r.preloadTime.Seconds(),
		Seed:          cfg.Seed,
		WarmupS:       cfg.Warmup.Seconds(),
		DurationS:     cfg.Duration.Seconds(),
		Ops:           tot.c.total(),
		OpsByOp:       map[string]uint64{},
		Results:       Results{OK: tot.c.status[0], NotFound: tot.c.status[1], Mismatch: tot.c.status[2]},
		Errors:        tot.c.errors(),
		ErrorsByKind:  map[string]uint64{},
		ThroughputOps: float64(tot.c.total()) / cfg.Duration.Seconds(),
		LatencyMs:     latencyOf(tot.lat),
		Fsync:         cfg.Fsync,
		Security:      TargetContract(r.target).Security,
		LeaderChanges: r.statsEnd.LeaderChanges - r.statsWarm.LeaderChanges,
		Hist:          tot.lat,
		SvcHist:       tot.service(),
		Series:        r.series,
	}
	if cfg.OpenLoop() {
		s.Mode, s.Rate = "open", cfg.Rate
		svc := latencyOf(tot.svc)
		s.ServiceLatencyMs = &svc
		lag := latencyOf(tot.lag)
		s.ScheduleLagMs = &lag
		s.LateSends, s.MaxLateMs = tot.c.late, float64(tot.c.maxLate)/1e6
	}
	f := cfg.Mix.fractions()
	for i, name := range opNames {
		if i < opInsert || f[i] > 0 {
			s.OpsByOp[name] = tot.c.ops[i]
		}
		if h := tot.byOp[i]; h != nil && h.TotalCount() > 0 {
			if s.LatencyByOpMs == nil {
				s.LatencyByOpMs = map[string]Latency{}
			}
			s.LatencyByOpMs[name] = latencyOf(h)
		}
	}
	if r.hist != nil {
		s.History = r.hist.history()
	}
	for i, n := range tot.c.errs {
		if n > 0 {
			s.ErrorsByKind[errKindNames[i]] = n
		}
	}
	d, w := r.statsEnd, r.statsWarm
	if d.SnapshotsCounted {
		n := d.Snapshots - w.Snapshots
		s.Snapshots = &n
	}
	if d.Fsyncs > w.Fsyncs {
		s.FsyncsPerSec = ptr(float64(d.Fsyncs-w.Fsyncs) / cfg.Duration.Seconds())
		s.EntriesPerFsync = ptr(float64(d.FsyncEntries-w.FsyncEntries) / float64(d.Fsyncs-w.Fsyncs))
	}
	if d.AppendMsgs > w.AppendMsgs {
		s.EntriesPerAppend = ptr(float64(d.AppendEntries-w.AppendEntries) / float64(d.AppendMsgs-w.AppendMsgs))
	}
	s.LogCycleUs = logCycleOver(w.Log, d.Log)
	if cpu := r.cpuEnd.Sub(r.cpuWarm); r.cpuKnown && cpu.Total() > 0 {
		s.ProcessCPUCores = ptr(cpu.Total().Seconds() / cfg.Duration.Seconds())
		s.OpsPerCPUSecond = ptr(float64(s.Ops) / cpu.Total().Seconds())
		s.CPUUsPerOp = cpuPerOp(cpu, s.Ops)
	}
	if r.gcKnown {
		s.GC = gcSummary(r.gcEnd.Sub(r.gcWarm), s.Ops, cfg.Duration)
	}
	return s
}

func ptr(f float64) *float64 { return &f }

// LogCycleUs is a mean group commit's cycle in µs (see LogCycle).
type LogCycleUs struct {
	Idle   float64 `json:"idle"`
	Linger float64 `json:"linger"`
	Write  float64 `json:"write"`
	Fsync  float64 `json:"fsync"`
}

// logCycleOver is the mean group commit's cycle between two samples of a
// target's counters (nil: no group commit between them, or none timed).
func logCycleOver(from, to LogCycle) *LogCycleUs {
	if to.Flushes <= from.Flushes || to.FsyncNanos <= from.FsyncNanos {
		return nil
	}
	c := LogCycle{Flushes: to.Flushes - from.Flushes, IdleNanos: to.IdleNanos - from.IdleNanos,
		LingerNanos: to.LingerNanos - from.LingerNanos, WriteNanos: to.WriteNanos - from.WriteNanos,
		FsyncNanos: to.FsyncNanos - from.FsyncNanos}
	us := c.perFlushUs()
	return &us
}

// perFlushUs is each part of c over its group commits, in µs (Flushes
// must be non-zero).
func (c LogCycle) perFlushUs() LogCycleUs {
	per := func(ns uint64) float64 { return float64(ns) / 1e3 / float64(c.Flushes) }
	return LogCycleUs{Idle: per(c.IdleNanos), Linger: per(c.LingerNanos), Write: per(c.WriteNanos), Fsync: per(c.FsyncNanos)}
}

// FillEnvironment records where and how the run was made: git commit
// (of the working directory, "unknown" outside a checkout), Go version,
// CPUs, date and the command line.
func FillEnvironment(s *Summary, args []string) {
	s.GitCommit = gitCommit()
	s.GoVersion = runtime.Version()
	s.CPUs = runtime.NumCPU()
	s.GOMAXPROCS = runtime.GOMAXPROCS(0)
	s.WALFsyncOffload = wal.FsyncOffloadAvailable()
	s.OS, s.Arch = runtime.GOOS, runtime.GOARCH
	s.Date = time.Now().UTC().Format(time.RFC3339)
	s.Command = shellJoin(args)
	s.LoadAvg = loadAvg()
	s.PeakRSSBytes = peakRSS()
}

// peakRSS reads VmHWM from /proc/self/status; 0 where there is none.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// loadAvg reads /proc/loadavg; nil where there is none.
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		if out[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return nil
		}
	}
	return out
}

// BuildCommit, when set at link time
// (-ldflags "-X github.com/raftbench/raftbench/bench.BuildCommit=<sha>"),
// is the commit the binary was built from; it wins over asking git.
var BuildCommit string

// gitCommit names the code that made a run: BuildCommit, else the HEAD of
// the working directory's checkout with "-dirty" when tracked files
// differ from it (the binary may hold those changes), else "unknown".
func gitCommit() string {
	if BuildCommit != "" {
		return BuildCommit
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
}

// shellJoin quotes arguments that need it, so Command can be pasted
// back into a shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`|&;<>()*?[]#~!{}") {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
