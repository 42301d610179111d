package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/raftbench/raftbench/bench"
)

// WriteTable prints a run's summary as an aligned table.
func WriteTable(w io.Writer, s *bench.Summary) {
	row := func(k, v string) { fmt.Fprintf(w, "  %-22s %s\n", k, v) }
	fmt.Fprintf(w, "\n%s\n", s.Title())
	row("mode", s.Mode+" loop, "+strconv.Itoa(s.Workers)+" workers, mix "+s.Mix+", "+strconv.Itoa(s.Keys)+" "+s.KeyDist+" keys")
	if w := s.Workload; w.Name != "" {
		desc := w.Name + ": " + w.Distribution
		if w.Theta > 0 {
			desc += fmt.Sprintf(" (theta %g)", w.Theta)
		}
		if w.Preload {
			desc += fmt.Sprintf(", load phase of %d keys (%.1f s, not measured)", w.Keys, s.PreloadS)
		}
		row("workload", desc)
	}
	row("measured", fmt.Sprintf("%.1f s after %.1f s warm-up", s.DurationS, s.WarmupS))
	row("throughput", bench.FormatCount(s.ThroughputOps)+" ops/s ("+bench.FormatCount(float64(s.Ops))+" ops)")
	lat := func(l bench.Latency) string {
		return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", bench.FormatMs(l.P50), bench.FormatMs(l.P90), bench.FormatMs(l.P99), bench.FormatMs(l.P999), bench.FormatMs(l.Max))
	}
	if s.ServiceLatencyMs != nil {
		row("latency ms (corrected)", lat(s.LatencyMs))
		row("service time ms (raw)", lat(*s.ServiceLatencyMs))
		if s.ScheduleLagMs != nil {
			row("send lag ms", lat(*s.ScheduleLagMs)+fmt.Sprintf("  (%d sent > 1 ms late)", s.LateSends))
		}
	} else {
		row("latency ms", lat(s.LatencyMs))
	}
	if len(s.LatencyByOpMs) > 1 {
		for _, op := range bench.OpNames() {
			if l, ok := s.LatencyByOpMs[op]; ok {
				row("  "+op, lat(l)+fmt.Sprintf("  mean %s", bench.FormatMs(l.Mean)))
			}
		}
	}
	row("results", fmt.Sprintf("ok %d, not found %d, cas mismatch %d", s.Results.OK, s.Results.NotFound, s.Results.Mismatch))
	errs := fmt.Sprint(s.Errors)
	if s.Errors > 0 {
		errs += fmt.Sprintf(" %v", s.ErrorsByKind)
	}
	row("errors", errs)
	row("leader changes", fmt.Sprint(s.LeaderChanges))
	if s.Snapshots != nil {
		row("snapshots", fmt.Sprintf("%d (taken by the nodes in the measured window)", *s.Snapshots))
	}
	if s.StateBytes > 0 {
		row("state", fmt.Sprintf("%.1f MiB (the nodes' state machines at the end)", float64(s.StateBytes)/(1<<20)))
	}
	if s.Security != "" {
		row("security", s.Security)
	}
	if s.Environment != nil {
		row("environment", s.Environment.String())
	}
	if len(s.LoadAvg) == 3 {
		row("machine load avg", fmt.Sprintf("%.2f %.2f %.2f (1/5/15 min, at the end)", s.LoadAvg[0], s.LoadAvg[1], s.LoadAvg[2]))
	}
	if s.FsyncsPerSec != nil {
		fsyncs := bench.FormatCount(*s.FsyncsPerSec)
		if s.Target == "inproc" || s.Target == "tcp" {
			if s.WALFsyncOffload {
				fsyncs += "  (WAL: io_uring offload available)"
			} else {
				fsyncs += "  (WAL: blocking fsync only, no io_uring here)"
			}
		}
		row("fsyncs/s", fsyncs)
	}
	if s.EntriesPerFsync != nil {
		row("entries per fsync", fmt.Sprintf("%.1f", *s.EntriesPerFsync))
	}
	if s.EntriesPerAppend != nil {
		row("entries per append", fmt.Sprintf("%.1f", *s.EntriesPerAppend))
	}
	if c := s.LogCycleUs; c != nil {
		row("log cycle", fmt.Sprintf("%.0f µs idle, %.0f µs lingering, %.0f µs writing, %.0f µs fsyncing (one group commit of one log)", c.Idle, c.Linger, c.Write, c.Fsync))
	}
	if s.ProcessCPUCores != nil && s.OpsPerCPUSecond != nil {
		row("process CPU", fmt.Sprintf("%.2f cores, %s ops per CPU-second", *s.ProcessCPUCores, bench.FormatCount(*s.OpsPerCPUSecond)))
	}
	if c := s.CPUUsPerOp; c != nil {
		row("CPU per op", fmt.Sprintf("%.1f µs: %.1f in the process's code, %.1f in the kernel (syscalls, fsyncs, io_uring workers)", c.User+c.Kernel, c.User, c.Kernel))
	}
	if g := s.GC; g != nil {
		row("GC", fmt.Sprintf("%s B allocated per op; %d collections (%.1f/s); %.1f%% of the Go CPU, %.1f%% in mark assists", bench.FormatCount(g.AllocBytesPerOp), g.Cycles, g.CyclesPerSec, 100*g.CPUShare, 100*g.AssistShare))
	}
}

// WriteMarkdownTable writes one row per run: configuration, throughput,
// latency percentiles, errors and batching figures, and links to its
// plots relative to base (the directory the markdown lives in).
func WriteMarkdownTable(w io.Writer, base string, runs []*RunResult) {
	fmt.Fprintln(w, "| run | throughput (ops/s) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | entries/fsync | plots |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, rr := range runs {
		s := &rr.Summary
		epf := "n/a"
		if s.EntriesPerFsync != nil {
			epf = fmt.Sprintf("%.1f", *s.EntriesPerFsync)
		}
		rel := rr.Dir
		if r, err := filepath.Rel(base, rr.Dir); err == nil {
			rel = filepath.ToSlash(r)
		}
		links := make([]string, 0, 3)
		for _, p := range []string{PlotThroughput, PlotLatency, PlotSpectrum} {
			links = append(links, fmt.Sprintf("[%s](%s/%s.svg)", p, rel, p))
		}
		l := s.LatencyMs
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", s.Title(), bench.FormatCount(s.ThroughputOps),
			bench.FormatMs(l.P50), bench.FormatMs(l.P90), bench.FormatMs(l.P99), bench.FormatMs(l.P999), bench.FormatMs(l.Max), s.Errors, epf, strings.Join(links, " "))
	}
}
