// Package compare runs several Raft systems under the same load, side by
// side, and reports them together: `raftbench compare`.
//
// Contract:
//   - Every system runs at every client count Repeat times, each run on a
//     fresh cluster in a fresh data directory, through the one load
//     generator driver (bench.Run), with the same nodes, fsync policy,
//     value size, workload (preset, mix, distribution, load phase), keys
//     and seed.
//   - Runs are interleaved: within a repeat, client counts go in order and
//     for each the systems take turns, the starting system rotating with
//     the repeat, so machine noise (other processes, disk state, thermal)
//     spreads across systems instead of landing on one of them.
//   - CPU is measured per run as this process's user+system time
//     (getrusage) over the measured window (sampled at the driver's
//     once-a-second progress ticks, falling back to the whole run when a
//     run is too short to have two measured ticks). It includes the load
//     generator's own CPU, which is the same for every system.
//   - With fsync on (and Config.DiskFloor > 0), the disk floor is measured
//     before and after the runs at every client count
//     (bench.MeasureQuorumFloor: what the disk alone allows that many
//     clients' replicated writes), each way a log can be written (appended
//     and fsynced; overwriting a preallocated file with fdatasync), so each
//     fsync-on figure can be read against what the disk allowed in that
//     hour, whichever way a system writes: the ceiling is the better way's.
//     With Config.FloorEachPass the every-replica floor is measured again
//     right before each repeat's runs at each client count, and each run
//     is rated against its own pass's ceiling (Row.OfPassCeiling): a disk
//     whose speed changes within minutes is then set against the runs of
//     the same minute, not the best moment before or after all of them.
//   - Correctness gate (unless Config.NoCheck): every run records the
//     history of a sample of keys (bench.HistoryConfig; writes on them
//     carry unique values) and chaos/check checks it after the run
//     (exactly by its zones method when a key has no cas, else by
//     porcupine's search within Config.CheckTimeout per key); a failing
//     key's porcupine view is written beside the run's
//     JSON. Every run records the contract its target states
//     (bench.ContractTarget: durability, fsyncs per commit, where acks come
//     from, ReadIndex / lease / local / log reads). A row is ranked (gets
//     VsBestOther, against ranked rows only) only when every run of it
//     was checked linearizable and its contract class is the reference
//     one: the class most systems state, a tie going to quorum fsync and
//     the stronger read path; an unstated contract is never the reference.
//     Other rows say why (Row.Gate: not linearizable, unchecked, contract
//     differs, contract unstated), get no ratio, and are listed after the
//     ranked rows in compare.json, compare.md and the plots' legends,
//     whatever their speed. A :nofsync system therefore is never ranked
//     against fsync-on ones.
//   - A system's name may set target options, each after a colon
//     (ParseSystem): "floor:stores=3" is the floor target keeping a copy
//     of the state per node, "raftbench:lazy-commit=false" our engine
//     sending each commit index in a message of its own, each a row of
//     its own beside the plain name, interleaved with it. Every system
//     that sets options is opened and closed once before anything is
//     measured, so an option its target refuses fails the comparison at
//     once.
//   - A modelled disk (Config.ModelFsync, `--model-fsync D`): every system
//     that fsyncs gets the target option bench.ModelFsyncOption, so each
//     of its fsyncs is a wait of D (and the timer's wake-up) that never
//     stalls (nothing durable; contract durability
//     bench.DurabilityModelled, so such rows are ranked against each other
//     only). No disk floor is measured: there is no disk to measure. The
//     ranking then says what the designs do on a disk that is the same in
//     every hour.
//   - Outputs in Out: compare.json (every run, the per system x clients
//     aggregates and the disk floor samples), compare.md (a markdown
//     table: ops/s median and min, p50, p99, p99.9, CPU cores, ops per
//     CPU-second, entries per fsync, snapshots the nodes took in the
//     measured window, share of the disk's ceiling; one group commit's
//     log cycle for the systems that report it; every system's CPU per
//     operation in its own code and in the kernel, beside its fsyncs per
//     operation; and the
//     disk floor table), and gonum plots throughput_vs_clients (with the
//     disk's ceiling) and p99_vs_clients (PNG and SVG, one line per
//     system).
//
// It must never favour a system: no per-system load or settings beyond
// what each target's own package documents, and no dropping of runs; and
// never rank a row whose history was not proven linearizable or whose
// contract is weaker or different.
package compare
