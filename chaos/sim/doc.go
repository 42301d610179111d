// Package sim is raftbench's deterministic simulator: it runs N nodes of
// the real Raft core (package engine) with the in-memory WAL (wal.MemLog)
// and the KV state machine (engine/embed/kv) in one goroutine on a virtual
// clock, and injects network, disk and crash faults drawn from a single
// seed (in the spirit of FoundationDB's simulation and TigerBeetle's VOPR).
//
// # Contract
//
//   - One uint64 seed decides every choice of a run (see Params): cluster
//     size, latencies, drop/duplicate/reorder rates, partitions, crashes
//     and what a crash loses, slow and failing fsyncs, tick skew, client
//     behaviour. The same seed always produces the same event trace
//     (Result.TraceHash), so any failure replays exactly.
//   - The nodes are driven exactly as the runtime drives them (engine
//     Ready contract): Messages leave at once, Entries and HardState go to
//     the log, MessagesAfterPersist and Core.Persisted wait for the log's
//     sync, CommittedEntries are applied through a client-session layer so
//     a retried (client, seq) takes effect once, ReadStates are served
//     once applied reaches their index.
//   - Drawn from the seed too: log compaction (a node snapshots its KV
//     store, session table and voters every SnapEvery applied entries,
//     saves it with MemLog.SaveSnapshot and calls Core.Compact; a
//     restart restores the snapshot and hands it to Compact; a follower
//     that falls behind installs the leader's MsgSnap from
//     Ready.Snapshot), long outages that make followers fall behind,
//     leadership transfers to a random voter (thesis §3.10), and
//     single-server membership changes (thesis §4.1) that keep at least
//     MinVoters voters and, like etcd's strict reconfiguration check, a
//     quorum of the new configuration up. Spare nodes start outside the
//     configuration; removed nodes keep running and receiving. A
//     corrupted log kills a node for good only while every
//     configuration keeps a majority of nodes that are not dead.
//   - Safety invariants (election safety, one vote per term, log
//     matching, leader completeness, state-machine safety, monotonic
//     commit and term, the same state machine digest at every applied
//     index on every node (through snapshot installs and restarts), a
//     leader elected by a majority of its own configuration, a leader
//     commits only its own term's entries
//     (§5.4.2), a read index covers everything already committed (§6.4),
//     and "nothing acknowledged that is not durable on a majority of the
//     configuration that committed it") are
//     checked after every event (see checker); the first violation stops
//     the run and the recent events are kept for the report.
//   - After the fault phase a liveness phase heals the network, restarts
//     every crashed node, stops faults and demands that a new write
//     commits within a tick budget. The client history must then be
//     linearizable (chaos/check). The checker's search is bounded in wall
//     time (Options.CheckTimeout); an undecided check fails the run.
//   - Deliberate bugs (Options.EngineBugs, ForgetVoteOnRestart) work only
//     in binaries built with -tags raftbugs; they prove the checks bite.
//
// # What it must never do
//
// Read the wall clock, start goroutines, iterate a map where order
// matters, or draw randomness from anywhere but its own seeded PRNG
// (math/rand's stream is not promised stable across Go releases).
// Independent runs share nothing, so callers may run seeds in parallel.
package sim
