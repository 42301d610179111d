package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ProgressPrinter prints one line a second. On a terminal it rewrites a
// single line in place; otherwise (a file, a pipe, CI logs) it prints
// plain lines.
type ProgressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	width    int  // terminal columns; a longer line would wrap and not refresh
	pending  bool // a refreshed line is on screen without its newline
}

// NewStderrProgress prints to f, refreshing one line (cut to the
// terminal's width) when f is a terminal.
func NewStderrProgress(f *os.File) *ProgressPrinter {
	p := &ProgressPrinter{w: f, terminal: IsTerminal(f)}
	if p.terminal {
		p.width = termWidth(f)
	}
	return p
}

// NewProgressPrinter prints to w; terminal selects the refreshing line.
func NewProgressPrinter(w io.Writer, terminal bool) *ProgressPrinter {
	return &ProgressPrinter{w: w, terminal: terminal}
}

// IsTerminal reports whether f looks like an interactive terminal.
func IsTerminal(f *os.File) bool {
	return os.Getenv("TERM") != "dumb" && isTTY(f)
}

// Progress implements ProgressSink.
func (p *ProgressPrinter) Progress(s IntervalStats) {
	line := FormatProgress(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		if p.width > 1 && len(line) >= p.width {
			line = line[:p.width-1]
		}
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.pending = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Finish ends a refreshing line, so what follows starts on its own line.
func (p *ProgressPrinter) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprintln(p.w)
		p.pending = false
	}
}

// FormatProgress renders one second as a progress line.
func FormatProgress(s IntervalStats) string {
	phase := "run   "
	switch {
	case s.Warmup:
		phase = "warmup"
	case s.Drain:
		phase = "drain "
	}
	var b strings.Builder
	// The essentials fit 80 columns; a terminal line is cut at its width.
	fmt.Fprintf(&b, "[%3.0fs/%.0fs] %s %7s ops/s  p50 %sms  p99 %sms  errors %d  leader chg %d",
		s.ElapsedS, s.TotalS, phase, fmtCount(s.OpsPerSec), fmtMs(s.P50), fmtMs(s.P99), s.Errors, s.LeaderChanges)
	if s.FsyncsPerSec > 0 {
		fmt.Fprintf(&b, "  fsyncs/s %s  entries/fsync %.1f", fmtCount(s.FsyncsPerSec), s.EntriesPerFsync)
	}
	if s.OpenLoop {
		fmt.Fprintf(&b, "  service p99 %sms", fmtMs(s.SvcP99))
		if s.Late > 0 {
			fmt.Fprintf(&b, "  late %d", s.Late)
		}
	}
	return b.String()
}

// WriteTable prints a run's summary as an aligned table.
func WriteTable(w io.Writer, s *Summary) {
	row := func(k, v string) { fmt.Fprintf(w, "  %-22s %s\n", k, v) }
	fmt.Fprintf(w, "\n%s\n", s.Title())
	row("mode", s.Mode+" loop, "+itoa(s.Workers)+" workers, mix "+s.Mix+", "+itoa(s.Keys)+" "+s.KeyDist+" keys")
	row("measured", fmt.Sprintf("%.1f s after %.1f s warm-up", s.DurationS, s.WarmupS))
	row("throughput", fmtCount(s.ThroughputOps)+" ops/s ("+fmtCount(float64(s.Ops))+" ops)")
	lat := func(l Latency) string {
		return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
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
	row("results", fmt.Sprintf("ok %d, not found %d, cas mismatch %d", s.Results.OK, s.Results.NotFound, s.Results.Mismatch))
	errs := fmt.Sprint(s.Errors)
	if s.Errors > 0 {
		errs += fmt.Sprintf(" %v", s.ErrorsByKind)
	}
	row("errors", errs)
	row("leader changes", fmt.Sprint(s.LeaderChanges))
	if len(s.LoadAvg) == 3 {
		row("machine load avg", fmt.Sprintf("%.2f %.2f %.2f (1/5/15 min, at the end)", s.LoadAvg[0], s.LoadAvg[1], s.LoadAvg[2]))
	}
	if s.FsyncsPerSec != nil {
		fsyncs := fmtCount(*s.FsyncsPerSec)
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
	if s.ProcessCPUCores != nil && s.OpsPerCPUSecond != nil {
		row("process CPU", fmt.Sprintf("%.2f cores, %s ops per CPU-second", *s.ProcessCPUCores, fmtCount(*s.OpsPerCPUSecond)))
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
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", s.Title(), fmtCount(s.ThroughputOps),
			fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max), s.Errors, epf, strings.Join(links, " "))
	}
}
