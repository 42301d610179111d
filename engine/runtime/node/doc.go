// Package node is the runtime around the Raft core: it drives one
// engine.Core with a WAL (wal.Log), a transport and a StateMachine, and
// offers Propose, Read (ReadIndex), Status and TransferLeadership to an
// embedding program.
//
// What a Ready obliges the node to do, and in which order, is decided by
// engine/driver, the same code the simulator (chaos/sim) runs under
// faults; this package is the goroutines and the real I/O around it.
//
// # Goroutines and stages
//
//	clients ──Propose/Read──┐        transport ──receive──┐ (only queues)
//	                        ▼                              ▼
//	             inbox (bounded slices under one mutex, swapped per turn)
//	                        │
//	   loop goroutine (owns the core and the driver.Driver): each turn
//	   drains ALL queued proposals (one core.Propose call; with
//	   Config.ProposalBatchesInFlight a leader may leave them queued until
//	   a batch commits or a tick passes), messages,
//	   reads (one ReadIndex per turn) and ticks, then takes one Ready and
//	   hands it to Driver.Handle, which
//	     1. sends rd.Messages to the transport at once (the leader's
//	        AppendEntries overlap its own fsync, thesis §10.2.1);
//	     2. submits entries + hard state to wal.Submit (group commit)
//	        without waiting (hard state: term and vote always, a commit
//	        index that moved alone at most every 100 ticks);
//	     3. calls core.Advance(rd);
//	     4. returns the committed entries and confirmed reads, which go
//	        over a bounded channel to the apply goroutine (applying does
//	        not wait for the local fsync).
//	   When a write is durable, the WAL's flusher runs the done callback
//	   the driver gave it: it sends that Ready's MessagesAfterPersist
//	   (acks, votes) itself, then counts the write and wakes the loop,
//	   whose Driver.Release calls core.Persisted in Ready order (and
//	   sends held-back messages of Readys that had no write of their own).
//	                        │
//	   apply goroutine (owns the state machine and the driver.Applier:
//	   session table, applied configuration, snapshot policy): applies
//	   entries in order, answers proposal waiters, serves reads from a
//	   driver.ReadQueue once applied >= their read index, and takes
//	   snapshots (staggered across voters, streamed into the WAL's
//	   snapshot file by a background goroutine).
//
// On its own WAL (Dir) a node never holds a snapshot image in memory
// (snapfiles.go): its own are streamed into a new snapshot file, which
// the WAL's flusher only renames into place (log writes never wait
// behind a snapshot); the core keeps only the metadata; chunks to
// lagging followers (the driver's snapxfer) are read from the file; a
// follower's loop goroutine writes incoming chunks straight into a new
// snapshot file, installed when the core's Ready carries the snapshot,
// and the apply goroutine restores from the file, streaming, as a
// restart does. A crash mid-transfer leaves the old snapshot (the WAL
// removes unfinished files when it opens) and the transfer restarts.
// Status reports transfers in progress.
//
// Under load, many client writes become one batch of entries, one fsync
// and one AppendEntries per follower. A leader woken by client requests
// alone first yields its P once (runtime.Gosched), so clients answered
// together, already runnable, queue their next requests into the same
// turn; Config.NoYieldToClients turns that off. An apply goroutine with
// nobody to answer (a follower's) yields its P once before each batch, so
// the goroutines on a write's critical path that are runnable (the
// leader's clients, loops, flushers) run first; Config.NoFollowerApplyYield
// turns that off. It then waits, if no read waits on the node and its log
// is lingering for the rest of a group commit's writes, until the linger
// ends, so its batch is applied while the logs fsync rather than while
// those writes are on their way; Config.NoFollowerApplyAfterLinger turns
// that off.
//
// # Durability rules
//
// Nothing is acknowledged before it is durable on a quorum: a proposal's
// waiter is answered only after its entry is committed (the core counts
// the leader only for entries it reported Persisted) and applied; a
// blind command (the StateMachine is a driver.BlindResulter, e.g. a KV
// write, whose result never depends on the state) that the session
// table will apply is answered at the start of its batch's apply, before
// the commands logged ahead of it are applied (driver.SettleHooks); a
// follower with no waiter registered skips that pass.
// Reads still wait for applied >= their read index, which covers every
// write answered before the read began.
// MessagesAfterPersist (vote grants, append acks) leave only after the
// write carrying their Ready's hard state and entries completed. A WAL
// failure stops the node (Err reports it); it never retries silently.
//
// # Client sessions (thesis §6.3)
//
// Every entry carries (client id, seq) before the command (the driver's
// session header). The apply goroutine's driver.Applier keeps a bounded
// table: per client the highest seq, which of the 64 seqs below it were
// applied, and the last 4 results. A duplicate (a retried request, a duplicated MsgProp) is
// not applied again and gets the first result. Sessions are evicted in
// order of the log index that last touched them, identical on every
// replica, and saved in snapshots, whose metadata carries the
// configuration in force at their index. Propose uses the node's own random
// session; ProposeSession is for callers that retry, and
// ProposeSessionUntil(ctx, n.LeaderChanged(), ...) lets them give up on a
// deposed leader (indefinitely) and retry the same session elsewhere;
// with the node's own channel the proposer does not wait on it (every
// proposer would share its lock): the loop answers such waiters itself
// at the change. ProposeFramedUntil is the same for a command placed
// after ProposalHeaderLen bytes of room, which the node fills with the
// session header and keeps as the entry (one allocation per proposal).
//
// # Errors
//
// Definite(err) is true only when the operation certainly did not and
// will not take effect: ErrBusy, ErrStopped before enqueueing,
// *engine.NotLeaderError, ErrProposalBackpressure, ErrProposalDropped,
// ErrLeaderChanged for reads. Timeouts (ErrTimeout, wrapping the
// context's error) and anything wrapped with ErrIndeterminate may still
// take effect. Proposals are not failed early on a leader change unless
// their log slot was provably taken by another entry.
//
// # Probe
//
// Config.Probe (nil by default: one nil check per site) receives the
// time each log index reaches each Stage on this node: queued, proposed,
// handed to the driver, durable, released to the core, a MsgApp received
// and stepped (followers), an ack received and stepped (leader, per
// follower), committed, returned to the client. Benchmarks pair the
// stages of one index across the nodes to split a write's latency into
// its hops (bench's inproc target, option critical-path). A Probe that
// also implements ReadProbe receives each ReadIndex round's ReadStages on
// the node serving it (the oldest read queued, the ReadIndex issued, the
// read state confirmed by a quorum, the reads answered by the apply
// goroutine, the first returned to its client): what a read waits for.
//
// # Never
//
// The node never blocks its loop on fsync or on a client, never lets a
// queue grow without bound (full queues answer ErrBusy, a full inbox
// drops messages, which Raft tolerates), and never touches the core from
// any goroutine but the loop.
package node
