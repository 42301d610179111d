package wal

import (
	"encoding/binary"
	"fmt"
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
	tlFirst, tlLast uint64 // tidwall's index range, including unsynced writes

	// Staged group commit: buf holds the records of entries base,
	// base+1, ...; offs[k] is where entry base+k starts in buf.
	base  uint64
	buf   []byte
	offs  []int
	terms []uint64
	batch twal.Batch

	// tail is a read-only handle on the last segment file, used to fsync
	// it without taking tidwall's lock (fsync flushes the inode whatever
	// the descriptor). tailSize is its size as of the last check; a
	// mismatch after a write means tidwall rotated to a new segment.
	tail     File
	tailSize int64
	batches  []item // reused by run

	// lastWrites is how many writes the previous commit completed; the
	// next take lingers (up to MaxCommitDelay) until as many are queued.
	lastWrites int
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
		w.fl.lastWrites = len(batch)
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
	for len(w.queue) == 0 && !w.closing {
		w.wake.Wait()
	}
	w.linger()
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
	w.ctr.queueDepth.Store(int64(rest))
	w.met.setQueueDepth(rest)
	return dst
}

// linger waits, after a commit of several writers, until as many
// writes are queued again, MaxCommitDelay has passed, or the batch byte
// limit is reached. Caller holds mu; the wait releases it.
func (w *WAL) linger() {
	want := w.fl.lastWrites
	if want < 2 || w.opts.MaxCommitDelay < 0 || len(w.queue) >= want {
		return
	}
	deadline := time.Now().Add(w.opts.MaxCommitDelay)
	w.lingerTimer.Reset(w.opts.MaxCommitDelay)
	w.wakeAt = want
	for len(w.queue) < want && !w.closing && w.qBytes < w.opts.MaxBatchBytes && time.Now().Before(deadline) {
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
// every WAL: a blocking fsync holds a P for its whole duration.
var fsyncsInFlight atomic.Int32

// offloadFsync decides whether a segment fsync goes through the io_uring
// (true) or a blocking syscall. inFlight counts this fsync and the
// others running in the process; procs is GOMAXPROCS; alone says writes
// come one at a time (this commit and the one before carried a single
// write, and nothing is queued; asked only when it matters).
//
// A blocking fsync is the cheaper of the two by itself: the ring's
// submit, kernel worker and eventfd wake-ups add 50-100 µs per fsync on
// this VM (BenchmarkGroupCommit, 64 appenders, one WAL: 182-216k
// appends/s blocking vs 132-165k through the ring). But the goroutine
// keeps its P while blocked, and once the fsyncs in flight occupy every
// P nothing else runs until one returns or sysmon steps in: three WALs
// on 2 Ps (an in-process cluster) spent most of their time that way. So
// the ring is used when this fsync would take the last P, unless writes
// come one at a time (then the process has nothing else to run).
func offloadFsync(inFlight, procs int, alone func() bool) bool {
	return inFlight >= procs && !alone()
}

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
	w.queue, w.qBytes = nil, 0
	w.ctr.queueDepth.Store(0)
	w.met.setQueueDepth(0)
	w.mu.Unlock()
	for i := range queued {
		queued[i].done(err)
	}
	return err
}

// commitWrites is one group commit: stage every entry (resolving
// suffix replacements in order), write them with one tidwall batch, fsync
// once, save the newest hard state, publish the new durable state.
func (w *WAL) commitWrites(ws []item) error {
	f := &w.fl
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
		f.buf = appendRecord(f.buf, &entries[i])
	}
	return nil
}

