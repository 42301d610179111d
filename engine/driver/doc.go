// Package driver is the policy between engine.Core's Ready and the
// outside world, shared by the runtime (engine/runtime/node) and the simulator
// (chaos/sim) so the simulator tests the code that ships.
//
// Its one job: decide what the core's output obliges a node to do and
// in which order, without doing any of the waiting or I/O itself.
//
//   - Driver (owned by the goroutine that owns the core) carries out one
//     Ready at a time: a leader's snapshot is made durable after every
//     earlier write and after its hard state; Messages leave at once;
//     entries and hard state go to Storage.Submit without waiting (the
//     hard-state save policy: term and vote always, a commit index that
//     moved alone at most every CommitSaveTicks ticks);
//     MessagesAfterPersist leave from the write's done callback, and
//     Core.Persisted follows in Release, both only once the write and
//     every earlier one are durable; committed entries and confirmed
//     reads come back as a Batch.
//   - Applier (owned by the goroutine that owns the state machine)
//     applies a Batch: restores a newer snapshot first, applies
//     committed entries contiguously, each client command at most once
//     per (client id, seq) session (thesis §6.3: a window of the last 64
//     seqs per client, the last 4 results, sessions evicted in applied
//     order so every replica evicts alike), tracks the configuration in
//     force at the applied index, and says when a snapshot is due
//     (staggered across voters) and what it carries: sessions, state
//     machine, and that configuration in its metadata. A session evicted
//     from a full table is forgotten: a retry of its last request is
//     applied again as if new (the simulator shows this breaks
//     linearizability when MaxSessions is below the number of clients
//     retrying), so MaxSessions must exceed the clients with requests in
//     flight.
//   - ReadQueue answers a confirmed read only once applied has reached
//     its read index (thesis §6.4).
//   - The session entry header (AppendHeader, ParseEntry) is the format
//     of every client command in the log.
//
// Deliberate bugs (Bug, -tags raftbugs) let the simulator prove it
// catches mistakes that live here rather than in the core.
//
// # Never
//
// The package never starts a goroutine, reads a clock, sleeps, takes a
// lock, or touches files or the network: storage, transport and state
// machine are the small interfaces Storage, Transport and StateMachine,
// and time is the ticks its caller gives it. Nothing it hands out is
// acknowledged before it is durable where Raft says it must be.
package driver
