// Package bench is raftbench's load generator: one driver for every
// target (the in-process cluster, a TCP cluster of `raftbench serve`
// processes, peer Raft libraries), so their figures compare like with like.
//
// Contract:
//   - Run drives a Target closed-loop (RunConfig.Clients workers, each
//     sending when the last request answered) or open-loop (RunConfig.Rate
//     requests per second on a fixed schedule; slot k is due at start+k/rate
//     and is taken by whichever worker is free). Open-loop latency counts
//     from the intended send time, so a stall shows up as latency instead
//     of vanishing (no coordinated omission); the raw service time is kept
//     beside it.
//   - Latencies go into HDR histograms (microseconds, 3 significant digits)
//     striped over a few mutex-guarded shards; the collector swaps them out
//     once a second, so workers never allocate per operation and never wait
//     on the collector. A missing key or a cas mismatch is a result; only
//     operations the target could not answer are errors, counted by kind
//     (targets wrap ErrUnavailable / ErrIndeterminate; context errors are
//     timeouts or "unfinished" at the end of the drain period). Latency
//     figures include answered operations only.
//   - The warm-up is excluded from the summary (an op belongs to the
//     measured window by its intended send time) but kept in the per-second
//     series. Open-loop slots that were never sent because the run was cut
//     short are counted as errors, not silently dropped.
//   - Requests handed to Target.Do are valid only during the call: the key
//     buffer is reused and values are shared; a target must copy what it
//     keeps and must not modify them.
//   - WriteResults writes summary.json, timeseries.csv,
//     latency_percentiles.csv, histogram.hlog and PNG+SVG plots; ReadResults
//     and PlotOverlay redraw them; Sweep runs rates until the stopping rule
//     (SweepRule) trips.
//
// The package must never change a Target's meaning between runs, record
// figures from the warm-up in a summary, or drop an operation it sent
// from the counts.
package bench
