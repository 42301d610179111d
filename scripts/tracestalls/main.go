// Command tracestalls reads an execution trace of a raftbench run
// (`raftbench run --trace FILE`) and says where a request's time went
// that no profile shows: goroutines waiting for a P after being woken
// (a blocking fsync keeps its P for the whole call), long uninterrupted
// runs (a GC mark worker, a flusher paying a mark assist for a large
// allocation), long syscalls, GC phases, and the GC's mark assists by
// the goroutine that paid them. With a timeline.csv from
// the same run (`--timeline`), it lists what ran around each of the
// worst latency buckets. Every run also reports the log fsyncs' latency
// (the WAL flusher's syncTail, blocking or parked on its io_uring),
// split by whether a snapshot file was being written at the time.
//
//	go run . [-worst N] [-timeline timeline.csv] [-offset MS] TRACE
//
// It is a separate module so that the trace parser stays out of the
// raftbench module's dependencies.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/exp/trace"
)

// span is one interval (GC phases of at least 1 ms are kept) of the trace: times in ns since the first event.
type span struct {
	start, dur int64
	kind, what string // kind: ran, syscall, gc
}

type analysis struct {
	total           int64
	sysBoth, sysOne int64              // time with >= 2 / exactly 1 goroutine in a syscall
	waits           map[string][]int64 // runnable -> running, by goroutine role
	runs, sys, gc   []span             // long runs, long syscalls, GC ranges
	frozen          []span             // stretches with >= procs goroutines in syscalls
	fsyncs          []span             // log fsyncs (syncTail), blocking or parked
	snapIO          []span             // syscalls of a goroutine writing a snapshot file
	removals        map[string][]int64 // unlinks of compacted log segments, by caller
	// assists are the GC mark assists (their wall time: marking, and
	// waiting parked for the background workers' credit), by goroutine
	// role; assistGs the goroutines that assisted, by role.
	assists  map[string][]int64
	assistGs map[string]int
	// idle: stretches in which a goroutine was runnable while fewer
	// goroutines ran than there are Ps (a P held by a syscall, or not yet
	// handed on); none: the same with nothing running at all.
	idle, none []span
}

// inStack says whether any frame of e's stack is in a function whose
// name contains sub.
func inStack(e trace.Event, sub string) bool {
	for f := range e.Stack().Frames() {
		if strings.Contains(f.Func, sub) {
			return true
		}
	}
	return false
}

