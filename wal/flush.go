package wal

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	twal "github.com/tidwall/wal"
)

type opKind uint8

const (
	opWrite    opKind = iota // entries and/or hard state
	opTruncate               // TruncateSuffix(index)
	opCompact                // CompactPrefix(index)
	opSnapshot               // SaveSnapshot(snap)
)

// item is one queued operation. Stored by value in the queue so Submit
// does not allocate.
type item struct {
	kind    opKind
	hasHS   bool
	entries []raftpb.Entry
	hs      raftpb.HardState
	index   uint64
	snap    raftpb.Snapshot
	path    string // opSnapshot: the complete, fsynced file to install
	bytes   int
	done    func(error)
}

// flusher is the state only the flusher goroutine touches (and Open and
// Close, before it starts and after it exits).
type flusher struct {
	tlFirst, tlLast uint64 // the segment files' index range, including unsynced writes

	// Staged group commit: buf holds the frames (tidwall's uvarint
	// length prefix and the record) of entries base, base+1, ...;
	// offs[k] is where entry base+k's frame starts in buf. buf is
	// written to the segment files as it is: no other copy is made.
	base  uint64
	buf   []byte
	offs  []int
	terms []uint64

	// tail is the last segment file, opened for appending; tailSize is
	// its length (the flusher is its only writer). rotated says the
	// commit in progress created a new segment, whose name the log
	// directory's fsync must make durable before anything is
	// acknowledged.
	tail     File
	tailSize int64
	rotated  bool
	batches  []item // reused by run

	// padded says the tail is a preallocated segment: zeros after
	// tailSize, written and fsynced before it was installed (prealloc.go);
	// spare delivers the next one being prepared (nil: none).
	padded bool
	spare  chan spareResult

	// lastWrites is how many writes the previous commit completed,
	// lastRecords how many records (entries) they carried; the next take
	// lingers (up to LingerLimit) until as many records are queued.
	lastWrites, lastRecords int
	// fsyncMean is the moving mean of this log's group-commit fsyncs
	// (FsyncMean), for the linger's limit (LingerLimit).
	fsyncMean time.Duration
	// lastCommit is when the last group commit started (MinSyncInterval).
	lastCommit time.Time

	// removing delivers the result of the background removal of
	// compacted segments in progress (dropSegmentsThrough; it waits for
	// any before it); nil: none. removeFrom: the first segment it does
	// not remove.
	removing   chan error
	removeFrom uint64
}

// run is the flusher goroutine: take everything queued (up to
// MaxBatchBytes), commit it with one write and one fsync, complete every
// waiter in order, repeat. While it fsyncs, new writes queue up and form
// the next, larger batch: batches grow by themselves under load.
func (w *WAL) run() {
	defer close(w.exited)
	for {
		batch := w.take(w.fl.batches[:0])
		if len(batch) == 0 {
			return
		}
		w.process(batch)
		w.fl.lastWrites, w.fl.lastRecords = len(batch), records(batch)
		clear(batch) // drop references to callers' entries
		w.fl.batches = batch[:0]
	}
}

// take moves a batch of queued items into dst, waiting for work. It
// returns an empty batch only when closing with nothing left.
func (w *WAL) take(dst []item) []item {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wakeAt = 1
	if len(w.queue) == 0 && !w.closing {
		// Timed only with fsync on (Stats.IdleNanos).
		var idleFrom time.Time
		if !w.sy.off {
			idleFrom = time.Now()
		}
		for len(w.queue) == 0 && !w.closing {
			w.wake.Wait()
		}
		if !w.sy.off {
			w.ctr.idleNanos.Add(uint64(time.Since(idleFrom)))
		}
	}
	w.linger()
	w.spaceCommits()
	n, bytes := 0, 0
	for n < len(w.queue) && (n == 0 || bytes+w.queue[n].bytes <= w.opts.MaxBatchBytes) {
		bytes += w.queue[n].bytes
		n++
	}
	dst = append(dst, w.queue[:n]...)
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	w.qBytes -= bytes
	w.qRecords -= records(dst[len(dst)-n:])
	w.ctr.queueDepth.Store(int64(rest))
	w.met.setQueueDepth(rest)
	return dst
}

