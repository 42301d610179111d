// Package report turns what package bench measured into what a reader
// sees: a run's output directory (summary.json, timeseries.csv,
// latency_percentiles.csv, histogram.hlog, PNG+SVG plots), the live
// progress line, the summary table, the markdown table over several runs,
// and a sweep's sweep.json and latency-versus-throughput plot.
//
// Contract:
//   - WriteResults writes a run's files through a temporary file and a
//     rename, so a reader never sees half a file; ReadResults reads them
//     back, and PlotRun, PlotOverlay and SweepPlot redraw from what was
//     read (`raftbench plot`), so a plot can always be remade from disk.
//   - histogram.hlog holds the measured window's full histograms in the
//     HdrHistogram interval-log format (tags "latency" and "service").
//   - Merge combines the runs of several load generators (read back with
//     ReadMergeInput) into one Summary: counts add up, percentiles come
//     from the merged histograms, never from averaged percentiles; runs
//     with different loads or one seed are refused (ErrMismatch), naming
//     the difference. `raftbench merge` writes it like any run.
//   - WriteFailover writes a failover run: the run's own files plus
//     failover.json, failover.md and the timeline plots failover_throughput
//     and failover_p99 with the fault, the new leader and the first write
//     marked.
//   - ProgressPrinter implements bench.ProgressSink: on a terminal it
//     rewrites one line (cut to the terminal's width), elsewhere it
//     prints one line a second.
//   - Numbers print through bench.FormatCount and bench.FormatMs, so a
//     figure reads the same in a table, a plot and a progress line.
//
// It must never measure, drive a target or change a figure: it formats
// and stores what bench.Summary, bench.IntervalStats and
// bench.SweepResult hold, and merges stored runs, nothing else.
package report
