// Package etcd runs go.etcd.io/raft/v3 v3.7.0 as a bench.Target named
// "etcd", driven the way the library documents (raft.Node and its Ready
// loop), so the load generator can measure it beside our engine.
//
// Configuration of every node (raft.Config):
//
//	ElectionTick 10 (or TargetConfig.ElectionTimeout / 10 ms),
//	HeartbeatTick 1, one Tick every 10 ms (so a leader heartbeats every
//	10 ms and elections time out after 100-200 ms by default),
//	MaxSizePerMsg 1 MiB, MaxInflightMsgs 256, CheckQuorum true,
//	PreVote true, ReadOnlyOption ReadOnlySafe (the default: ReadIndex
//	confirmed by a heartbeat round), AsyncStorageWrites false (the classic
//	loop), MaxUncommittedEntriesSize and MaxCommittedSizePerReady at their
//	defaults (unlimited; MaxSizePerMsg). The cluster is started with
//	raft.StartNode and all cfg.Nodes peers (IDs 1..N).
//
// Each node runs one goroutine with the classic Ready loop, in the order
// the library's own documentation prescribes (persist -> send -> apply,
// in series):
//
//  1. persist: the Ready's entries, hard state and snapshot metadata are
//     encoded (protobuf, as etcd's WAL does) into length- and
//     CRC-framed records, appended to cfg.Dir/node-<i>/raft.log with one
//     write and made durable with one fdatasync per Ready when
//     raft.MustSync says so (new entries, term or vote; a Ready that only
//     moves the commit index is written but not synced, as in etcd
//     server); skipped, and not counted, when cfg.Fsync is false. Then
//     raft.MemoryStorage gets
//     the same entries and hard state. The file is append-only and not
//     preallocated; it is never read back: MemoryStorage holds exactly
//     what it made durable (it is filled only after the write and
//     fdatasync), and a restarted node starts from that.
//  2. send: messages go to the peers' inboxes, in-process buffered
//     channels (capacity 4096); a full inbox drops the message and
//     reports the peer unreachable, as a real transport would.
//  3. apply: committed entries are applied to the node's kv.Store in
//     order; conf changes go to ApplyConfChange.
//  4. Advance.
//
// Every 100,000 applied entries a node snapshots its kv.Store into the
// MemoryStorage and compacts the log, keeping 5,000 entries for slow
// followers (etcd server's defaults, SnapshotCount and
// SnapshotCatchUpEntries).
//
// Writes: Do prefixes the command with a target-unique 8-byte request id,
// proposes it on the leader and waits in a registry for the entry to be
// applied there; the apply loop hands the kv result to the waiter. A
// proposal refused with ErrProposalDropped was never appended and is
// retried; a proposal that was accepted but whose node then lost
// leadership, or that was not applied within 10 s, fails with an error
// (its outcome is unknown).
//
// Reads: linearizable via ReadIndex. As etcd server does, concurrent
// reads on a node share one node.ReadIndex request (one in flight per
// node; readers arriving meanwhile form the next batch); each waits until
// the node has applied up to the returned index, then reads its kv.Store.
//
// Options["reads"] = "follower-local" (also registered as the target
// "etcd-follower-reads") is deliberately unsafe: a follower answers reads
// from its own state without ReadIndex, so reads can miss acknowledged
// writes; its contract says local reads. It exists to show that compare's
// correctness gate catches such a system (TestFollowerReadsAreCaught).
//
// Options["model-fsync"] = D (bench.ModelDisk; the only option
// "etcd-follower-reads" takes) replaces each fdatasync of the log file by
// the model's wait of D; the contract then says nothing is durable.
//
// Faults (bench.FaultTarget): Isolate drops every message to and from a
// node in send. Kill crashes a node: its raft.Node stops, its kv.Store and
// read state (one "life") are dropped, messages to it are lost and its
// waiting proposals end with an unknown outcome. Restart starts the next
// life the way a process restarting from disk would: raft.RestartNode
// over the same MemoryStorage, the state machine restored from the last
// snapshot and the later committed entries applied again.
//
// Stats: Fsyncs and FsyncEntries (entries persisted by those fdatasyncs)
// from the log files; AppendMsgs/AppendEntries from the MsgApp messages
// sent; LeaderChanges counts the times any node became leader.
//
// This package must never change the library's behaviour; it only drives
// it the documented way.
package etcd