// linger waits, after a commit of several records, until as many
// records are queued again, the linger's limit has passed (LingerLimit:
// MaxCommitDelay, or a share of the recent fsync time if longer), or the
// batch byte limit is reached. Caller holds mu; the wait releases it.
//
// It counts records, not writes, because a write is whatever its caller
// batched: a Raft node hands its log one write per Ready, so the same
// cohort of client commands reaches the log as two writes one time and
// three the next, and a follower as one write per AppendEntries. Counted
// in writes, a cohort split across two fsyncs stays split: the first
// part's count is reached while the rest is still on its way. Counted in
// records, the linger holds the fsync until the commands of the last
// commit are back (results/compare/NOTES.md, round 23: a closed loop's
// throughput 1.26-1.54x at 16 clients and 1.01-1.15x at 64, write-only).
func (w *WAL) linger() {
	want := w.fl.lastRecords
	if want < 2 || w.opts.MaxCommitDelay < 0 || w.qRecords >= want {
		return
	}
	w.lingering.Store(true) // before the count: who sees one linger more sees it on
	w.ctr.lingers.Add(1)
	from := time.Now()
	limit := LingerLimit(w.opts.MaxCommitDelay, w.opts.MaxCommitDelayFsyncShare, w.fl.fsyncMean)
	deadline := from.Add(limit)
	w.lingerTimer.Reset(limit)
	w.wakeAt = want
	for w.qRecords < want && !w.closing && w.qBytes < w.opts.MaxBatchBytes && time.Now().Before(deadline) {
		w.wake.Wait()
	}
	if w.qRecords < want && !w.closing && w.qBytes < w.opts.MaxBatchBytes {
		w.ctr.lingersRunOut.Add(1)
	}
	w.ctr.lingerNanos.Add(uint64(time.Since(from)))
	w.wakeAt = 1
	w.lingerTimer.Stop()
	w.lingering.Store(false)
	w.lingerEnd.Broadcast()
}

// AwaitLinger returns once the flusher is not holding a group commit back
// for more records, and says whether it waited: at once when no linger is
// on, else when that linger ends, which it does within its limit
// (LingerLimit) or when the WAL closes.
//
// For work that shares the CPUs with this log's writers and can wait a
// linger, such as a Raft follower applying entries nobody waits for
// there: a linger is the window in which the writes it waits for are on
// their way, each through goroutines that need a CPU; once it ends the
// log writes and fsyncs, and the CPUs are free again.
func (w *WAL) AwaitLinger() bool {
	if !w.lingering.Load() {
		return false
	}
	w.mu.Lock()
	waited := false
	for w.lingering.Load() {
		waited = true
		w.lingerEnd.Wait()
	}
	w.mu.Unlock()
	return waited
}

// LingerLimit is how long a linger may wait for records
// (Options.MaxCommitDelay and MaxCommitDelayFsyncShare): maxDelay, or
// share of fsyncMean, the log's recent fsync time, when that is longer.
// Exported for the bench package's floor target, which mirrors this
// log's group commit.
func LingerLimit(maxDelay time.Duration, share float64, fsyncMean time.Duration) time.Duration {
	if share > 0 {
		if l := time.Duration(share * float64(fsyncMean)); l > maxDelay {
			return l
		}
	}
	return maxDelay
}

// FsyncMean folds one group commit's fsync time into mean, a moving mean
// over about the last eight, recent enough to follow a disk whose flushes
// slow down under load. A stall raises it for the next few commits; their
// lingers still end as soon as the records are queued, which after a
// stall they mostly already are.
func FsyncMean(mean, fsync time.Duration) time.Duration { return mean + (fsync-mean)/8 }

// records is what the linger counts in items: each write's entries, and
// one for a write without entries (a hard state alone) or any other
// operation.
func records(items []item) int {
	n := 0
	for i := range items {
		n += items[i].records()
	}
	return n
}

func (it *item) records() int { return max(1, len(it.entries)) }

