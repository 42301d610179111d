// Package hashicorp runs github.com/hashicorp/raft v1.8.0 as a bench.Target,
// so the load generator can measure it beside our engine on the same load,
// payload and fsync policy.
//
// Importing the package registers two targets:
//
//   - "hashicorp": raft.DefaultConfig() with only the timeouts lowered for
//     an in-process/loopback cluster: HeartbeatTimeout 500 ms,
//     ElectionTimeout 500 ms, LeaderLeaseTimeout 250 ms (defaults
//     1 s / 1 s / 500 ms), or all three from TargetConfig.ElectionTimeout
//     T when it is set (T, T, T/2). Everything else is the library default:
//     MaxAppendEntries 64, BatchApplyCh false, CommitTimeout 50 ms,
//     TrailingLogs 10240, SnapshotThreshold 8192, SnapshotInterval 120 s,
//     pre-vote on, a plain FSM (one Apply call per entry).
//   - "hashicorp-tuned": the same timeouts plus MaxAppendEntries 512,
//     BatchApplyCh true, TrailingLogs 100000, SnapshotThreshold 200000
//     (so snapshots do not dominate a run), NoLegacyTelemetry true, and an
//     FSM that implements raft.BatchingFSM (one ApplyBatch per batch).
//
// Each of the cfg.Nodes nodes lives in cfg.Dir/node-<i>/ with:
//
//   - github.com/hashicorp/raft-wal v0.4.0 as LogStore and StableStore
//     (segment files in wal/, term and vote in raft-wal's bbolt meta file).
//     raft-wal has no option to turn fsync off, so this package hands it a
//     wrapped file system (a types.VFS passed through segment.NewFiler and
//     wal.WithSegmentFiler) whose Sync counts each segment fsync and, only
//     when cfg.Fsync is false, skips it. Documented limitation: raft-wal's
//     bbolt meta store (term/vote, segment list) is outside that seam and
//     still fsyncs with cfg.Fsync false; it writes only on elections and
//     segment rotations, never per entry. With Options["model-fsync"]=D
//     (bench.ModelDisk) each segment fsync is the model's wait of D
//     instead, counted the same; the meta store's and the snapshot
//     store's fsyncs stay real (on a tmpfs they cost nothing).
//   - raft.FileSnapshotStore in snapshots/ (retain 1).
//   - transport: raft.NewInmemTransport wired all-to-all (default,
//     Options["transport"]="inmem"), or raft.NewTCPTransport on
//     127.0.0.1:0 (Options["transport"]="tcp", pool 3, timeout 10 s).
//
// The FSM is a kv.Store: Apply returns the encoded kv result, which the
// leader's ApplyFuture carries back to Do.
//
// Reads are linearizable with the same guarantees as ReadIndex (Raft thesis
// §6.4) and without a log write per read:
//  1. once per leader term, the leader runs Barrier(), which commits an
//     entry of its own term and waits until the FSM has applied everything
//     before it (thesis §6.4 step 1; also what Consul does before its
//     "consistent" reads);
//  2. per read, VerifyLeader() confirms leadership with a heartbeat round to
//     a quorum (step 3; hashicorp coalesces concurrent verifications);
//  3. the term is checked unchanged since the barrier, then the read runs
//     on the leader's kv.Store. Every write acknowledged before the read
//     began was applied on this leader's FSM (the leader answers Apply only
//     after its FSM applied the entry, and earlier terms' entries precede
//     the barrier), which is the ReadIndex condition applied >= commit index.
//
// Do routes to the current leader (polling raft.State every millisecond
// while there is none). A write that fails with ErrNotLeader,
// ErrLeadershipTransferInProgress or ErrEnqueueTimeout was never appended,
// so it is retried on the new leader; any other failure (ErrLeadershipLost,
// ErrRaftShutdown after enqueue, ...) is returned as an error because the
// write may or may not have happened. Reads are retried on any leadership
// error, since they change nothing.
//
// Faults (bench.FaultTarget, in-memory transport only): Isolate cuts a
// node's links both ways. Kill cuts them too (requests to it fail at once,
// as to a dead process's port), shuts its raft down and drops its FSM;
// Restart starts raft again over the same raft-wal and snapshot store with
// a fresh FSM, which raft restores from the latest snapshot and the log,
// and reconnects it.
//
// Stats: Fsyncs counts raft-wal segment fsyncs (0 when cfg.Fsync is false),
// FsyncEntries the entries those appends carried (raft-wal's
// log_entries_written counter), LeaderChanges the times any node became
// leader (from LeaderCh, which may coalesce flaps faster than a goroutine
// wakes up). AppendMsgs/AppendEntries stay 0: the transports do not expose
// them.
//
// This package must never change the library's behaviour beyond the
// configuration stated here; it measures hashicorp/raft, not a fork of it.
package hashicorp
