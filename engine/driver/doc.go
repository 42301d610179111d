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
//     committed entries contiguously (telling a Prefetcher state machine
//     each group of commands before applying it, so a large state's
//     cache misses overlap), each client command at most once
//     per (client id, seq) session (thesis §6.3: a window of the last 64
//     seqs per client, the last 4 results, sessions evicted in applied
//     order so every replica evicts alike), tracks the configuration in
//     force at the applied index, and says when a snapshot is due
//     (staggered across voters) and what it carries: sessions, state
//     machine, and that configuration in its metadata. A snapshot is
//     restored from its bytes or, streaming, from an io.Reader
//     (RestoreFrom; ApplierConfig.OpenSnapshot for a runtime that keeps
//     snapshots in files and hands its core only their metadata). A session evicted
//     from a full table is forgotten: a retry of its last request is
//     applied again as if new (the simulator shows this breaks
//     linearizability when MaxSessions is below the number of clients
//     retrying), so MaxSessions must exceed the clients with requests in
//     flight. With a BlindResulter state machine and SettleHooks, the
//     commands whose result cannot depend on the state (a KV write) and
//     that the session table will apply are settled (answerable) before
//     any command of their batch is applied; they are still applied in
//     their turn, and reads still wait for applied >= their read index.
//   - Snapshot streaming (snapxfer.go): the core's MsgSnap becomes a
//     stream of MsgSnapChunk of at most TransferConfig.ChunkBytes, at
//     most ChunksInFlight unacknowledged per follower, each with its
//     offset, the total size, a done flag and a CRC-32C. The follower
//     (Driver.Step) writes chunks in order to a SnapshotWriter, refuses a
//     chunk at the wrong offset, of the wrong size, with a bad checksum
//     or from a deposed leader (the leader rewinds to the offset it is
//     told), and steps the snapshot into its core only once every byte
//     arrived: a partial or corrupt transfer is never installed. A stalled
//     stream resumes from the last acknowledged offset; another leader's
//     or another snapshot's transfer restarts from 0. The bytes come from
//     a SnapshotSource and go to a SnapshotSink (memory by default, a
//     temporary file in the runtime).
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