// spaceCommits waits, with Options.MinSyncInterval, until that long
// after the last group commit started, the batch byte limit is reached,
// or the WAL closes. Caller holds mu; the wait releases it.
func (w *WAL) spaceCommits() {
	iv := w.opts.MinSyncInterval
	if iv <= 0 || w.sy.off || w.fl.lastCommit.IsZero() {
		return
	}
	wait := iv - time.Since(w.fl.lastCommit)
	if wait <= 0 {
		return
	}
	deadline := time.Now().Add(wait)
	w.lingerTimer.Reset(wait)
	w.wakeAt = math.MaxInt // only the timer, the byte limit or Close wake us
	for !w.closing && w.qBytes < w.opts.MaxBatchBytes && time.Now().Before(deadline) {
		w.wake.Wait()
	}
	w.wakeAt = 1
	w.lingerTimer.Stop()
}

// process commits a batch: runs of writes share one write and fsync;
// other operations act as barriers between runs, in Submit order.
func (w *WAL) process(batch []item) {
	for i := 0; i < len(batch); {
		j := i
		for j < len(batch) && batch[j].kind == opWrite {
			j++
		}
		if j == i {
			j = i + 1
		}
		err := w.failedErr()
		if err == nil {
			if batch[i].kind == opWrite {
				err = w.commitWrites(batch[i:j])
			} else {
				err = w.applyOp(&batch[i])
			}
			if err != nil {
				err = w.fail(err)
			}
		}
		for k := i; k < j; k++ {
			batch[k].done(err)
		}
		i = j
	}
}

// fsyncsInFlight counts the segment fsyncs running in this process, over
// every WAL: a blocking fsync holds a P for its whole duration. openWALs
// counts the WALs open in this process.
var fsyncsInFlight, openWALs atomic.Int32

// offloadFsync decides whether a segment fsync goes through the io_uring
// (true) or a blocking syscall. inFlight counts this fsync and the
// others running in the process; procs is GOMAXPROCS; wals is how many
// WALs are open in the process; alone says writes come one at a time
// (this commit and the one before carried a single write, and nothing
// is queued; asked only when it matters).
//
// A blocking fsync is the cheaper of the two by itself: the ring's
// submit, kernel worker and eventfd wake-ups cost about 30 µs per fsync
// on this VM (BenchmarkGroupCommit, 64 appenders, one WAL: 331-357k
// appends/s blocking vs 274-280k through the ring). But the goroutine
// keeps its P while blocked until sysmon hands the P on (after 20 µs at
// best), and the thread that takes it over and the one that comes back
// from the syscall each cost a context switch, which this VM makes
// dear. A process with one WAL seldom has anything else to run on that
// P, so it blocks unless the fsync would take the last P. Several WALs
// in one process (an in-process cluster: three logs flushing in turn on
// 2 CPUs, one fsync nearly always in flight) use the ring for every
// fsync that does not come alone: against the ring only for the fsync
// that would take the last P, a closed loop did 1.20x the throughput
// at 64 clients on the default mix (median of 7 alternating passes, 6
// up) and 1.03-1.17x at 256 clients write-only with 1M keys (7 of 7);
// write-only at 64 clients a median 1.07x (8 of 13 up), at 1 and 16
// clients no direction (results/compare/NOTES.md, round 24). Writes
// that come one at a time always fsync directly: then the process has
// nothing else to run, and the ring's wake-ups would be the latency.
func offloadFsync(inFlight, procs, wals int, alone func() bool) bool {
	return (inFlight >= procs || wals > 1) && !alone()
}

// writesAlone says whether this WAL's writes come one at a time (this
// commit and the one before carried a single write, nothing is queued),
// which lets its fsync block on the last P (offloadFsync); never with
// Options.OffloadLoneFsyncs, nor while leading with OffloadLeaderFsyncs.
func (w *WAL) writesAlone(lone bool) bool {
	return lone && w.fl.lastWrites <= 1 && w.ctr.queueDepth.Load() == 0 && !w.opts.OffloadLoneFsyncs &&
		!(w.opts.OffloadLeaderFsyncs && w.leading.Load())
}

