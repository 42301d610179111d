package wal

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures Open. The zero value is usable: every zero limit
// takes its default.
type Options struct {
	// SegmentBytes is the target size of one segment file (default
	// 4 MiB): a segment ends with the first entry that brings it to this
	// size or more. Each rotation costs an fsync of the full segment and
	// of the directory; snapshots free the log one whole segment at a
	// time.
	SegmentBytes int
	// MaxQueueWrites bounds the writes waiting for the flusher (default
	// 8192). Submit fails fast with ErrQueueFull beyond it.
	MaxQueueWrites int
	// MaxQueueBytes bounds the encoded bytes waiting for the flusher
	// (default 64 MiB). Submit fails fast with ErrQueueFull beyond it.
	MaxQueueBytes int
	// MaxBatchBytes bounds the bytes one group commit writes (default
	// 8 MiB). A single write larger than this fails with ErrTooLarge.
	MaxBatchBytes int
	// MaxCommitDelay bounds how long the flusher waits, after a group
	// commit of several records (entries; a write without entries counts
	// one), for that many records to be queued again before it starts
	// the next commit (default 200µs, negative disables). Without it,
	// concurrent writers settle into two cohorts that alternate fsyncs,
	// each carrying half of them; with it, they share one. It counts
	// records rather than writes because a caller's writes are its own
	// batches (a Raft node's one per Ready): the same commands come as
	// two writes one time and three the next. A lone record never
	// waits: the delay applies only after commits of two or more, and
	// ends as soon as as many are queued (Postgres's commit_delay, made
	// adaptive).
	MaxCommitDelay time.Duration
	// MaxCommitDelayFsyncShare lets that wait last longer on a disk whose
	// fsyncs are slow: up to this share of the log's recent fsync time (a
	// moving mean over about its last eight group commits) when that is
	// longer than MaxCommitDelay. A write that misses a group commit
	// waits for that commit's whole fsync before its own begins, so
	// holding the commit for most of an fsync, for the rest of the last
	// commit's writers, costs the writes already queued less than missing
	// costs the late ones, and the disk gets fewer, larger flushes. On a
	// disk whose fsyncs take less than MaxCommitDelay / share, or with
	// fsync off, MaxCommitDelay alone applies. 0 means
	// DefaultMaxCommitDelayFsyncShare; negative: MaxCommitDelay alone.
	// At most MaxCommitDelayFsyncShareLimit.
	MaxCommitDelayFsyncShare float64
	// MinSyncInterval, if positive, starts a group commit no sooner than
	// this long after the previous one started: writes queue meanwhile
	// and the next fsync carries them all. For disks that stall once
	// asked for more flushes per second than a budget allows (the
	// provisioned operations of a cloud volume, a throttled virtual
	// disk): fewer, larger flushes, each write waiting at most this much
	// longer. 0 (the default): a commit starts as soon as writes are
	// queued (and MaxCommitDelay allows).
	MinSyncInterval time.Duration
	// BlockingFsync makes the flusher always fsync with plain blocking
	// syscalls. By default, where the kernel allows io_uring (Linux 5.1+,
	// not forbidden by seccomp or kernel.io_uring_disabled), an fsync that
	// would leave no P (GOMAXPROCS slot) free for other goroutines, or any
	// fsync while other WALs are open in the process, is handed to the
	// kernel through an io_uring while the flusher parks (see "Fsync
	// offload" in doc.go). Durability is the same either way.
	// Stats().FsyncOffload says whether the ring is available.
	BlockingFsync bool
	// OffloadLoneFsyncs hands a segment fsync to the io_uring whenever the
	// default would (it would occupy the last P, or other WALs are open
	// in the process), even while this WAL's writes come one at a time
	// (by default those fsync directly: the ring's wake-ups would be a
	// lone writer's latency). For several WALs in one process under load
	// that arrives on its own schedule (an in-process cluster driven by an
	// open loop), where two lone fsyncs can hold every P while requests
	// keep arriving; see "Fsync offload" in doc.go. No effect without the
	// ring.
	OffloadLoneFsyncs bool
	// OffloadLeaderFsyncs drops the one-at-a-time exception while the
	// node that owns the WAL leads (SetLeading): a leader's fsync goes
	// through the io_uring whenever the default would. Followers
	// keep the exception. For several nodes in one process: their
	// leader's lone fsync and a follower's can hold both Ps of a 2-CPU
	// machine while the other follower's loop must take the next append;
	// the commit seldom waits for the leader's own fsync, so the ring
	// costs it less than those waits when fsyncs are slow (a loaded
	// disk), and more when they are fast. No effect without the ring.
	OffloadLeaderFsyncs bool
	// AppendSegments writes every segment by appending to a file that
	// grows, each commit fsynced. By default each new segment is instead
	// written into a file of zeros prepared (written out step by step, then fsynced)
	// beforehand on a goroutine of its own, and a commit inside it is made
	// durable with fdatasync: no file size changes, so no journal commit
	// per fsync (see prealloc.go). The on-disk format is the same once a
	// segment is full or the WAL closed; a crash can leave zeros after the
	// last segment's records, which Open cuts like a torn tail. The
	// default costs a segment's worth of extra disk writes (the zeros)
	// per segment. With UnsafeNoFsync segments are always appended.
	AppendSegments bool
	// RecycleSegments is how many segment files a snapshot's compaction
	// frees the WAL keeps, instead of deleting them, to become later
	// segments in place of new files of zeros (recycle.go): the disk then
	// takes the log's bytes once instead of twice. 0 means
	// DefaultRecycleSegments; negative, none (every spare is zeros). The
	// kept files cost that much disk space beside the log (at most
	// RecycleSegments segments). No effect with AppendSegments.
	RecycleSegments int
	// UnsafeNoFsync turns off EVERY fsync (segments, hard state,
	// snapshot, directories). Acknowledged writes are then lost on a
	// power failure or kernel crash. FOR BENCHMARKS ONLY; never set it
	// for a node whose data matters.
	UnsafeNoFsync bool
	// SnapshotWriteRate, if positive, paces the writing of snapshot
	// files (CreateSnapshot: a node's own and those a follower receives)
	// to at most this many bytes per second, so their bytes reach the
	// disk spread out instead of in a burst that every log fsync of the
	// moment has to wait behind (a virtual disk's cache flush carries all
	// bytes written before it, whoever wrote them). 0 (the default):
	// unpaced; the writer is then bounded only by the disk, through the
	// step-by-step writeback (see doc.go). A paced snapshot takes
	// longer, and the log it will compact grows meanwhile.
	SnapshotWriteRate int64
	// FS is the file system the WAL writes through (default OSFS). Tests
	// and the chaos tools pass a fault-injecting one (wal/errorfs). The
	// io_uring fsync offload is used only with OSFS.
	FS FS
	// Logger receives recovery events (a cut torn tail). Nil discards.
	Logger *slog.Logger
	// Registerer receives the WAL's Prometheus collectors; nil means no
	// metrics. Several WALs on one registry need distinct labels: wrap it
	// with prometheus.WrapRegistererWith. Close unregisters them.
	Registerer prometheus.Registerer
}

