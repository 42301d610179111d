// Package bench is raftbench's load generator: one driver for every
// target (the in-process cluster "inproc", a TCP cluster of `raftbench
// serve` processes "tcp", and the peer Raft libraries registered from
// bench/peers), so their figures compare like with like.
//
// Contract:
//   - Run drives a Target closed-loop (RunConfig.Clients workers, each
//     sending when its last request answered) or open-loop (RunConfig.Rate
//     requests per second on a fixed schedule: slot k is due at
//     start+k/rate; a pacer releases due slots to whichever of
//     RunConfig.Workers is free, waking at most once per 100 µs and then
//     releasing every slot due, never one early). Open-loop latency counts
//     from the intended send time, so a stall shows up as latency instead
//     of vanishing (no coordinated omission); the raw service time and the
//     generator's own send lag are kept beside it.
//   - The load is a workload: a Mix of write (update), read, cas, insert
//     (a write to a key never written) and rmw (a read, then a cas from
//     the value read; one operation whose latency covers both), over keys
//     drawn uniform, zipfian (Gray et al.'s generator as YCSB implements
//     it; theta in (0,1), default 0.99, key 0 hottest) or latest (the
//     newest key minus a zipfian rank). Presets (LookupWorkload): YCSB's
//     core workloads A, B, C, D and F, which write every key once before
//     the warm-up (the load phase, RunConfig.Preload, not measured), and
//     "default" (`make bench`'s 50/40/10 write/read/cas, uniform) and
//     "write-only", which do not. A mix without insert and rmw draws
//     exactly the requests it drew before they existed. Summary.Workload
//     records the full load.
//   - Summary.LatencyByOpMs keeps each kind of operation's latency apart
//     (a read waits for a ReadIndex round, a write for a quorum's fsyncs;
//     the mix's percentiles blend them).
//   - With RunConfig.History, Run records every operation on a sample of
//     keys, from the first request (load phase included), in bounded
//     memory, for chaos/check (HistoryConfig says how, and why what it
//     leaves out cannot change the verdict). Targets state their
//     durability and read contract through ContractTarget.
//   - Failover runs a closed-loop load against a FaultTarget (inproc: kill and partition; the peers: partition) and,
//     FailoverConfig.At after the warm-up, kills (stops, WAL closed) or
//     isolates its leader for FailoverConfig.For: time to another leader in
//     a higher term (polled every millisecond), time to the first
//     successful write sent after the fault, failed and unknown requests
//     in between, HDR latency per phase (before, during = up to that
//     write, after; by intended send time) and a timeline in 100 ms bins,
//     from a per-operation record (RunConfig.Observer) kept per worker.
//   - Timeline (`run --timeline`) is another Observer: latency per fine
//     bucket by intended send time, with the process's GC cycles and the
//     in-process nodes' snapshots beside it (each as a window, from its
//     capture until installed: node.Stats.SnapshotSaving, polled), to tie
//     a tail's stalls to what ran then; summary.json's snapshot_windows
//     compares the measured time inside those windows with the rest.
//   - Latencies go into HDR histograms (microseconds, 3 significant digits)
//     striped over a few mutex-guarded shards; the collector swaps them out
//     once a second, so workers never allocate per operation and never wait
//     on the collector. Every target's requests are encoded into bytes
//     carved from shared chunks (CommandBytes, EncodeCommand): a goroutine
//     that allocates while the garbage collector marks must first mark
//     64 KiB itself, and an open loop's thousand workers each allocating
//     its request put a collection's whole mark on the requests. Each run's
//     Summary.GC says what the process allocated per operation and how
//     often it collected. A missing key or a cas mismatch is a result; only
//     operations the target could not answer are errors, counted by kind
//     (targets wrap ErrUnavailable / ErrIndeterminate; a context deadline
//     is a timeout; requests cancelled at the end of the drain period, and
//     open-loop slots never sent, are "unfinished"). Latency figures cover
//     answered operations only.
//   - The warm-up is excluded from the summary (an operation belongs to the
//     measured window by its intended send time) but kept in the per-second
//     series, as is the drain after the end.
//   - Requests handed to Target.Do are valid only during the call: the key
//     buffer is reused and values are shared; a target must copy what it
//     keeps and must not modify them.
//   - Run returns a Summary and streams IntervalStats to a ProgressSink;
//     it writes no files and prints nothing. Everything a reader sees
//     (summary.json, CSVs, the HDR log, plots, the progress line, tables)
//     is bench/report's job. Sweep runs rates until the stopping rule
//     (SweepRule) trips twice in a row at one rate.
//   - DescribeEnvironment states where a result was measured: CPU model,
//     CPUs, kernel, Go, commit, and the file system, device and
//     rotational flag of the data directory; `run`, `failover` and
//     `compare` record it (Summary.Environment, compare.json) and print it.
//   - Metrics are updated once a second on a registry the caller passes in
//     (NewMetrics), never on the global one.
//   - MeasureQuorumFloor measures the disk, not a target: what it alone
//     allows N clients' writes replicated to a quorum of log files (group
//     commit per file), or, with FloorConfig.Rate, writes on an open loop's
//     fixed schedule counted from their due times: the floor under every
//     fsync-on target's figures on that disk. Logs are appended and
//     fsynced, or (FloorConfig.Overwrite) overwrite a preallocated file
//     with fdatasync; MeasureBetterFloor measures both and keeps the better,
//     as every figure rated against the floor must (a system may write its
//     log either way).
//   - The floor target ("floor", floortarget.go) is the disk floor as a
//     system under load: each write or cas appended in one order to every
//     one of Nodes group-committed logs, applied to one store and answered
//     once a majority of the logs hold it durable; reads answered by that
//     store at once. No consensus, never a system to use: beside a system in
//     one compare it says what the load generator, the CPUs and the disk
//     leave any design, and what the system's own work costs.
//   - The modelled disk (ModelDisk, modeldisk.go: option model-fsync=D of
//     the inproc and floor targets and of the peer targets, whose log files
//     call its Wait; `compare --model-fsync` gives it to every system)
//     replaces every fsync by a wait of D (and the timer's wake-up) that
//     never stalls, and makes nothing durable (the targets' contracts say
//     so: durability DurabilityModelled): a tail measured on it is the
//     system's own, not the disk's, and a ranking on it does not depend on
//     the disk's hour.
//   - MeasureMemoryFloor does the same for memory (`run --memory-floor`,
//     at the state's size, StateSizer): a dependent read missing every
//     cache, the same within a cache, a page's first write. It bounds
//     nothing; held beside a state-size ratio it says how much of a large
//     state's cost is the machine's memory.
//
// The package must never record figures from the warm-up in a summary,
// drop an operation it sent (or should have sent) from the counts, or
// report a result the target did not give.
package bench