// SetLeading tells the WAL whether the node that owns it leads; with
// Options.OffloadLeaderFsyncs a leader's writes never count as coming
// one at a time (writesAlone), so its fsync goes through the ring
// whenever offloadFsync would otherwise. The node calls it at each role
// change.
func (w *WAL) SetLeading(on bool) { w.leading.Store(on) }

func (w *WAL) failedErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// fail makes an I/O error sticky: after a failed write or fsync the
// state of the files is unknown (an fsync error may have dropped dirty
// pages), so no later write may be acknowledged. Reopening recovers.
func (w *WAL) fail(cause error) error {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = fmt.Errorf("wal: failed, reopen to recover: %w", cause)
		w.log.Error("wal: write path failed", "err", cause)
	}
	err := w.failed
	queued := w.queue
	w.queue, w.qBytes, w.qRecords = nil, 0, 0
	w.ctr.queueDepth.Store(0)
	w.met.setQueueDepth(0)
	w.mu.Unlock()
	for i := range queued {
		queued[i].done(err)
	}
	return err
}

// commitWrites is one group commit: stage every entry (resolving
// suffix replacements in order), append them to the segment files with
// one write (two around a rotation), fsync once, save the newest hard
// state, publish the new durable state.
func (w *WAL) commitWrites(ws []item) error {
	f := &w.fl
	if w.opts.MinSyncInterval > 0 {
		f.lastCommit = time.Now()
	}
	f.buf, f.offs, f.terms = f.buf[:0], f.offs[:0], f.terms[:0]
	var hs *raftpb.HardState
	for k := range ws {
		if ws[k].hasHS {
			hs = &ws[k].hs
		}
		if len(ws[k].entries) > 0 {
			if err := w.stage(ws[k].entries); err != nil {
				return err
			}
		}
	}
	written, fsyncTime, err := w.writeStaged(len(ws) == 1)
	if err != nil {
		return err
	}
	if hs != nil && *hs != w.HardState() {
		if err := w.sy.atomicWrite(w.dir, hardStateName, encodeHardState(*hs)); err != nil {
			return err
		}
		w.countOtherFsyncs(2)
	}
	w.mu.Lock()
	for k, term := range f.terms {
		w.dur.append(f.base+uint64(k), term)
	}
	if hs != nil {
		w.hs = *hs
	}
	w.mu.Unlock()
	w.account(len(ws), len(f.offs), written, fsyncTime)
	return nil
}

// stage appends entries to the staged batch. If they start at or below
// an index already staged or written, that suffix is dropped first.
func (w *WAL) stage(entries []raftpb.Entry) error {
	f := &w.fl
	first := entries[0].Index
	if n := uint64(len(f.offs)); n > 0 && first >= f.base && first < f.base+n {
		k := first - f.base
		f.buf, f.offs, f.terms = f.buf[:f.offs[k]], f.offs[:k], f.terms[:k]
	}
	if first <= f.tlLast {
		f.buf, f.offs, f.terms = f.buf[:0], f.offs[:0], f.terms[:0]
		if err := w.truncateBack(first); err != nil {
			return err
		}
	}
	if len(f.offs) == 0 {
		f.base = first
	}
	for i := range entries {
		f.offs = append(f.offs, len(f.buf))
		f.terms = append(f.terms, entries[i].Term)
		f.buf = binary.AppendUvarint(f.buf, uint64(recordSize(&entries[i])))
		f.buf = appendRecord(f.buf, &entries[i])
	}
	return nil
}

