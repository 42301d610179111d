package compare

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	fmt.Fprintf(&b, "\nPlots: [throughput vs clients](throughput_vs_clients.svg), [p99 vs clients](p99_vs_clients.svg). "+
		"Every run: compare.json and runs/.\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
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
