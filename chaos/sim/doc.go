// Package sim is raftbench's deterministic simulator: it runs N nodes of
// the real Raft core (package engine) behind the runtime's own driver
// (engine/driver) with the in-memory WAL (wal.MemLog) and the KV state
// machine (engine/embed/kv), in one goroutine on a virtual clock, and injects
// network, disk and crash faults drawn from a single seed (in the spirit
// of FoundationDB's simulation and TigerBeetle's VOPR: the production
// replica code under controlled nondeterminism).
//
// # Contract
//
//   - One uint64 seed decides every choice of a run (see Params): cluster
//     size, latencies, drop/duplicate/reorder rates, partitions, crashes
//     and what a crash loses, slow and failing fsyncs, tick skew, client
//     behaviour. The same seed always produces the same event trace
//     (Result.TraceHash), so any failure replays exactly.
//   - Each node runs the same driver.Driver, driver.Applier and
//     driver.ReadQueue as engine/runtime/node, so the runtime's policies are what
//     is tested: the per-Ready persist queue (MessagesAfterPersist leave
//     from the write's done callback, Core.Persisted follows in Ready
//     order), the hard-state save policy (a commit index that moved
//     alone is saved at most every 100 ticks), the apply cursor, the
//     session table (64-seq window, 4 cached results, session header),
//     reads answered once applied reaches their index, and snapshot
//     triggering (staggered) with the applied configuration in
//     Meta.Voters. What the simulator adds is only plumbing — the
//     driver's Storage is the node's MemLog with fsyncs as timed events,
//     its Transport the simulated network, its clock the virtual ticks —
//     and the checker's mirrors: every Ready is shown to the checker
//     before the driver carries it out, every durable write updates a
//     mirror of the durable log, every applied entry is checked, and
//     Stats.Driver counts the driver paths each run took.
//   - Drawn from the seed too: log compaction (the applier's policy asks
//     for a snapshot every SnapEvery applied entries, staggered by node;
//     the node saves it with MemLog.SaveSnapshot and calls Core.Compact;
//     a restart restores the snapshot and hands it to Compact; a
//     follower that falls behind installs the leader's MsgSnap from
//     Ready.Snapshot through the driver), long outages that make followers fall behind,
//     leadership transfers to a random voter (thesis §3.10), and
//     membership changes (single-server, thesis §4.1; and, drawn by
//     membership.go, learners added and promoted, voters replaced
//     through joint consensus (§4.3) left automatically or explicitly,
//     the leader removed) that keep at least
//     MinVoters voters and, like etcd's strict reconfiguration check, a
//     quorum of the new configuration up. Spare nodes start outside the
//     configuration; removed nodes keep running and receiving. A
//     corrupted log kills a node for good only while every
//     configuration keeps a majority of nodes that are not dead.
//   - Safety invariants (election safety, one vote per term, log
//     matching, leader completeness, state-machine safety, monotonic
//     commit and term, the same state machine digest at every applied
//     index on every node (through snapshot installs and restarts), a
//     leader elected by a majority of its own configuration (of each
//     half of a joint one; a learner never counts or leads), no two
//     disjoint majorities across a committed configuration change, a
//     change appended only once the previous one and an entry of the
//     leader's term are committed (membership.go), a leader
//     commits only its own term's entries
//     (§5.4.2), a read index covers everything already committed (§6.4),
//     a read is served only once its index is applied, only committed
//     entries are applied, and "nothing acknowledged that is not durable
//     on a majority of the configuration that committed it") are
//     checked after every event (see checker); the first violation stops
//     the run and the recent events are kept for the report.
//   - After the fault phase a liveness phase heals the network, restarts
//     every crashed node, stops faults and demands that a new write
//     commits within a tick budget. The client history must then be
//     linearizable (chaos/check). The checker's search is bounded in wall
//     time (Options.CheckTimeout); an undecided check fails the run.
//   - A run can be recorded as an event trace (Record: each handled
//     event's identity and the random values drawn while handling it;
//     recording does not change the run) and any subsequence of the
//     trace replayed through the same cores, drivers, disks, clients and
//     checker (ReplayScript, replay.go): the script orders the events,
//     events it leaves out never happen. ShrinkTrace delta-debugs a
//     failing seed's trace down to a one-minimal script that fails the
//     same invariant (`raftbench sim --seed N --shrink FILE`, replayed by
//     `--replay-trace`); FindFirstBad names the fault after which the
//     seed's run always fails.
//   - Deliberate bugs (Options.EngineBugs in the core, DriverBugs in the
//     shared driver, ForgetVoteOnRestart) work only in binaries built
//     with -tags raftbugs; they prove the checks bite (bugs_test.go
//     demands each is caught within 200 seeds and names the invariant).
//
// # What it must never do
//
// Read the wall clock, start goroutines, iterate a map where order
// matters, or draw randomness from anywhere but its own seeded PRNG
// (math/rand's stream is not promised stable across Go releases).
// Independent runs share nothing, so callers may run seeds in parallel.
package sim
