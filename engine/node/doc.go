// Package node is the runtime around the Raft core: it drives one
// engine.Core with a WAL (wal.Log), a transport and a StateMachine, and
// offers Propose, Read (ReadIndex), Status and TransferLeadership to an
// embedding program.
//
// # Goroutines and stages (DESIGN.md, "How a write flows")
//
//	clients ──Propose/Read──┐        transport ──receive──┐ (only queues)
//	                        ▼                              ▼
//	             inbox (bounded slices under one mutex, swapped per turn)
//	                        │
//	   loop goroutine (owns the core): each turn drains ALL queued
//	   proposals (one core.Propose call), messages, reads (one
//	   core.ReadIndex per turn) and ticks, then takes one Ready:
//	     1. rd.Messages go to the transport at once (the leader's
//	        AppendEntries overlap its own fsync, thesis §10.2.1);
//	     2. entries + hard state go to wal.Submit (group commit) without
//	        waiting; the WAL's flusher calls back when durable;
//	     3. core.Advance(rd);
//	     4. when a write's callback fires (flusher goroutine), it sends
//	        that Ready's MessagesAfterPersist (acks, votes) itself, then
//	        wakes the loop, which calls core.Persisted (a Ready with
//	        messages but no write releases them from the loop once every
//	        earlier write is durable);
//	     5. committed entries and read states go over a bounded channel
//	        to the apply goroutine.
//	                        │
//	   apply goroutine (owns the state machine and the session table):
//	   applies entries in order, answers proposal waiters, serves reads
//	   once applied >= their read index, takes snapshots.
//
// Under load, many client writes become one batch of entries, one fsync
// and one AppendEntries per follower.
//
// # Durability rules
//
// Nothing is acknowledged before it is durable on a quorum: a proposal's
// waiter is answered only after its entry is committed (the core counts
// the leader only for entries it reported Persisted) and applied.
// MessagesAfterPersist (vote grants, append acks) leave only after the
// write carrying their Ready's hard state and entries completed. A WAL
// failure stops the node (Err reports it); it never retries silently.
//
// # Client sessions (thesis §6.3)
//
// Every entry carries (client id, seq) before the command (see
// session.go). The apply goroutine keeps a bounded table: per client the
// highest seq, which of the 64 seqs below it were applied, and the last
// few results. A duplicate (a retried request, a duplicated MsgProp) is
// not applied again and gets the first result. Sessions are evicted in
// order of the log index that last touched them, identical on every
// replica, and saved in snapshots. Propose uses the node's own random
// session; ProposeSession is for callers that retry, and
// ProposeSessionUntil(ctx, n.LeaderChanged(), ...) lets them give up on a
// deposed leader (indefinitely) and retry the same session elsewhere.
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
// # Never
//
// The node never blocks its loop on fsync or on a client, never lets a
// queue grow without bound (full queues answer ErrBusy, a full inbox
// drops messages, which Raft tolerates), and never touches the core from
// any goroutine but the loop.
package node
