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
	fmt.Fprintf(&b, "# raftbench compare\n\n")
	fmt.Fprintf(&b, "%d nodes in-process per system, fsync **%s**, %d-byte values, closed loop, "+
		"mix %s, %d keys (%s), %.0f s warm-up + %.0f s measured, %d repeat(s) interleaved across systems; "+
		"%d CPUs, %s, %s.\n\n", r.Nodes, fs, r.ValueBytes, r.Mix, r.Keys, r.KeyDist, r.WarmupS, r.DurationS,
		r.Repeat, r.CPUs, r.GoVersion, r.Date)
	if r.Command != "" {
		fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	}
	fmt.Fprintf(&b, "Latencies are medians over repeats of each run's percentile; CPU cores is this process's "+
		"CPU time (nodes and load generator) per wall second in the measured window.\n\n")
	fmt.Fprintln(&b, "| system | clients | ops/s median | ops/s min | p50 ms | p99 ms | p99.9 ms | CPU cores | ops/CPU-s | entries/fsync | vs best other | errors |")
	fmt.Fprintln(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		epf := "–"
		if row.EntriesPerFsync != nil {
			epf = strconv.FormatFloat(*row.EntriesPerFsync, 'f', 1, 64)
		}
		vs := "–"
		if row.VsBestOther > 0 {
			vs = strconv.FormatFloat(row.VsBestOther, 'f', 2, 64) + "x"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.3f | %.3f | %.3f | %.2f | %s | %s | %s | %d |\n",
			row.System, row.Clients, count(row.OpsMedian), count(row.OpsMin), row.P50Ms, row.P99Ms,
			row.P999Ms, row.CPUCores, count(row.OpsPerCPUSec), epf, vs, row.Errors)
	}
	writeFloor(&b, r)
	fmt.Fprintf(&b, "\nPlots: [throughput vs clients](throughput_vs_clients.svg), [p99 vs clients](p99_vs_clients.svg). "+
		"Every run: compare.json and runs/.\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

// writeFloor states the disk floors under the one-client figures.
func writeFloor(b *bytes.Buffer, r *Result) {
	if len(r.DiskFloor) == 0 {
		return
	}
	f0 := r.DiskFloor[0]
	fmt.Fprintf(b, "\n**Disk floor**: what this disk allows one client's write, whatever the code. Files in the data "+
		"directory's file system each append a %d-byte record with write+fsync at once, and a round ends when %d of %d "+
		"have it durable, as a write on %d in-process nodes waits for a quorum of fsyncs", f0.RecordBytes, f0.Quorum, f0.Nodes, f0.Nodes)
	share := 0.0
	if m, err := bench.ParseMix(r.Mix); err == nil {
		share = (m.Write + m.Cas) / (m.Write + m.Read + m.Cas)
	}
	if share > 0 {
		fmt.Fprintf(b, "; with this mix's %.0f%% writes and cas, one client's ops/s cannot exceed writes/s / %.2f even if reads cost nothing", 100*share, share)
	}
	b.WriteString(".\n\n")
	kinds := []struct {
		files int
		what  string
	}{
		{f0.Quorum, "only the quorum's files write: a lower bound for any fsync-on design here"},
		{f0.Nodes, "every replica's file writes, a lagging one catching up with one write+fsync: the usual design, every replica fsyncing each write"},
	}
	for _, k := range kinds {
		best := 0.0
		var parts []string
		for _, f := range r.DiskFloor {
			if f.Files != k.files {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s the runs mean %.0f µs (p50 %.0f, p99 %.0f, %d rounds)", f.When, f.MeanUs, f.P50Us, f.P99Us, f.Rounds))
			if best == 0 || f.MeanUs < best {
				best = f.MeanUs
			}
		}
		if best == 0 {
			continue
		}
		fmt.Fprintf(b, "- %d of %d files (%s): %s; at most ~%s writes/s", k.files, f0.Nodes, k.what, strings.Join(parts, ", "), count(1e6/best))
		if share > 0 {
			fmt.Fprintf(b, ", ~%s ops/s for one client on this mix", count(1e6/(share*best)))
		}
		b.WriteString(" (the better sample).\n")
		if k.files == f0.Nodes {
			break // one node: both kinds are the same file
		}
	}
}

// count formats a rate with thousands separators: 12345.6 -> "12,346".
func count(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
