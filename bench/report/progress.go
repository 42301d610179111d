package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/raftbench/raftbench/bench"
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

// A ProgressPrinter is what `raftbench run` hands bench.Run.
var _ bench.ProgressSink = (*ProgressPrinter)(nil)

// Progress implements bench.ProgressSink.
func (p *ProgressPrinter) Progress(s bench.IntervalStats) {
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
func FormatProgress(s bench.IntervalStats) string {
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
		s.ElapsedS, s.TotalS, phase, bench.FormatCount(s.OpsPerSec), bench.FormatMs(s.P50), bench.FormatMs(s.P99), s.Errors, s.LeaderChanges)
	if s.FsyncsPerSec > 0 {
		fmt.Fprintf(&b, "  fsyncs/s %s  entries/fsync %.1f", bench.FormatCount(s.FsyncsPerSec), s.EntriesPerFsync)
	}
	if s.OpenLoop {
		fmt.Fprintf(&b, "  service p99 %sms", bench.FormatMs(s.SvcP99))
		if s.Late > 0 {
			fmt.Fprintf(&b, "  late %d", s.Late)
		}
	}
	return b.String()
}