func main() {
	worst := flag.Int("worst", 8, "how many of the worst timeline buckets to explain")
	timeline := flag.String("timeline", "", "timeline.csv of the same run (run --timeline)")
	offset := flag.Float64("offset", 0, "ms to add to the timeline's bucket starts to get trace time (the trace starts just before the load)")
	procs := flag.Int("procs", 2, "GOMAXPROCS of the traced run: this many goroutines in syscalls hold every P")
	minRun := flag.Duration("min-run", 0, "list uninterrupted runs at least this long (default 2ms)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: tracestalls [flags] TRACE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	long := int64(2e6)
	if *minRun > 0 {
		long = minRun.Nanoseconds()
	}
	a, err := analyze(flag.Arg(0), long, *procs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracestalls:", err)
		os.Exit(1)
	}
	a.report(os.Stdout)
	if *timeline != "" {
		if err := a.explain(os.Stdout, *timeline, *worst, int64(*offset*1e6)); err != nil {
			fmt.Fprintln(os.Stderr, "tracestalls:", err)
			os.Exit(1)
		}
	}
}

func analyze(path string, long int64, procs int) (*analysis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return nil, err
	}
	a := &analysis{waits: map[string][]int64{}, removals: map[string][]int64{}, assists: map[string][]int64{}, assistGs: map[string]int{}}
	assistAt := map[trace.GoID]trace.Time{}
	assists := map[trace.GoID][]int64{}
	var t0, last trace.Time
	role := map[trace.GoID]string{}
	runnableAt := map[trace.GoID]trace.Time{}
	runningAt := map[trace.GoID]trace.Time{}
	syscallAt := map[trace.GoID]trace.Time{}
	gcAt := map[string]trace.Time{}
	var frozenAt, idleAt, noneAt trace.Time
	noneSys := ""                            // the syscalls in progress when the process stopped
	fsyncAt := map[trace.GoID]trace.Time{}   // blocked in a log fsync since
	fsyncAcc := map[trace.GoID]*span{}       // the log fsync in progress
	snapSysAt := map[trace.GoID]trace.Time{} // in a snapshot file's syscall since
	type removal struct {
		at  trace.Time
		who string
	}
	removeAt := map[trace.GoID]removal{} // unlinking a compacted segment since
	for {
		e, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if t0 == 0 {
			t0, last = e.Time(), e.Time()
		}
		now := e.Time()
		a.total = int64(now - t0)
		switch e.Kind() {
		case trace.EventRangeBegin:
			if rg := e.Range(); rg.Name == "GC mark assist" && rg.Scope.Kind == trace.ResourceGoroutine {
				assistAt[rg.Scope.Goroutine()] = now
				continue
			}
			gcAt[e.Range().Name] = now
			continue
		case trace.EventRangeEnd:
			if rg := e.Range(); rg.Name == "GC mark assist" && rg.Scope.Kind == trace.ResourceGoroutine {
				g := rg.Scope.Goroutine()
				if t, ok := assistAt[g]; ok {
					assists[g] = append(assists[g], int64(now-t))
					delete(assistAt, g)
				}
				continue
			}
			name := e.Range().Name
			if t, ok := gcAt[name]; ok && int64(now-t) >= 1e6 && (strings.Contains(name, "GC") || strings.Contains(name, "stop-the-world")) {
				a.gc = append(a.gc, span{int64(t - t0), int64(now - t), "gc", name})
			}
			delete(gcAt, name)
			continue
		case trace.EventStateTransition:
		default:
			continue
		}
		st := e.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		switch d := int64(now - last); {
		case len(syscallAt) >= 2:
			a.sysBoth += d
		case len(syscallAt) == 1:
			a.sysOne += d
		}
		last = now
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		// A log fsync is one blocking syscall, or through the ring a
		// submit syscall, then a park on the eventfd and its read: sum
		// the blocked time of those.
		if from == trace.GoRunning && (to == trace.GoSyscall || to == trace.GoWaiting) {
			if inStack(e, "(*WAL).syncTail") {
				// A new fsync starts with anything but the eventfd's read.
				if _, ok := fsyncAcc[id]; !ok || !inStack(e, "(*File).Read") {
					if f, ok := fsyncAcc[id]; ok {
						a.fsyncs = append(a.fsyncs, *f)
					}
					fsyncAcc[id] = &span{start: int64(now - t0), kind: "fsync"}
				}
				fsyncAt[id] = now
			} else {
				if f, ok := fsyncAcc[id]; ok {
					a.fsyncs = append(a.fsyncs, *f)
					delete(fsyncAcc, id)
				}
				if to == trace.GoSyscall && inStack(e, "(*SnapshotFile)") {
					snapSysAt[id] = now
				}
				if to == trace.GoSyscall && inStack(e, "Remove") {
					switch {
					case inStack(e, "(*WAL).removeSegments"):
						removeAt[id] = removal{now, "a background remover (removeSegments)"}
					case inStack(e, "(*WAL).dropSegmentsThrough"):
						removeAt[id] = removal{now, "the flusher (dropSegmentsThrough)"}
					}
				}
			}
		}
		if (from == trace.GoSyscall || from == trace.GoWaiting) && to != from {
			if t, ok := fsyncAt[id]; ok {
				fsyncAcc[id].dur += int64(now - t)
				delete(fsyncAt, id)
			}
			if t, ok := snapSysAt[id]; ok {
				a.snapIO = append(a.snapIO, span{int64(t - t0), int64(now - t), "snapshot", ""})
				delete(snapSysAt, id)
			}
			if r, ok := removeAt[id]; ok {
				a.removals[r.who] = append(a.removals[r.who], int64(now-r.at))
				delete(removeAt, id)
			}
		}
		if from == trace.GoRunning {
			if t, ok := runningAt[id]; ok && int64(now-t) >= long {
				a.runs = append(a.runs, span{int64(t - t0), int64(now - t), "ran", stopped(id, roleOf(role, id), frames(e, 2))})
			}
			delete(runningAt, id)
			if to == trace.GoWaiting {
				if s := frames(e, 1); s != "" {
					role[id] = s
				}
			}
		}
		switch to {
		case trace.GoRunning:
			runningAt[id] = now
			if t, ok := runnableAt[id]; ok && from == trace.GoRunnable {
				a.waits[roleOf(role, id)] = append(a.waits[roleOf(role, id)], int64(now-t))
			}
			delete(runnableAt, id)
		case trace.GoRunnable:
			runnableAt[id] = now
		case trace.GoSyscall:
			syscallAt[id] = now
			role[id+1<<62] = frames(e, 2)
			if len(syscallAt) == procs {
				frozenAt = now
			}
		}
		if from == trace.GoSyscall {
			if t, ok := syscallAt[id]; ok && int64(now-t) >= long {
				a.sys = append(a.sys, span{int64(t - t0), int64(now - t), "syscall", fmt.Sprintf("g%d %s", id, role[id+1<<62])})
			}
			if _, ok := syscallAt[id]; ok && len(syscallAt) == procs && frozenAt != 0 {
				a.frozen = append(a.frozen, span{int64(frozenAt - t0), int64(now - frozenAt), "frozen", "every P's goroutine in a syscall"})
			}
			delete(syscallAt, id)
		}
		// Waiting work with a P's worth of running missing.
		waiting, running := len(runnableAt) > 0, len(runningAt)
		switch {
		case waiting && running < procs && idleAt == 0:
			idleAt = now
		case (!waiting || running >= procs) && idleAt != 0:
			if int64(now-idleAt) >= 1e6 {
				a.idle = append(a.idle, span{int64(idleAt - t0), int64(now - idleAt), "idle", "work waiting, a P not running it"})
			}
			idleAt = 0
		}
		switch {
		case waiting && running == 0 && noneAt == 0:
			noneAt, noneSys = now, ""
			var held []string
			for g := range syscallAt {
				held = append(held, role[g+1<<62])
			}
			sort.Strings(held)
			noneSys = strings.Join(held, "; ")
		case (!waiting || running > 0) && noneAt != 0:
			if int64(now-noneAt) >= 1e6 {
				a.none = append(a.none, span{int64(noneAt - t0), int64(now - noneAt), "stopped", "in syscalls: " + noneSys})
			}
			noneAt = 0
		}
	}
	for g, x := range assists {
		r := roleOf(role, g)
		a.assists[r] = append(a.assists[r], x...)
		a.assistGs[r]++
	}
	return a, nil
}