// writeStaged appends the staged frames to the segment files and fsyncs
// once. It returns the bytes written (framing included). lone says the
// commit carries a single writer's write.
//
// Segments are cut as tidwall cuts them, so a log written here is the
// log tidwall would have written: a segment ends with the first frame
// that brings it to SegmentBytes or more, and the next one is named
// after the index that follows. The frames are written straight from
// the staging buffer; tidwall's writer would copy them into a batch and
// then into an in-memory image of the tail segment that it regrows by
// append, which cost a quarter of the process's CPU under load.
func (w *WAL) writeStaged(lone bool) (int64, time.Duration, error) {
	f := &w.fl
	if len(f.offs) == 0 {
		return 0, 0, nil
	}
	last := f.base + uint64(len(f.offs)) - 1
	var writeFrom time.Time
	if !w.sy.off {
		writeFrom = time.Now()
	}
	seg := int64(w.opts.SegmentBytes)
	from, size := 0, f.tailSize
	for k, start := range f.offs {
		if size >= seg {
			if err := w.appendTail(f.buf[from:start]); err != nil {
				return 0, 0, fmt.Errorf("wal: write entries %d..%d: %w", f.base, last, err)
			}
			if err := w.rotate(f.base + uint64(k)); err != nil {
				return 0, 0, err
			}
			from, size = start, 0
		}
		end := len(f.buf)
		if k+1 < len(f.offs) {
			end = f.offs[k+1]
		}
		size += int64(end - start)
	}
	if err := w.appendTail(f.buf[from:]); err != nil {
		return 0, 0, fmt.Errorf("wal: write entries %d..%d: %w", f.base, last, err)
	}
	f.tlLast = last
	if w.sy.off {
		// No fsync to time: at one write per commit (1 client, fsync
		// off) the two clock reads were 1.3% of the process's CPU.
		return int64(len(f.buf)), 0, w.syncTail(lone)
	}
	start := time.Now()
	// The write's time holds a rotation's fsyncs, when the commit cut a
	// segment: they are not the commit's own fsync.
	w.ctr.writeNanos.Add(uint64(start.Sub(writeFrom)))
	if err := w.syncTail(lone); err != nil {
		return 0, 0, err
	}
	return int64(len(f.buf)), time.Since(start), nil
}

// appendTail appends frames to the tail segment. A failed or short
// write fails the WAL (the caller's error path): the bytes after the
// last whole frame are a torn tail that the next Open cuts.
func (w *WAL) appendTail(frames []byte) error {
	if len(frames) == 0 {
		return nil
	}
	f := &w.fl
	n, err := f.tail.Write(frames)
	f.tailSize += int64(n)
	if err == nil && n != len(frames) {
		err = fmt.Errorf("short write to %s: %d of %d bytes", f.tail.Name(), n, len(frames))
	}
	return err
}

// rotate ends the tail segment and starts a new one whose first entry is
// next. The full segment is fsynced before the new file is created (as
// tidwall does): otherwise a power cut could keep the new segment and
// lose the end of the old one, leaving a gap that Open must report as
// corruption. The new file's name is made durable by syncTail's fsync
// of the directory, before the commit is acknowledged.
func (w *WAL) rotate(next uint64) error {
	f := &w.fl
	// A preallocated tail's zeros go before its last fsync, so the
	// cut is durable before the next segment exists.
	if err := f.cutPadding(); err != nil {
		return err
	}
	if err := w.sy.file(f.tail); err != nil {
		return fmt.Errorf("wal: fsync %s: %w", f.tail.Name(), err)
	}
	w.countOtherFsyncs(1)
	if err := f.closeTail(); err != nil {
		return err
	}
	path := filepath.Join(w.logDir, segmentName(next))
	if spare, ok := w.takeSpare(); ok && w.spareFits(spare, next) {
		nf, err := w.openSpareAsSegment(spare, path)
		if err != nil {
			return err
		}
		f.tail, f.tailSize, f.rotated, f.padded = nf, 0, true, true
		w.countSpareUsed(spare)
		w.prepareSpare()
		return nil
	}
	nf, err := w.sy.files().OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("wal: create segment %s: %w", path, err)
	}
	f.tail, f.tailSize, f.rotated = nf, 0, true
	w.prepareSpare()
	return nil
}

