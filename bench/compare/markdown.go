package compare

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/raftbench/raftbench/bench"
)

// writeMarkdown writes the comparison table and the conditions it was
// measured under.
func writeMarkdown(path string, r *Result) error {
	var b bytes.Buffer
	fs := "on for every system"
	if !r.Fsync {
		fs = "off for every system"
	} else if r.hasNoFsyncSystem() {
		fs = "on, except systems marked " + NoFsyncSuffix
	}
	if r.ModelFsync != "" {
		fs += ", on a modelled disk: every fsync a wait of " + r.ModelFsync + " that never stalls, nothing durable (--model-fsync)"
	}
	fmt.Fprintf(&b, "# raftbench compare\n\n")
	fmt.Fprintf(&b, "%d nodes in-process per system, fsync **%s**, %d-byte values, closed loop, "+
		"mix %s, %d keys (%s), %.0f s warm-up + %.0f s measured, %d repeat(s) interleaved across systems; "+
		"%d CPUs, %s, %s.\n\n", r.Nodes, fs, r.ValueBytes, r.Mix, r.Keys, r.KeyDist, r.WarmupS, r.DurationS,
		r.Repeat, r.CPUs, r.GoVersion, r.Date)
	if r.Environment != nil {
		fmt.Fprintf(&b, "Environment: %s.\n\n", r.Environment)
	}
	if w := r.Workload; w != nil {
		fmt.Fprintf(&b, "Workload **%s**: %s keys", w.Name, w.Distribution)
		if w.Theta > 0 {
			fmt.Fprintf(&b, " (theta %g)", w.Theta)
		}
		if w.Preload {
			fmt.Fprintf(&b, ", every key written once before each run (load phase, not measured)")
		}
		b.WriteString(".\n\n")
	}
	if r.Command != "" {
		fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	}
	fmt.Fprintf(&b, "Latencies are medians over repeats of each run's percentile; CPU cores is this process's "+
		"CPU time (nodes and load generator) per wall second in the measured window; snapshots, the median "+
		"number the nodes took in it (to a file or in memory; a system whose first snapshot comes later than "+
		"the run's end does less work than one that writes several, which a short run's tails hide).\n\n")
	floors, passFloors := len(r.DiskFloor) > 0, r.hasPassFloors()
	ofCeiling, ofCeilingSep := "", ""
	if floors {
		ofCeiling, ofCeilingSep = " of ceiling |", " ---: |"
	}
	if passFloors {
		ofCeiling, ofCeilingSep = ofCeiling+" of pass ceiling |", ofCeilingSep+" ---: |"
	}
	fmt.Fprintf(&b, "**Correctness gate**: every run records the history of a sample of keys (bench.HistoryConfig) and "+
		"chaos/check checks it (writes on sampled keys carry unique values, so a read names the write it saw: keys without cas are decided exactly, others by porcupine's search); \"linearizable\" is the worst verdict over the row's runs and the operations checked. "+
		"A row is ranked (gets \"vs best other\") only if its history is linearizable and its contract is the reference "+
		"contract (%s), the one most systems state; the others say why not and are listed last, whatever their speed.\n\n",
		orDash(r.ReferenceContract))
	fmt.Fprintln(&b, "| system | clients | ops/s median | ops/s min | p50 ms | p99 ms | p99.9 ms | CPU cores | ops/CPU-s | entries/fsync | snapshots | vs best other | errors | linearizable | contract |"+ofCeiling)
	fmt.Fprintln(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"+ofCeilingSep)
	for _, row := range r.Rows {
		epf := "–"
		if row.EntriesPerFsync != nil {
			epf = strconv.FormatFloat(*row.EntriesPerFsync, 'f', 1, 64)
		}
		snaps := "–"
		if row.Snapshots != nil {
			snaps = strconv.FormatFloat(*row.Snapshots, 'f', -1, 64)
		}
		vs := "–"
		if row.VsBestOther > 0 {
			vs = strconv.FormatFloat(row.VsBestOther, 'f', 2, 64) + "x"
		}
		system := row.System
		if row.Gate != "" {
			vs = row.gateNote(r.ReferenceContract)
			system = "~~" + row.System + "~~"
			if row.Gate == GateNotLinearizable {
				system = "**" + row.System + " (NOT LINEARIZABLE)**"
			}
		}
		lin := row.Linearizable
		switch row.Linearizable {
		case "linearizable":
			lin = "yes (" + bench.FormatCount(float64(row.CheckedOps)) + " ops)"
		case "not-linearizable":
			lin = "**NO**"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.3f | %.3f | %.3f | %.2f | %s | %s | %s | %s | %d | %s | %s |",
			system, row.Clients, bench.FormatCount(row.OpsMedian), bench.FormatCount(row.OpsMin), row.P50Ms, row.P99Ms,
			row.P999Ms, row.CPUCores, bench.FormatCount(row.OpsPerCPUSec), epf, snaps, vs, row.Errors, lin, row.Contract)
		if floors {
			// fsync-off systems are not bound by the disk: no ratio.
			if c := r.floorCeiling(row.Clients, r.DiskFloor[0].Nodes); c > 0 && SystemFsync(row.System, r.Fsync) {
				fmt.Fprintf(&b, " %.0f%% |", 100*row.OpsMedian/c)
			} else {
				b.WriteString(" – |")
			}
		}
		if passFloors {
			if row.OfPassCeiling > 0 {
				fmt.Fprintf(&b, " %.0f%% |", 100*row.OfPassCeiling)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	writeByOp(&b, r)
	writeLogCycles(&b, r)
	writeCPUPerOp(&b, r)
	writeContracts(&b, r)
	writeFloor(&b, r)
	fmt.Fprintf(&b, "\nPlots: [throughput vs clients](throughput_vs_clients.svg), [p99 vs clients](p99_vs_clients.svg). "+
		"Every run: compare.json and runs/.\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

// writeByOp tabulates each kind of operation's latency, for mixes of more
// than one kind: a read waits for a ReadIndex round (no disk), a write or
// cas for a quorum's fsyncs, and the mix's percentiles blend the two (at
// 1 client with 40% reads the mix's p50 is about the writes' 17th
// percentile).
func writeByOp(b *bytes.Buffer, r *Result) {
	var ops []string
	for _, op := range bench.OpNames() {
		for _, row := range r.Rows {
			if _, ok := row.ByOp[op]; ok {
				ops = append(ops, op)
				break
			}
		}
	}
	if len(ops) < 2 {
		return
	}
	b.WriteString("\n**By operation** (p50 / p99 / p99.9 ms, medians over repeats):\n\n| system | clients |")
	for _, op := range ops {
		fmt.Fprintf(b, " %s |", op)
	}
	b.WriteString("\n| --- | ---: |" + strings.Repeat(" --- |", len(ops)) + "\n")
	for _, row := range r.Rows {
		if len(row.ByOp) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %d |", row.System, row.Clients)
		for _, op := range ops {
			if l, ok := row.ByOp[op]; ok {
				fmt.Fprintf(b, " %.3f / %.3f / %.3f |", l.P50Ms, l.P99Ms, l.P999Ms)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
}

// writeLogCycles tabulates one group commit's cycle for the systems that
// report it (ours, the floor target): where their log writers' time goes
// between two fsyncs, which says whether a row is held by the disk or by
// its writers' round trip.
func writeLogCycles(b *bytes.Buffer, r *Result) {
	rows := rowsWhere(r, func(row Row) bool { return row.LogCycleUs != nil })
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n**Log cycle** (one group commit of one log, µs, medians over repeats; systems that report it): " +
		"waiting with nothing queued, lingering for more records, writing, fsyncing. A log that waits for records longer " +
		"than it fsyncs is held by its writers' round trip, not by the disk.\n\n" +
		"| system | clients | idle | linger | write | fsync | cycle |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range rows {
		c := row.LogCycleUs
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f |\n", row.System, row.Clients, c.Idle, c.Linger, c.Write, c.Fsync,
			c.Idle+c.Linger+c.Write+c.Fsync)
	}
}

// rowsWhere returns the result's rows for which keep is true, in order:
// the tables of figures only some systems report list only those.
func rowsWhere(r *Result, keep func(Row) bool) []Row {
	var rows []Row
	for _, row := range r.Rows {
		if keep(row) {
			rows = append(rows, row)
		}
	}
	return rows
}

// writeCPUPerOp tabulates each row's CPU per operation, the process's
// code against the kernel's work for it, beside its fsyncs per
// operation: the kernel's share carries every fsync's own CPU, which on a
// virtual machine can outweigh a system's code, so "ops per CPU-second"
// alone does not say where a system could save.
func writeCPUPerOp(b *bytes.Buffer, r *Result) {
	rows := rowsWhere(r, func(row Row) bool { return row.CPUUsPerOp != nil })
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n**CPU per operation** (µs of this process's CPU time per operation in the measured window, medians over repeats): " +
		"in the process's own code (the system and the load generator) and in the kernel working for it (system calls, page faults, " +
		"io_uring's workers running fsyncs), beside the fsyncs per operation that every log of the system made, the heap bytes the process " +
		"allocated per operation (the load generator's share is the same for every system) and its garbage collections per second.\n\n" +
		"| system | clients | code | kernel | total | fsyncs per op | heap B per op | GCs per s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range rows {
		c := row.CPUUsPerOp
		fpo, alloc, gcs := "–", "–", "–"
		if row.FsyncsPerOp != nil {
			fpo = strconv.FormatFloat(*row.FsyncsPerOp, 'f', 3, 64)
		}
		if row.AllocBytesPerOp != nil {
			alloc = strconv.FormatFloat(*row.AllocBytesPerOp, 'f', 0, 64)
			gcs = strconv.FormatFloat(*row.GCsPerSec, 'f', 2, 64)
		}
		fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %.1f | %s | %s | %s |\n", row.System, row.Clients, c.User, c.Kernel, c.User+c.Kernel, fpo, alloc, gcs)
	}
}

// writeFloor tabulates the disk floors: what the disk alone allows the
// clients' writes, each way of writing a log, and the ops/s ceiling that
// sets on this mix.
func writeFloor(b *bytes.Buffer, r *Result) {
	if len(r.DiskFloor) == 0 {
		return
	}
	f0 := r.DiskFloor[0]
	every := f0.Nodes
	fmt.Fprintf(b, "\n**Disk floor**: what this disk allows the clients' writes, whatever the code (bench.MeasureQuorumFloor). "+
		"Each client writes a %d-byte record to the logs of %d replicas in the data directory's file system and starts its "+
		"next write once %d logs have it durable; each log takes every record queued, writes them with one write and "+
		"flushes, one flush at a time (group commit, nothing else in the way). Each is measured two ways: logs appended "+
		"and fsynced (a file that grows), and logs overwriting a preallocated file of zeros with fdatasync (no size or "+
		"block map change per write, so no journal commit per flush); a system may write either way, so the ceiling "+
		"is the better way's. With every replica's log writing it is the floor of the usual "+
		"design, in which each replica flushes each write; with only a quorum's, the disk carries less but there is no "+
		"faster replica to wait for instead, so either can come out ahead. "+
		"The ceiling divides writes/s by the mix's write+cas share (%.0f%%), reads counted as free; \"of ceiling\" "+
		"above is a system's median ops/s over the every-replica ceiling (the better way). Figures are the better of the samples before "+
		"and after the runs (means before / after in µs); the disk's speed drifts over minutes, so a row above 100%% "+
		"ran while the disk was faster than in either sample. The stalls column counts, per second of each sample "+
		"with every replica's log writing (before / after), the stretches in which some log's flush took %v or more "+
		"(overlapping ones counted once), with their median length: a disk, or a virtual machine its host pauses, "+
		"that stalls on a clock of its own holds every write in flight that long, so at low concurrency it sets the "+
		"p99.9 of whichever system runs in that minute.\n\n", f0.RecordBytes, f0.Nodes, f0.Quorum, 100*r.writeShare(), bench.StallFsync)
	fmt.Fprintf(b, "| clients | logs written | %d of %d logs: writes/s (mean µs) | %d of %d logs: writes/s (mean µs) | ops/s ceiling, %d of %d logs | ops/s ceiling, %d of %d logs | stalls/s, %d of %d logs (median ms) |\n",
		f0.Quorum, f0.Nodes, every, f0.Nodes, f0.Quorum, f0.Nodes, every, f0.Nodes, every, f0.Nodes)
	fmt.Fprintln(b, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range r.Clients {
		for _, overwrite := range floorWays {
			way := func(f FloorSample) bool { return f.Overwrite == overwrite }
			cell := func(files int) string {
				var means []string
				best := 0.0
				for _, f := range r.DiskFloor {
					if f.Writers == c && f.Files == files && way(f) && f.When != FloorPass {
						means = append(means, strconv.FormatFloat(f.MeanUs, 'f', 0, 64))
						best = max(best, f.WritesPerSec)
					}
				}
				if best == 0 {
					return "–"
				}
				return fmt.Sprintf("%s (%s)", bench.FormatCount(best), strings.Join(means, " / "))
			}
			ceiling := func(files int) string {
				v := r.floorCeilingOf(c, files, way)
				if v <= 0 {
					return "–"
				}
				if v == r.floorCeiling(c, files) {
					return "**" + bench.FormatCount(v) + "**" // the better way: the ceiling used above
				}
				return bench.FormatCount(v)
			}
			stalls := func(files int) string {
				var cells []string
				for _, f := range r.DiskFloor {
					if f.Writers == c && f.Files == files && way(f) && f.When != FloorPass && f.DurationS > 0 {
						cells = append(cells, stallCell(f.DiskFloor))
					}
				}
				return orDash(strings.Join(cells, " / "))
			}
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s |\n", c, bench.FloorWay(overwrite), cell(f0.Quorum), cell(every), ceiling(f0.Quorum), ceiling(every), stalls(every))
		}
	}
	writePassFloors(b, r)
}

// stallCell is one floor sample's stalls per second and their median
// length, or 0 when it saw none.
func stallCell(f bench.DiskFloor) string {
	if f.Stalls == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f (%.1f)", float64(f.Stalls)/f.DurationS, f.StallP50Ms)
}

// writePassFloors lists the every-replica ceiling measured right before
// each pass's runs (Config.FloorEachPass), which "of pass ceiling" uses.
func writePassFloors(b *bytes.Buffer, r *Result) {
	if !r.hasPassFloors() {
		return
	}
	every := r.DiskFloor[0].Nodes
	fmt.Fprintf(b, "\nThe every-replica ceiling measured again right before each pass's runs at each client count "+
		"(both ways, the better one; \"of pass ceiling\" above is the median over a row's runs of each run's ops/s over "+
		"its own pass's ceiling, so a disk that changes speed between the runs is rated in the same minute):\n\n")
	b.WriteString("| clients | ops/s ceiling per pass (1, 2, ...) |\n| ---: | --- |\n")
	for _, c := range r.Clients {
		var cells []string
		for k := 1; k <= r.Repeat; k++ {
			if v := r.passCeiling(c, every, k); v > 0 {
				cells = append(cells, bench.FormatCount(v))
			} else {
				cells = append(cells, "–")
			}
		}
		fmt.Fprintf(b, "| %d | %s |\n", c, strings.Join(cells, " / "))
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// writeContracts states every system's contract in full, and where the
// check of a failed run can be seen.
func writeContracts(b *bytes.Buffer, r *Result) {
	fmt.Fprintf(b, "\n**Contracts** (as each target states it):\n\n| system | durability | fsyncs per commit | acks from | reads |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range r.Systems {
		var c *bench.Contract
		for _, rr := range r.Runs {
			if rr.System == s && rr.Contract != nil {
				c = rr.Contract
				break
			}
		}
		if c == nil {
			fmt.Fprintf(b, "| %s | unstated | – | – | – |\n", s)
			continue
		}
		reads := c.Reads
		if c.ReadsDetail != "" {
			reads += ": " + c.ReadsDetail
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", s, c.Durability, c.FsyncsPerCommit, c.Acks, reads)
	}
	for _, rr := range r.Runs {
		if rr.Check != nil && len(rr.Check.DroppedKeys) > 0 {
			fmt.Fprintf(b, "\nRun %d (%s, %d clients, repeat %d): keys %s were never quiet and were left out of the bounded history (unchecked).\n",
				rr.Order, rr.System, rr.Clients, rr.Repeat, strings.Join(rr.Check.DroppedKeys, ", "))
		}
		if rr.Check != nil && rr.Check.Verdict != "linearizable" {
			fmt.Fprintf(b, "\nRun %d (%s, %d clients, repeat %d): %s", rr.Order, rr.System, rr.Clients, rr.Repeat, rr.Check.Verdict)
			if rr.Check.BadKey != "" {
				fmt.Fprintf(b, " on key %s", rr.Check.BadKey)
			}
			if rr.Check.Visualization != "" {
				fmt.Fprintf(b, " ([porcupine view](%s))", rr.Check.Visualization)
			}
			if rr.Check.Err != "" {
				fmt.Fprintf(b, ": %s", rr.Check.Err)
			}
			b.WriteString(".\n")
		}
	}
}