func stopped(id trace.GoID, role, where string) string {
	if where == "" {
		return fmt.Sprintf("g%d %s", id, role)
	}
	return fmt.Sprintf("g%d %s (stopped in %s)", id, role, where)
}

// roleOf names a goroutine by where it last blocked; goroutines that
// never blocked in user code (GC workers) have no name.
func roleOf(role map[trace.GoID]string, id trace.GoID) string {
	if s := role[id]; s != "" {
		return s
	}
	return "(runtime: GC worker or never blocked)"
}

// frames is the first n user frames of e's stack.
func frames(e trace.Event, n int) string {
	var parts []string
	for f := range e.Stack().Frames() {
		fn := f.Func
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "syscall.") || strings.HasPrefix(fn, "os.") {
			continue
		}
		if i := strings.LastIndex(fn, "/"); i >= 0 {
			fn = fn[i+1:]
		}
		parts = append(parts, fn)
		if len(parts) == n {
			break
		}
	}
	return strings.Join(parts, " < ")
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func (a *analysis) report(w io.Writer) {
	fmt.Fprintf(w, "trace: %.0f ms; two or more goroutines in syscalls %.1f%% of the time, exactly one %.1f%%\n\n",
		ms(a.total), 100*float64(a.sysBoth)/float64(a.total), 100*float64(a.sysOne)/float64(a.total))
	var long []int64
	var longTotal int64
	for _, f := range a.frozen {
		if f.dur >= 1e6 {
			long = append(long, f.dur)
			longTotal += f.dur
		}
	}
	sort.Slice(long, func(i, j int) bool { return long[i] < long[j] })
	if len(long) > 0 {
		fmt.Fprintf(w, "Stretches of 1 ms or more with at least as many goroutines in syscalls as there are Ps "+
			"(every P held, unless sysmon took one back): %d, %.1f%% of the time, median %.2f ms, longest %.2f ms.\n\n",
			len(long), 100*float64(longTotal)/float64(a.total), ms(long[len(long)/2]), ms(long[len(long)-1]))
	}
	for _, st := range []struct {
		spans []span
		what  string
	}{
		{a.idle, "a goroutine runnable while fewer goroutines ran than there are Ps (a P held in a syscall or not yet handed on)"},
		{a.none, "a goroutine runnable while none ran at all (the process stopped)"},
	} {
		var total, longest int64
		for _, s := range st.spans {
			total += s.dur
			longest = max(longest, s.dur)
		}
		fmt.Fprintf(w, "Stretches of 1 ms or more with %s: %d, %.1f%% of the time, longest %.2f ms.\n\n",
			st.what, len(st.spans), 100*float64(total)/float64(max(a.total, 1)), ms(longest))
	}
	if len(a.none) > 0 {
		bySys := map[string][2]int64{}
		for _, s := range a.none {
			c := bySys[s.what]
			bySys[s.what] = [2]int64{c[0] + 1, c[1] + s.dur}
		}
		keys := make([]string, 0, len(bySys))
		for k := range bySys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "The stopped stretches by what held the Ps when they began:")
		fmt.Fprintln(w)
		for _, k := range keys {
			fmt.Fprintf(w, "- %s: %d, %.1f ms in all\n", k, bySys[k][0], ms(bySys[k][1]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Waiting for a P after a wake-up, by where the goroutine blocks (roles with >= 100 wake-ups):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| role | wake-ups | mean µs | p50 µs | p99 µs | max ms |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	var roles []string
	for k, v := range a.waits {
		if len(v) >= 100 {
			roles = append(roles, k)
		}
	}
	sort.Strings(roles)
	for _, k := range roles {
		x := a.waits[k]
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
		var sum int64
		for _, v := range x {
			sum += v
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.2f |\n", k, len(x), float64(sum)/float64(len(x))/1e3,
			float64(x[len(x)/2])/1e3, float64(x[len(x)*99/100])/1e3, ms(x[len(x)-1]))
	}
	top := func(title string, x []span, n int) {
		sort.Slice(x, func(i, j int) bool { return x[i].dur > x[j].dur })
		fmt.Fprintf(w, "\n%s (%d in all; the %d longest):\n\n", title, len(x), min(n, len(x)))
		for _, s := range x[:min(n, len(x))] {
			fmt.Fprintf(w, "- at %.1f ms: %.2f ms %s\n", ms(s.start), ms(s.dur), s.what)
		}
	}
	a.reportAssists(w)
	a.reportFsyncs(w)
	top("Uninterrupted runs", slicesClone(a.runs), 15)
	top("Long syscalls", slicesClone(a.sys), 10)
	top("GC phases", slicesClone(a.gc), 8)
}

// reportAssists prints the GC mark assists by the role of the goroutine
// that paid them. Each goroutine that allocates during a mark assists at
// least once (the runtime makes it mark 64 KiB or wait for credit), so a
// request path that allocates in many goroutines (a client goroutine per
// request) carries the mark's work on its requests.
func (a *analysis) reportAssists(w io.Writer) {
	var all int64
	for _, x := range a.assists {
		for _, v := range x {
			all += v
		}
	}
	fmt.Fprintf(w, "\nGC mark assists (wall time, marking or parked for credit): %.1f ms in all\n\n", ms(all))
	if all == 0 {
		return
	}
	roles := make([]string, 0, len(a.assists))
	sums := map[string]int64{}
	for k, x := range a.assists {
		roles = append(roles, k)
		for _, v := range x {
			sums[k] += v
		}
	}
	sort.Slice(roles, func(i, j int) bool { return sums[roles[i]] > sums[roles[j]] })
	fmt.Fprintln(w, "| role | goroutines | assists | total ms | p50 µs | p99 µs | max ms |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, k := range roles[:min(10, len(roles))] {
		x := a.assists[k]
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
		fmt.Fprintf(w, "| %s | %d | %d | %.1f | %.1f | %.1f | %.2f |\n", k, a.assistGs[k], len(x), ms(sums[k]),
			float64(x[len(x)/2])/1e3, float64(x[len(x)*99/100])/1e3, ms(x[len(x)-1]))
	}
}

// snapGap joins a snapshot writer's syscalls into one "writing" window
// when they are at most this far apart.
const snapGap = 50e6

// reportFsyncs prints the log fsyncs' latency distribution, all of them
// and split by whether a snapshot file was being written (within
// snapGap of one of its writer's syscalls).
func (a *analysis) reportFsyncs(w io.Writer) {
	if len(a.fsyncs) == 0 {
		return
	}
	snaps := slicesClone(a.snapIO)
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].start < snaps[j].start })
	type window struct{ from, to int64 }
	var wins []window
	var snapTime int64
	for _, s := range snaps {
		if n := len(wins); n > 0 && s.start <= wins[n-1].to+snapGap {
			wins[n-1].to = max(wins[n-1].to, s.start+s.dur)
			continue
		}
		wins = append(wins, window{s.start, s.start + s.dur})
	}
	for _, x := range wins {
		snapTime += x.to - x.from
	}
	var all, during, outside []int64
	for _, f := range a.fsyncs {
		all = append(all, f.dur)
		i := sort.Search(len(wins), func(i int) bool { return wins[i].to >= f.start })
		if i < len(wins) && wins[i].from <= f.start+f.dur {
			during = append(during, f.dur)
		} else {
			outside = append(outside, f.dur)
		}
	}
	fmt.Fprintf(w, "\nLog fsyncs (the flusher's syncTail, blocking or parked on its ring); a snapshot file was being written %.1f%% of the time (%d windows):\n\n",
		100*float64(snapTime)/float64(a.total), len(wins))
	fmt.Fprintln(w, "| fsyncs | count | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | >= 10 ms |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range []struct {
		name string
		x    []int64
	}{{"all", all}, {"while a snapshot is written", during}, {"otherwise", outside}} {
		x := row.x
		if len(x) == 0 {
			fmt.Fprintf(w, "| %s | 0 | | | | | | |\n", row.name)
			continue
		}
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
		q := func(p float64) float64 { return ms(x[min(len(x)-1, int(p*float64(len(x))))]) }
		long := len(x) - sort.Search(len(x), func(i int) bool { return x[i] >= 10e6 })
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", row.name, len(x),
			q(0.5), q(0.9), q(0.99), q(0.999), ms(x[len(x)-1]), long)
	}
	fmt.Fprintln(w)
	var whos []string
	for who := range a.removals {
		whos = append(whos, who)
	}
	sort.Strings(whos)
	for _, who := range whos {
		x := a.removals[who]
		var sum, top int64
		for _, d := range x {
			sum += d
			top = max(top, d)
		}
		fmt.Fprintf(w, "Compacted segments unlinked by %s: %d, %.1f ms in all, longest %.2f ms.\n\n", who, len(x), ms(sum), ms(top))
	}
}