// Defaults for zero Options fields.
const (
	DefaultSegmentBytes   = 4 << 20
	DefaultMaxQueueWrites = 8192
	DefaultMaxQueueBytes  = 64 << 20
	DefaultMaxBatchBytes  = 8 << 20
	DefaultMaxCommitDelay = 200 * time.Microsecond
	// DefaultMaxCommitDelayFsyncShare: three quarters of an fsync. On a
	// throttled virtual disk (fsyncs of ~450-600 µs under load), an
	// in-process 3-node cluster at 64 clients, alternating rounds
	// against none: write-only 0.90-1.11x (higher in 7 of 11), the
	// default mix 0.92-1.21x (higher in 7 of 10, its p99 lower in 10 of
	// 10), with 10-20% fewer fsyncs; on a modelled disk that never
	// stalls, write-only 1.02-1.08x, the default mix 0.94-0.99x
	// (results/compare/NOTES.md, round 32).
	DefaultMaxCommitDelayFsyncShare = 0.75
	// MaxCommitDelayFsyncShareLimit bounds MaxCommitDelayFsyncShare:
	// waiting longer than a few fsyncs for writers is never a linger.
	MaxCommitDelayFsyncShareLimit = 4.0
	// DefaultRecycleSegments: enough for a large state's compaction
	// (a log as long as a 1 GiB state in 4 MiB segments) to feed the
	// rotations until the next one. A pool smaller than what one
	// compaction frees leaves the rest of the rotations to files of
	// zeros: 32 (a 128 MiB state) cost a million-key state (~170 MiB of
	// log per snapshot, ~43 segments) 10% of its throughput
	// (results/compare/NOTES.md, round 18). Kept files never hold more
	// disk than the log they came from did before its compaction.
	DefaultRecycleSegments = 256
)

// withDefaults fills zero fields and rejects impossible combinations.
func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes < 0 || o.MaxQueueWrites < 0 || o.MaxQueueBytes < 0 || o.MaxBatchBytes < 0 || o.SnapshotWriteRate < 0 || o.MinSyncInterval < 0 {
		return o, fmt.Errorf("wal: negative limit in options %+v", o)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxCommitDelay == 0 {
		o.MaxCommitDelay = DefaultMaxCommitDelay
	}
	switch share := o.MaxCommitDelayFsyncShare; {
	case math.IsNaN(share) || share > MaxCommitDelayFsyncShareLimit:
		return o, fmt.Errorf("wal: MaxCommitDelayFsyncShare %v: want at most %v (negative: none)", share, MaxCommitDelayFsyncShareLimit)
	case share == 0:
		o.MaxCommitDelayFsyncShare = DefaultMaxCommitDelayFsyncShare
	}
	switch {
	case o.RecycleSegments == 0:
		o.RecycleSegments = DefaultRecycleSegments
	case o.RecycleSegments < 0:
		o.RecycleSegments = 0
	}
	if o.MaxQueueWrites == 0 {
		o.MaxQueueWrites = DefaultMaxQueueWrites
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = max(DefaultMaxQueueBytes, o.MaxBatchBytes)
	}
	if o.MaxBatchBytes > o.MaxQueueBytes {
		return o, fmt.Errorf("wal: MaxBatchBytes %d exceeds MaxQueueBytes %d", o.MaxBatchBytes, o.MaxQueueBytes)
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o, nil
}
