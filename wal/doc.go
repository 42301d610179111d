// Package wal is raftbench's embedded write-ahead log: it stores Raft log
// entries, the hard state and the snapshot, durably, and knows nothing of
// Raft's rules beyond "indexes are contiguous".
//
// Two implementations share the Log contract (api.go): WAL, on files,
// in github.com/tidwall/wal's segment format; and MemLog, in memory, for
// the deterministic simulator (no goroutines, no clock, simulated
// crashes: LoseUnsynced, TearLast, FlipSynced, and FailNextSync).
//
// # Group commit
//
// Submit only validates and enqueues (bounded: Options.MaxQueueWrites and
// MaxQueueBytes; ErrQueueFull fails fast and says Backpressure, so the
// driver retries the write in order rather than treating it as a disk
// failure). One flusher goroutine takes
// everything queued (up to MaxBatchBytes), applies suffix replacements in
// Submit order, appends all entries to the tail segment with one write
// (from its staging buffer, without further copies), fsyncs once,
// saves the newest hard state if any write carried one, and then calls
// every done callback in order. While it fsyncs, new writes queue up: the
// next batch is larger by itself. After a commit of several records
// (entries, whichever writes carried them) it waits up to MaxCommitDelay,
// or on a slow disk up to a share of its recent fsync time
// (MaxCommitDelayFsyncShare), for as many to be queued again, so
// concurrent writers share one fsync instead of alternating between two.
// AwaitLinger lets work that can wait (a Raft follower's apply) stay out
// of that window, in which the awaited writes need the CPUs. LastIndex
// and Entries show only durable entries. UnsafeNoFsync turns off every
// fsync, for benchmarks only.
//
// # Fsync offload
//
// A goroutine blocked in the fsync syscall keeps its P (GOMAXPROCS slot)
// until it returns or the runtime's sysmon hands the P on, which takes
// 20 µs at best and often much longer, and the thread handover costs
// context switches. When the fsyncs running in the process would occupy
// every P (GOMAXPROCS=1, or a second fsync on 2 CPUs), or whenever other
// WALs are open in the same process (an in-process cluster, whose three
// logs keep one fsync in flight nearly all the time), the flusher
// instead submits the fsync to the kernel through an io_uring
// (uring_linux.go) and waits parked on an eventfd in Go's netpoller,
// leaving its P to the Raft loops, appliers and clients. Otherwise (one
// WAL in the process with a P to spare), and while writes come one at a
// time, it fsyncs directly: the ring's extra wake-ups cost about 30 µs
// per fsync on our VM (see offloadFsync in flush.go). The rarer fsyncs
// (hard state and directories) always use the ring when there is one.
// Options.OffloadLoneFsyncs drops the one-at-a-time exception: with
// several WALs in one process, two lone fsyncs can hold both Ps of a
// 2-CPU machine while load that does not wait for them keeps arriving.
// Options.OffloadLeaderFsyncs drops it only while the node leads
// (WAL.SetLeading, which the node calls at each role change): in an
// in-process cluster on 2 CPUs the leader's lone fsync and a follower's
// hold both Ps while the other follower's loop must take the next
// append, and the commit seldom waits for the leader's own fsync.
// A snapshot file's fsyncs are the writer's own, blocking, on its
// goroutine: they must not hold the flusher's ring. The data reaches
// the disk the same way; an error from the kernel fails the WAL exactly
// like a failed fsync syscall. Where io_uring is missing or forbidden
// (old kernels, container seccomp profiles, kernel.io_uring_disabled)
// every fsync is direct; Options.BlockingFsync forces that, and
// Stats().FsyncOffload says whether the ring is available.
//
// Which one wins depends on how busy the Ps are, and nothing the WAL
// sees says so reliably. In an in-process cluster on 2 CPUs, every fsync
// blocking against the default, alternating pairs
// (results/compare/NOTES.md, round 26): at 16 clients up in 20 of 22
// (median 1.13x default mix, 1.09x write-only) with a commit's fsync
// seen 80-150 µs sooner (the ring's completion reaches the flusher
// through the netpoller, which a busy P looks at only when it runs out
// of work), and write-only at 64 up in 8 of 11 (median 1.12x); but on
// the default mix at 64 down in 10 of 11 (median 0.88x) and at 256
// median 0.80x, write-only at 256 median 0.93x (a blocked fsync's P is
// then missed by the loops, the reads and the clients). A rule keyed on
// the commit's size (the ring from 24 records up) kept neither gain
// reliably, so the default stays the ring.
//
// # File system seam
//
// Every file the WAL writes, fsyncs, renames or removes goes through
// Options.FS (vfs.go; default OSFS), every segment append and rotation
// included; tidwall's truncations (below) write their own files, and
// the WAL reopens and fsyncs the tail through FS after each one.
// wal/errorfs implements it to fail, shorten or delay
// those operations and to simulate a power cut (a snapshot file's range
// writeback goes through File too, when it implements WritebackFile);
// its tests run the real WAL and the node against EIO, ENOSPC, short
// writes, latency and held operations. A
// failed write or fsync of any kind (ENOSPC included) stops the WAL as
// described under "Crash guarantees".
//
// # Preallocated segments
//
// Unless Options.AppendSegments, each new segment is written into a
// file of zeros prepared (written out in 256 KiB steps, as snapshot
// files are, then fsynced) on a goroutine of its own and renamed into
// the log at the rotation (an empty tail at Open, a new log's, is
// replaced by one at once; a partly written one is appended to until it
// is full); commits inside it are made durable with fdatasync, since
// no file size changes and the file system need not commit its
// journal. Zeros after the last record exist only in the last segment:
// a rotation cuts them before the full segment's fsync, closing cuts
// them, and Open cuts them after a crash like a torn tail (logged at
// Info when all the cut bytes are zeros). A rotation never waits for a
// spare: without a ready one it creates the segment as usual.
// prealloc.go has the details.
//
// Zeros double the disk's writes for the log, so the segments a
// snapshot's compaction frees are not deleted but kept (up to
// Options.RecycleSegments) and used as later segments instead of new
// zeros: already allocated and written, their old frames are
// overwritten from offset 0. Their old records all have indexes below
// the segment's first, so recovery, which accepts only a checksummed
// record holding exactly the next index, never reads them as log, and
// cuts them like a preallocated tail's zeros (Info: "cut a recycled
// segment's old records"); damage to an acknowledged record is still
// reported, because records written after it carry higher indexes.
// Files a suffix truncation removes are never recycled. recycle.go has
// the argument in full.
//
// # On-disk format
//
//	<dir>/
//	  WAL                   marker: magic "RBWALv\x00\x01" | version u32 | crc32c u32
//	  hardstate             "RBHS" | term u64 | vote u64 | commit u64 | crc32c u32
//	  snapshot              "RBSN" | index u64 | term u64 | nVoters u32 | voter u64 ...
//	                               | dataLen u64 | data | crc32c u32
//	  log/                  segment files in tidwall/wal's format
//	    00000000000000000001    segment whose first entry has index 1
//	    00000000000000000042    next segment, first index 42 ...
//
// Every integer is little-endian; every CRC is CRC-32C (Castagnoli) over
// all bytes before it. hardstate is replaced atomically: write
// <name>.tmp, fsync it, rename over <name>, fsync <dir>. A missing
// hardstate means the zero HardState; a missing snapshot, none.
//
// A snapshot is written beside the log, not by it (snapfile.go):
// CreateSnapshot opens snapshot.<n>.tmp, the caller streams the data
// into it on its own goroutine (checksummed as it goes, and written
// back as it grows: every 1 MiB it starts the writeback of the new
// bytes and waits for the step before, with sync_file_range, so the
// file's dirty pages stay bounded and a log fsync's journal commit never
// has a large image to write out first; fsynced at the end), and only
// then does the flusher take over for the cheap part: rename it over
// snapshot, fsync the directory (the commit point), compact the log.
// Where range writeback is unavailable (not Linux, or a File without
// it: see WritebackFile) the file is fsynced every 32 MiB instead.
// Options.SnapshotWriteRate can pace the writing (off by default). Log
// writes never wait behind the snapshot's bytes, and the log is
// truncated only after the snapshot that covers it is durable. Open removes unfinished snapshot.*.tmp
// files. OpenSnapshot serves the stored data from the file (the checksum
// is checked as it is read: the read reaching the end fails on damage).
//
// A segment is a sequence of tidwall frames, one per entry, in index
// order; the k-th frame of segment N holds index N+k:
//
//	+----------------+----------------------------------------------------------+
//	| uvarint length |  record (length bytes)                                   |
//	+----------------+---------+--------+--------+-----------+------+-----------+
//	                 | index   | term   | type   | dataLen   | data | crc32c    |
//	                 | u64     | u64    | u8     | u32       |      | u32       |
//	                 +---------+--------+--------+-----------+------+-----------+
//	                  \____________ covered by crc32c ______________/
//
// The flusher writes the segments itself, exactly as tidwall's writer
// would (TestSegmentsMatchTidwallWriter compares them byte for byte): a
// segment ends with the first frame that brings it to
// Options.SegmentBytes or more, and the next is named after the index
// that follows (tidwall creates that file as soon as a segment is full,
// the WAL with the next write). It fsyncs the full segment before creating the next
// (else a power cut could keep the new file and lose the old one's end:
// a gap Open must call corruption), and fsyncs the log directory before
// acknowledging a commit that created one. tidwall's writer is not used
// because it keeps an image of the tail segment in memory, regrown by
// append as the segment fills, and copies every entry twice more: a
// quarter of the process's CPU under load, for a copy that nothing
// reads (a node reads its log once, when it starts; Entries reads the
// files). Truncations (TruncateFront/TruncateBack) are tidwall's, run
// on a tidwall handle opened for the purpose: write the surviving part
// of a segment to <segment>.START or .END (fsynced), remove the cut
// segments, rename; tidwall finishes an interrupted one on open, and the
// WAL fsyncs the directory afterwards. SaveSnapshot's compaction is
// cheaper: it deletes only the segments whose entries the snapshot
// wholly covers (oldest first, then fsyncs the directory) and leaves the
// segment holding the first kept index untouched, its covered entries
// hidden from readers; Open hides them again (see below). Rewriting that
// segment would write and fsync up to SegmentBytes on the flusher. The
// deletions run on a background goroutine, not the flusher (an unlink
// of a full segment took 3-4 ms on ext4, dozens per snapshot of a large
// state, and commits queued behind them): readers already stop at the
// new first index and never open an older segment; the next snapshot's
// removal queues behind the one in progress, and every other flusher
// step that rewrites or removes segments (truncations, a reset) first
// waits for the remover, as do Open and Close.
//
// # Recovery on Open
//
// Open checks the marker (ErrNotWAL: no marker in a non-empty directory,
// or wrong magic; ErrVersion: other version), reads hardstate and
// snapshot (ErrCorrupt on a bad checksum), lets tidwall finish any
// interrupted truncation, and then verifies every frame of every segment:
// length, CRC and the index its position demands. A bad frame is:
//
//   - in the last segment, with no valid record anywhere after it: a torn
//     tail, the bytes an interrupted, unsynced append leaves behind (a
//     partial frame, zeros from a file extended by a crash, a garbled
//     final record). The segment is cut back to the last whole record,
//     fsynced, and the cut is logged (Warn, with file and offset);
//   - anywhere else, or followed by any valid record: corruption. Open
//     fails with a *CorruptError (wrapping ErrCorrupt) naming the segment
//     file, the byte offset of the frame and the index it should hold.
//     Nothing is skipped.
//
// tidwall alone refuses to open a log whose final frame is incomplete
// (tidwall/wal#21); the WAL repairs such a tail before opening it.
// Finally, if the snapshot is newer than the log's start, Open finishes
// the SaveSnapshot a crash interrupted (or hides the covered entries a
// completed one left in its first segment): it compacts the log up to
// the snapshot if the log holds the snapshot's index and term, else
// discards the log so it restarts right after the snapshot.
//
// # Crash guarantees
//
//   - A write whose done callback got nil (and everything before it)
//     survives a process crash and, with fsync on, a power loss: its
//     entries and hard state are fsynced, and so are the directory
//     entries of any segment they went to.
//   - A crash at any byte of an append loses at most the writes not yet
//     acknowledged; it never damages an acknowledged one. Unacknowledged
//     writes may survive, wholly or as a prefix of whole records.
//   - Entries and hard state are made durable together before done, but
//     not atomically: after a crash mid-commit the entries of a write may
//     be present while its hard state is the previous one.
//   - SaveSnapshot (and SnapshotFile.Commit) is atomic: the rename of a
//     complete, fsynced file over snapshot is the commit point; a crash
//     or a failed write or fsync before it leaves the old snapshot and
//     the whole log.
//   - Damage to a record that is not the torn tail is reported, at Open
//     or (CRC check on every read) at Entries, never skipped. Damage to
//     the very last record of the last segment is indistinguishable from
//     a torn write and is cut like one; it was unacknowledged if the
//     crash happened during its append.
//   - After a failed write or fsync the WAL stops: every pending and
//     later write gets the error (an fsync error may have dropped dirty
//     pages, so nothing after it may be acknowledged). Reopen to recover.
//     A failed background removal of covered segments (the unlink or
//     the directory's fsync) stops it the same way, and Close returns
//     it: it touched only entries a durable snapshot covers.
//
// The WAL must never acknowledge a write before it is durable, never
// return an entry it has not verified, and never silently skip or drop a
// record that was acknowledged.
package wal