func slicesClone(x []span) []span { return append([]span(nil), x...) }

// perBucket is how many spans explain lists per bucket (the longest).
const perBucket = 12

// explain lists, for each of the worst timeline buckets, the longest runs,
// syscalls and GC phases from 50 ms before the bucket to its slowest
// answer.
func (a *analysis) explain(w io.Writer, path string, worst int, offset int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	type bucket struct{ start, max float64 }
	var bs []bucket
	for i, r := range rows {
		if i == 0 || len(r) < 5 {
			continue
		}
		s, err1 := strconv.ParseFloat(r[0], 64)
		m, err2 := strconv.ParseFloat(r[4], 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s line %d: not a timeline row", path, i+1)
		}
		bs = append(bs, bucket{s, m})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].max > bs[j].max })
	fmt.Fprintf(w, "\nThe %d worst buckets of %s, and what ran from 50 ms before each until its slowest answer:\n", min(worst, len(bs)), path)
	all := append(append(append([]span(nil), a.runs...), a.sys...), a.gc...)
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })
	for _, b := range bs[:min(worst, len(bs))] {
		from := int64(b.start*1e6) + offset - 50e6
		to := int64((b.start+b.max)*1e6) + offset
		var in []span
		for _, s := range all {
			if s.start+s.dur >= from && s.start <= to {
				in = append(in, s)
			}
		}
		fmt.Fprintf(w, "\n- bucket %.0f ms, slowest %.1f ms (%d spans, the %d longest in time order):\n", b.start, b.max, len(in), min(perBucket, len(in)))
		sort.SliceStable(in, func(i, j int) bool { return in[i].dur > in[j].dur })
		in = in[:min(perBucket, len(in))]
		sort.SliceStable(in, func(i, j int) bool { return in[i].start < in[j].start })
		for _, s := range in {
			fmt.Fprintf(w, "  - %s at %.1f ms for %.2f ms: %s\n", s.kind, ms(s.start), ms(s.dur), s.what)
		}
	}
	return nil
}