// syncTail fsyncs the segment the last write went to (how: see
// offloadFsync) and, if the commit created a segment, the log directory
// so the new file's name is durable; rotate fsynced the segments before.
func (w *WAL) syncTail(lone bool) error {
	f := &w.fl
	if w.sy.off {
		f.rotated = false
		return nil
	}
	sy := w.sy
	n := fsyncsInFlight.Add(1)
	if !offloadFsync(int(n), runtime.GOMAXPROCS(0), int(openWALs.Load()), func() bool { return w.writesAlone(lone) }) {
		sy.ring = nil
	}
	var err error
	if f.padded && !f.rotated {
		// Inside a preallocated segment only the data changed (see
		// prealloc.go); a new segment's first commit syncs it whole.
		err = sy.data(f.tail)
		if !w.sy.off {
			w.ctr.datasyncs.Add(1)
		}
	} else {
		err = sy.file(f.tail)
	}
	fsyncsInFlight.Add(-1)
	if err != nil {
		return fmt.Errorf("wal: fsync %s: %w", f.tail.Name(), err)
	}
	if f.rotated {
		if err := w.sy.dir(w.logDir); err != nil {
			return err
		}
		w.countOtherFsyncs(1)
		f.rotated = false
	}
	return nil
}

// openTail (re)opens the last segment for appending, fsyncs it and the
// log directory.
func (f *flusher) openTail(logDir string, sy syncer) error {
	if err := f.closeTail(); err != nil {
		return err
	}
	segs, err := listSegments(logDir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("%w: %s holds no segment file", ErrCorrupt, logDir)
	}
	tail, err := sy.files().OpenFile(segs[len(segs)-1].path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	st, err := tail.Stat()
	if err == nil {
		err = sy.file(tail)
	}
	if err != nil {
		_ = tail.Close()
		return fmt.Errorf("wal: fsync %s: %w", tail.Name(), err)
	}
	f.tail, f.tailSize, f.rotated = tail, st.Size(), false
	return sy.dir(logDir)
}

// closeTail closes the tail segment, first cutting a preallocated one's
// zeros (not fsynced: Open cuts them too; see prealloc.go), so whatever
// reads the file next (tidwall's truncations, the next Open) sees only
// records.
func (f *flusher) closeTail() error {
	if f.tail == nil {
		return nil
	}
	err := f.cutPadding()
	if cerr := f.tail.Close(); err == nil {
		err = cerr
	}
	f.tail = nil
	return err
}

// applyOp runs a TruncateSuffix, CompactPrefix or SaveSnapshot.
func (w *WAL) applyOp(it *item) error {
	switch it.kind {
	case opTruncate:
		if it.index > w.fl.tlLast {
			return nil
		}
		return w.truncateBack(it.index)
	case opCompact:
		return w.compact(it.index)
	case opSnapshot:
		return w.saveSnapshot(it.snap.Meta, it.path)
	}
	panic(fmt.Sprintf("wal: unknown op %d", it.kind))
}

// truncateBack removes every entry >= from, durably. Readers stop seeing
// those indexes, and wait (readMu) while tidwall rewrites the segment.
func (w *WAL) truncateBack(from uint64) error {
	if err := w.waitRemover(); err != nil {
		return err
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	w.mu.Lock()
	w.dur.truncateFrom(from)
	w.mu.Unlock()
	err := w.withTidwall(func(tl *twal.Log) error { return tl.TruncateBack(from - 1) })
	if err != nil {
		return fmt.Errorf("wal: truncate log from index %d: %w", from, err)
	}
	w.fl.tlLast = from - 1
	w.countOtherFsyncs(2)
	return w.fl.openTail(w.logDir, w.sy)
}

// compact removes every entry <= upTo (upTo <= last), durably.
func (w *WAL) compact(upTo uint64) error {
	if upTo < w.fl.tlFirst {
		return nil
	}
	if err := w.waitRemover(); err != nil {
		return err
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	w.mu.Lock()
	w.dur.compactTo(upTo)
	w.mu.Unlock()
	if err := w.withTidwall(func(tl *twal.Log) error { return tl.TruncateFront(upTo + 1) }); err != nil {
		return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
	}
	w.fl.tlFirst = upTo + 1
	w.countOtherFsyncs(2)
	return w.fl.openTail(w.logDir, w.sy)
}

// withTidwall runs a truncation with tidwall's own code, which writes
// the surviving part of the segment beside it (.START/.END, fsynced),
// removes the cut segments and renames, and which Open finishes after a
// crash. The flusher's tail handle is closed first (the tail file may be
// replaced) and reopened by the caller (openTail). Caller holds readMu,
// so no reader looks at files being renamed or removed.
func (w *WAL) withTidwall(op func(*twal.Log) error) error {
	if err := w.fl.closeTail(); err != nil {
		return err
	}
	tl, err := twal.Open(w.logDir, tidwallOptions(w.opts.SegmentBytes))
	if err != nil {
		return err
	}
	err = op(tl)
	if cerr := tl.Close(); err == nil {
		err = cerr
	}
	return err
}

// saveSnapshot installs a snapshot file written and fsynced beside the
// log (SnapshotFile): rename it over the snapshot file and fsync the
// directory (the commit point: Open finishes the rest after a crash),
// then compact or discard the log. The image itself never passes
// through the flusher, so log writes do not wait behind it.
func (w *WAL) saveSnapshot(meta raftpb.SnapshotMeta, path string) error {
	target := filepath.Join(w.dir, snapshotName)
	if err := w.sy.files().Rename(path, target); err != nil {
		_ = w.sy.files().Remove(path)
		return fmt.Errorf("wal: install snapshot %d: %w", meta.Index, err)
	}
	if err := w.sy.dir(w.dir); err != nil {
		return err
	}
	w.countOtherFsyncs(1)
	w.mu.Lock()
	w.snap = meta
	discard := snapshotPlan(&w.dur, meta)
	w.mu.Unlock()
	if discard {
		return w.resetLog(meta.Index + 1)
	}
	return w.compactToSnapshot(meta.Index)
}

// compactToSnapshot drops the log prefix a stored snapshot covers (upTo
// is its index, which the log holds). Readers stop seeing those entries
// at once, but on disk only whole segments are removed: entries of the
// segment that holds upTo+1 stay in its file, hidden. Cutting them out
// exactly would make tidwall rewrite that segment (up to SegmentBytes,
// written and fsynced on the flusher, stalling every commit queued
// behind it) for nothing: the snapshot file is the commit point, and
// Open hides the covered entries again (reconcileSnapshot).
func (w *WAL) compactToSnapshot(upTo uint64) error {
	if upTo < w.dur.first { // dur is written only by the flusher
		return nil
	}
	w.readMu.Lock()
	w.mu.Lock()
	w.dur.compactTo(upTo)
	w.mu.Unlock()
	w.readMu.Unlock()
	return w.dropSegmentsThrough(upTo)
}

// dropSegmentsThrough deletes the segment files whose entries are all
// <= upTo, never the tail segment, oldest first (so a crash leaves a
// contiguous log), then fsyncs the log directory. The deletions run on
// a background goroutine (removeSegments): each unlink of a full segment
// took 3-4 ms on ext4, dozens of them per snapshot, and every commit
// queued behind the flusher waited for them. Nothing needs them done
// first: the snapshot that covers the entries is already durable (its
// rename and directory fsync are the commit point), readers already
// stop at the new first index (dur) and never open a segment before the
// one holding it (Entries), and Open removes or hides whatever a crash
// left (reconcileSnapshot). Every other flusher step that lists,
// renames or removes segment files other than by appending waits for
// the remover first (waitRemover); a failed removal stops the WAL like
// a failed fsync (removerFailed).
func (w *WAL) dropSegmentsThrough(upTo uint64) error {
	segs, err := listSegments(w.logDir)
	if err != nil {
		return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
	}
	k := 0
	for k+1 < len(segs) && segs[k+1].start <= upTo+1 {
		k++
	}
	var paths []string
	for _, s := range segs[:k] {
		// A removal still running owns the segments before removeFrom
		// (the listing may still show them).
		if w.fl.removing == nil || s.start >= w.fl.removeFrom {
			paths = append(paths, s.path)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	w.fl.tlFirst, w.fl.removeFrom = segs[k].start, segs[k].start
	// Chained after the removal in progress, if any, so the flusher
	// never waits for it here (snapshots can come faster than a slow
	// disk unlinks) and the order stays oldest first.
	prev, done := w.fl.removing, make(chan error, 1)
	w.fl.removing = done
	go func() {
		if prev != nil {
			if err := <-prev; err != nil {
				done <- err // reported by the removal that failed
				return
			}
		}
		done <- w.removeSegments(upTo, paths)
	}()
	if !segRemovalInBackground {
		return w.waitRemover()
	}
	return nil
}

// segRemovalInBackground false makes the flusher wait for each removal
// (benchmarks compare the two).
var segRemovalInBackground = true

// removeSegments is the remover: it takes paths out of the log in order
// (recycled as spares or deleted: retireSegment), then fsyncs the log
// directory so that is durable.
func (w *WAL) removeSegments(upTo uint64, paths []string) error {
	for _, p := range paths {
		if err := w.retireSegment(p, upTo); err != nil {
			return w.removerFailed(fmt.Errorf("wal: compact log up to index %d: %w", upTo, err))
		}
	}
	// A blocking fsync on this goroutine: the ring is the flusher's
	// (one fsync at a time), and its commits must not wait behind this.
	sy := w.sy
	sy.ring = nil
	if err := sy.dir(w.logDir); err != nil {
		return w.removerFailed(err)
	}
	w.countOtherFsyncs(1)
	return nil
}

// removerFailed makes a failed background removal sticky like any I/O
// failure: the disk misbehaves, so the WAL takes no more writes and
// every queued and later one gets the error, in order, from the flusher
// (which checks failed before each step). Writes acknowledged before
// were durable and stay so: removals touch only covered entries.
func (w *WAL) removerFailed(cause error) error {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = fmt.Errorf("wal: failed, reopen to recover: %w", cause)
		w.log.Error("wal: removing compacted segments failed", "err", cause)
	}
	w.wake.Broadcast()
	w.mu.Unlock()
	return cause
}

// waitRemover waits for the background removal in progress, if any, and
// returns its error. Flusher only (and Open and Close around it).
func (w *WAL) waitRemover() error {
	if w.fl.removing == nil {
		return nil
	}
	err := <-w.fl.removing
	w.fl.removing = nil
	return err
}

// resetLog discards every segment and restarts the log empty at next:
// remove all segments, create an empty one named next, append there.
func (w *WAL) resetLog(next uint64) error {
	if err := w.waitRemover(); err != nil {
		return err
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	w.mu.Lock()
	w.dur.resetTo(next)
	w.mu.Unlock()
	if err := w.fl.closeTail(); err != nil {
		return err
	}
	segs, err := listSegments(w.logDir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if err := w.sy.files().Remove(s.path); err != nil {
			return fmt.Errorf("wal: reset log: %w", err)
		}
	}
	nf, err := w.sy.files().OpenFile(filepath.Join(w.logDir, segmentName(next)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err == nil {
		err = nf.Close()
	}
	if err != nil {
		return fmt.Errorf("wal: reset log: %w", err)
	}
	w.fl.tlFirst, w.fl.tlLast = next, next-1
	w.countOtherFsyncs(2)
	if err := w.fl.openTail(w.logDir, w.sy); err != nil {
		return err
	}
	if err := w.preallocateEmptyTail(false); err != nil {
		return err
	}
	w.prepareSpare()
	return nil
}

func (w *WAL) countOtherFsyncs(n uint64) {
	if !w.sy.off {
		w.ctr.otherFsyncs.Add(n)
	}
}

// account records one group commit in Stats and the metrics.
func (w *WAL) account(writes, entries int, bytes int64, fsync time.Duration) {
	c := &w.ctr
	c.writes.Add(uint64(writes))
	if entries == 0 {
		return
	}
	c.flushes.Add(1)
	c.entries.Add(uint64(entries))
	c.bytes.Add(uint64(bytes))
	synced := !w.sy.off
	if synced {
		c.fsyncs.Add(1)
		c.fsyncNanos.Add(uint64(fsync))
		w.fl.fsyncMean = FsyncMean(w.fl.fsyncMean, fsync)
	}
	if uint64(entries) > c.maxBatch.Load() {
		c.maxBatch.Store(uint64(entries))
	}
	w.met.observeFlush(entries, int(bytes), fsync, synced)
}