// writeStaged writes the staged records with one tidwall batch and one
// fsync. It returns the bytes written (framing included). lone says the
// commit carries a single writer's write.
func (w *WAL) writeStaged(lone bool) (int64, time.Duration, error) {
	f := &w.fl
	if len(f.offs) == 0 {
		return 0, 0, nil
	}
	f.batch.Clear()
	var written int64
	for k, start := range f.offs {
		end := len(f.buf)
		if k+1 < len(f.offs) {
			end = f.offs[k+1]
		}
		f.batch.Write(f.base+uint64(k), f.buf[start:end])
		written += int64(uvarintLen(uint64(end-start)) + end - start)
	}
	tailPath := w.logDir
	if f.tail != nil {
		tailPath = f.tail.Name()
	}
	if err := w.sy.files().WriteSegment(tailPath, int(written), func() error { return w.tl.WriteBatch(&f.batch) }); err != nil {
		return 0, 0, fmt.Errorf("wal: write entries %d..%d: %w", f.base, f.base+uint64(len(f.offs))-1, err)
	}
	f.tlLast = f.base + uint64(len(f.offs)) - 1
	start := time.Now()
	if err := w.syncTail(written, lone); err != nil {
		return 0, 0, err
	}
	return written, time.Since(start), nil
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// syncTail fsyncs the segment the last write went to (how: see
// offloadFsync). If tidwall rotated segments during the write (the tail
// file did not grow by exactly written bytes), the new tail is found,
// fsynced, and the directory is fsynced so the new files' names are
// durable; tidwall itself fsyncs every segment it rotates away from.
func (w *WAL) syncTail(written int64, lone bool) error {
	f := &w.fl
	if w.sy.off {
		return nil
	}
	if f.tail != nil {
		if st, err := f.tail.Stat(); err == nil && st.Size() == f.tailSize+written {
			f.tailSize += written
			sy := w.sy
			n := fsyncsInFlight.Add(1)
			defer fsyncsInFlight.Add(-1)
			alone := func() bool { return lone && f.lastWrites <= 1 && w.ctr.queueDepth.Load() == 0 }
			if !offloadFsync(int(n), runtime.GOMAXPROCS(0), alone) {
				sy.ring = nil
			}
			if err := sy.file(f.tail); err != nil {
				return fmt.Errorf("wal: fsync %s: %w", f.tail.Name(), err)
			}
			return nil
		}
	}
	w.countOtherFsyncs(1)
	return f.openTail(w.logDir, w.sy)
}

// openTail (re)opens the last segment, fsyncs it and the log directory.
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
	tail, err := sy.files().OpenFile(segs[len(segs)-1].path, os.O_RDONLY, 0)
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
	f.tail, f.tailSize = tail, st.Size()
	return sy.dir(logDir)
}

func (f *flusher) closeTail() error {
	if f.tail == nil {
		return nil
	}
	err := f.tail.Close()
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
// those indexes (under readMu) before tidwall rewrites the segment.
func (w *WAL) truncateBack(from uint64) error {
	w.readMu.Lock()
	w.mu.Lock()
	w.dur.truncateFrom(from)
	w.mu.Unlock()
	w.readMu.Unlock()
	if err := w.tl.TruncateBack(from - 1); err != nil {
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
	w.readMu.Lock()
	w.mu.Lock()
	w.dur.compactTo(upTo)
	w.mu.Unlock()
	w.readMu.Unlock()
	if err := w.tl.TruncateFront(upTo + 1); err != nil {
		return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
	}
	w.fl.tlFirst = upTo + 1
	w.countOtherFsyncs(2)
	return w.fl.openTail(w.logDir, w.sy)
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
// <= upTo, never the tail segment. tidwall cannot forget a segment
// without rewriting the next one, so it is closed and reopened around
// the deletions (oldest first, so a crash leaves a contiguous log).
func (w *WAL) dropSegmentsThrough(upTo uint64) error {
	segs, err := listSegments(w.logDir)
	if err != nil {
		return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
	}
	k := 0
	for k+1 < len(segs) && segs[k+1].start <= upTo+1 {
		k++
	}
	if k == 0 {
		return nil
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	if err := w.tl.Close(); err != nil {
		return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
	}
	if err := w.fl.closeTail(); err != nil {
		return err
	}
	for _, s := range segs[:k] {
		if err := w.sy.files().Remove(s.path); err != nil {
			return fmt.Errorf("wal: compact log up to index %d: %w", upTo, err)
		}
	}
	if w.tl, err = twal.Open(w.logDir, tidwallOptions(w.opts.SegmentBytes)); err != nil {
		return fmt.Errorf("wal: compact log up to index %d: reopen: %w", upTo, err)
	}
	w.fl.tlFirst = segs[k].start
	w.countOtherFsyncs(2)
	return w.fl.openTail(w.logDir, w.sy) // fsyncs the directory: the deletions are durable
}

// resetLog discards every segment and restarts the log empty at next.
// tidwall cannot move an empty log forward, so this is done by hand:
// close, remove all segments, create an empty one named next, reopen.
func (w *WAL) resetLog(next uint64) error {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	w.mu.Lock()
	w.dur.resetTo(next)
	w.mu.Unlock()
	if err := w.tl.Close(); err != nil {
		return fmt.Errorf("wal: reset log: %w", err)
	}
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
	if w.tl, err = twal.Open(w.logDir, tidwallOptions(w.opts.SegmentBytes)); err != nil {
		return fmt.Errorf("wal: reset log: %w", err)
	}
	w.fl.tlFirst, w.fl.tlLast = next, next-1
	w.countOtherFsyncs(2)
	return w.fl.openTail(w.logDir, w.sy)
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
	}
	if uint64(entries) > c.maxBatch.Load() {
		c.maxBatch.Store(uint64(entries))
	}
	w.met.observeFlush(entries, int(bytes), fsync, synced)
}
