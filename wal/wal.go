package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// WAL is the file-backed Log: segment files in tidwall/wal's format for
// entries, small files for the hard state and snapshot, one flusher
// goroutine doing group commit. See doc.go for the format and the crash
// guarantees.
type WAL struct {
	dir, logDir string
	opts        Options
	sy          syncer
	log         *slog.Logger
	met         *metrics
	ctr         counters
	// recycled holds compacted segments kept as spares (recycle.go).
	recycled recyclePool
	// leading: the node that owns this WAL leads (SetLeading).
	leading atomic.Bool

	// readMu orders reads of the segment files against the flusher's
	// truncations, compactions and resets, which shrink dur and rename or
	// remove segment files while holding it: a reader never sees an
	// index that is being rewritten, nor a file half replaced. Appends
	// need no lock: readers look only at durable indexes, which the
	// flusher never rewrites in place. Lock order: readMu, then mu.
	readMu sync.Mutex
	closed bool // under readMu

	mu       sync.Mutex
	wake     sync.Cond // signalled on enqueue and on close
	queue    []item    // accepted, not yet taken by the flusher
	qBytes   int       // sum of queue[i].bytes
	qRecords int       // sum of queue[i].records(): what the linger counts
	sub      termIndex // the log with every accepted Submit applied, in order
	dur      termIndex // the durable log: what Entries/Term/LastIndex show
	subSnap  uint64    // index of the newest accepted snapshot
	hs       raftpb.HardState
	snap     raftpb.SnapshotMeta // zero if none
	closing  bool
	failed   error // sticky: set by the first I/O failure
	exited   chan struct{}
	// lingerTimer wakes the flusher when a commit delay ends.
	lingerTimer *time.Timer
	// wakeAt is the number of queued records at which enqueue wakes the
	// flusher: 1 when it is idle, the expected cohort size while it
	// lingers, so writers arriving one by one do not wake it for nothing.
	wakeAt int
	// lingering is set, under mu, while the flusher holds a group commit
	// back for more records (linger); lingerEnd is broadcast, under mu,
	// when it stops. AwaitLinger reads lingering without mu first.
	lingering atomic.Bool
	lingerEnd sync.Cond

	fl flusher // owned by the flusher goroutine
}

// Open opens the WAL in dir, creating it if dir is absent or empty. It
// verifies every record, cuts a torn tail off the last segment (logging
// it), and reports any other damage as an error wrapping ErrCorrupt.
func Open(dir string, opts Options) (*WAL, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &WAL{dir: dir, logDir: filepath.Join(dir, logDirName), opts: opts,
		sy: syncer{off: opts.UnsafeNoFsync, fs: opts.FS}, log: opts.Logger, exited: make(chan struct{})}
	w.wake.L = &w.mu
	w.lingerEnd.L = &w.mu
	w.lingerTimer = time.AfterFunc(time.Hour, func() {
		w.mu.Lock()
		w.wake.Broadcast()
		w.mu.Unlock()
	})
	w.lingerTimer.Stop()
	if err := prepareDir(dir, w.sy); err != nil {
		return nil, err
	}
	if err := w.loadState(); err != nil {
		return nil, err
	}
	terms, err := recoverLog(w.logDir, opts.SegmentBytes, w.log, w.sy)
	if err != nil {
		return nil, err
	}
	w.dur = terms
	w.fl.tlFirst, w.fl.tlLast = terms.first, terms.last
	err = w.reconcileSnapshot()
	if rerr := w.waitRemover(); err == nil {
		err = rerr // Open finishes its own removals before it returns
	}
	if err != nil {
		_ = w.fl.closeTail()
		return nil, err
	}
	if err := w.fl.openTail(w.logDir, w.sy); err != nil {
		return nil, err
	}
	if w.met, err = newMetrics(opts.Registerer); err != nil {
		_ = w.fl.closeTail()
		return nil, fmt.Errorf("wal: register metrics: %w", err)
	}
	w.sub = w.dur.clone()
	w.subSnap = w.snap.Index
	if _, osfs := opts.FS.(OSFS); osfs && !opts.UnsafeNoFsync && !opts.BlockingFsync {
		// Only the flusher fsyncs from here on, through the ring.
		if r, err := newRingSyncer(); err == nil {
			w.sy.ring = r
		} else {
			w.log.Debug("wal: io_uring fsync offload unavailable, using blocking fsync", "err", err)
		}
	}
	if err := w.preallocateEmptyTail(true); err != nil {
		_ = w.fl.closeTail()
		return nil, err
	}
	w.prepareSpare()
	openWALs.Add(1)
	go w.run()
	return w, nil
}

// prepareDir checks the marker file, or initializes an absent or empty
// directory: log/ first, then the marker, so a crash mid-way leaves
// something the next Open recognizes as "not initialized yet".
func prepareDir(dir string, sy syncer) error {
	metaPath := filepath.Join(dir, metaName)
	b, ok, err := readOptional(metaPath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s: %v", ErrNotWAL, dir, err)
		}
		return err
	}
	if ok {
		if err := checkMeta(metaPath, b); err != nil {
			return err
		}
		if st, err := os.Stat(filepath.Join(dir, logDirName)); err != nil || !st.IsDir() {
			return fmt.Errorf("%w: %s has a marker file but no %s/ directory", ErrCorrupt, dir, logDirName)
		}
		return nil
	}
	if err := checkEmptyDir(dir); err != nil {
		return err
	}
	if err := sy.files().MkdirAll(filepath.Join(dir, logDirName), 0o750); err != nil {
		return err
	}
	if err := sy.dir(dir); err != nil {
		return err
	}
	if err := sy.dir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return err
	}
	return sy.atomicWrite(dir, metaName, encodeMeta())
}

// checkEmptyDir accepts a missing directory, an empty one, or the
// leftovers of an interrupted initialization (empty log/, marker temp).
func checkEmptyDir(dir string) error {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotWAL, dir, err)
	}
	for _, de := range des {
		switch de.Name() {
		case metaName + tmpSuffix:
			continue
		case logDirName:
			if sub, err := os.ReadDir(filepath.Join(dir, logDirName)); err == nil && len(sub) == 0 {
				continue
			}
		}
		return fmt.Errorf("%w: %s has no %s marker file and is not empty (found %q)", ErrNotWAL, dir, metaName, de.Name())
	}
	return nil
}

// loadState reads the hard state and snapshot files, if present.
func (w *WAL) loadState() error {
	path := filepath.Join(w.dir, hardStateName)
	if b, ok, err := readOptional(path); err != nil {
		return err
	} else if ok {
		if w.hs, err = decodeHardState(path, b); err != nil {
			return err
		}
	}
	if err := removeSnapshotLeftovers(w.dir, w.sy); err != nil {
		return err
	}
	if err := removeSpareLeftovers(w.dir, w.sy); err != nil {
		return err
	}
	// Only the metadata is kept; the data is verified streaming, never
	// held (Snapshot and OpenSnapshot read it when asked).
	path = filepath.Join(w.dir, snapshotName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	d, err := readSnapshotData(path, f)
	_ = f.Close()
	if err != nil {
		return err
	}
	if d.Meta.Index == 0 {
		return fmt.Errorf("%w: %s: snapshot index 0", ErrCorrupt, path)
	}
	w.snap = d.Meta
	return nil
}

func readSnapshotFile(dir string) (raftpb.Snapshot, bool, error) {
	path := filepath.Join(dir, snapshotName)
	b, ok, err := readOptional(path)
	if err != nil || !ok {
		return raftpb.Snapshot{}, false, err
	}
	s, err := decodeSnapshot(path, b)
	return s, err == nil, err
}

// reconcileSnapshot finishes a SaveSnapshot that a crash interrupted
// after the snapshot file was replaced (its commit point) but before the
// log was compacted or discarded.
func (w *WAL) reconcileSnapshot() error {
	if w.snap.Index == 0 {
		return nil
	}
	if snapshotPlan(&w.dur, w.snap) {
		w.log.Warn("wal: log does not match the snapshot; discarding it",
			"snapshot_index", w.snap.Index, "snapshot_term", w.snap.Term, "first", w.dur.first, "last", w.dur.last)
		return w.resetLog(w.snap.Index + 1)
	}
	if w.snap.Index >= w.dur.first {
		return w.compactToSnapshot(w.snap.Index)
	}
	return nil
}

// Submit implements Log. done runs on the flusher goroutine and must
// not block; w.Entries must not be modified until done has been called.
func (w *WAL) Submit(wr Write, done func(error)) error {
	if done == nil {
		return errors.New("wal: Submit needs a done callback")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	size, err := checkWrite(&w.sub, &wr, w.opts.MaxBatchBytes)
	if err != nil {
		return err
	}
	it := item{kind: opWrite, entries: wr.Entries, bytes: size, done: done}
	if wr.HardState != nil {
		it.hasHS, it.hs = true, *wr.HardState
		it.bytes += hardStateSize
	}
	if err := w.admit(it.bytes); err != nil {
		return err
	}
	applyWrite(&w.sub, wr.Entries)
	w.enqueue(it)
	return nil
}

// usable reports why the WAL takes no more writes. Caller holds mu.
func (w *WAL) usable() error {
	if w.failed != nil {
		return w.failed
	}
	if w.closing {
		return ErrClosed
	}
	return nil
}

// admit enforces the queue limits. Caller holds mu.
func (w *WAL) admit(bytes int) error {
	if len(w.queue) >= w.opts.MaxQueueWrites || w.qBytes+bytes > w.opts.MaxQueueBytes {
		return fmt.Errorf("%w: %d writes / %d bytes queued, limits %d / %d",
			ErrQueueFull, len(w.queue), w.qBytes, w.opts.MaxQueueWrites, w.opts.MaxQueueBytes)
	}
	return nil
}

// enqueue hands an admitted item to the flusher. Caller holds mu.
func (w *WAL) enqueue(it item) {
	w.queue = append(w.queue, it)
	w.qBytes += it.bytes
	w.qRecords += it.records()
	w.ctr.queueDepth.Store(int64(len(w.queue)))
	w.met.setQueueDepth(len(w.queue))
	if w.qRecords >= w.wakeAt || w.qBytes >= w.opts.MaxBatchBytes {
		w.wake.Signal()
	}
}

// submitOp validates and enqueues a non-write operation, then waits.
func (w *WAL) submitOp(prepare func() (item, bool, error)) error {
	ch := make(chan error, 1)
	w.mu.Lock()
	err := w.usable()
	var it item
	var needed bool
	if err == nil {
		it, needed, err = prepare()
	}
	if err == nil && needed {
		err = w.admit(0)
	}
	if err != nil || !needed {
		w.mu.Unlock()
		return err
	}
	it.done = func(err error) { ch <- err }
	w.enqueue(it)
	w.mu.Unlock()
	return <-ch
}

// Append implements Log.
func (w *WAL) Append(entries []raftpb.Entry) error {
	return w.wait(Write{Entries: entries})
}

// SaveHardState implements Log.
func (w *WAL) SaveHardState(hs raftpb.HardState) error {
	return w.wait(Write{HardState: &hs})
}

func (w *WAL) wait(wr Write) error {
	ch := make(chan error, 1)
	if err := w.Submit(wr, func(err error) { ch <- err }); err != nil {
		return err
	}
	return <-ch
}

// TruncateSuffix implements Log. Truncating past the end is a no-op.
func (w *WAL) TruncateSuffix(from uint64) error {
	return w.submitOp(func() (item, bool, error) {
		if err := checkTruncate(&w.sub, from); err != nil {
			return item{}, false, err
		}
		if from > w.sub.last {
			return item{}, false, nil
		}
		w.sub.truncateFrom(from)
		return item{kind: opTruncate, index: from}, true, nil
	})
}

// CompactPrefix implements Log. Compacting below FirstIndex is a no-op;
// compacting beyond LastIndex is ErrOutOfRange (use SaveSnapshot).
func (w *WAL) CompactPrefix(upTo uint64) error {
	return w.submitOp(func() (item, bool, error) {
		if err := checkCompact(&w.sub, upTo); err != nil {
			return item{}, false, err
		}
		if upTo < w.sub.first {
			return item{}, false, nil
		}
		w.sub.compactTo(upTo)
		return item{kind: opCompact, index: upTo}, true, nil
	})
}

// SaveSnapshot implements Log. A snapshot older than the stored one is
// rejected with ErrCompacted. The file is written and fsynced on the
// caller's goroutine (CreateSnapshot); the flusher only installs it.
func (w *WAL) SaveSnapshot(s raftpb.Snapshot) error {
	w.mu.Lock()
	stale := s.Meta.Index != 0 && s.Meta.Index < w.subSnap
	stored := w.subSnap
	w.mu.Unlock()
	if stale {
		return fmt.Errorf("%w: snapshot at %d is older than the stored one at %d", ErrCompacted, s.Meta.Index, stored)
	}
	f, err := w.CreateSnapshot(s.Meta, uint64(len(s.Data)))
	if err != nil {
		return err
	}
	if _, err := f.Write(s.Data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// HardState implements Log.
func (w *WAL) HardState() raftpb.HardState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hs
}

// FirstIndex implements Log.
func (w *WAL) FirstIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dur.first
}

// LastIndex implements Log: the last durable index.
func (w *WAL) LastIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dur.last
}

// Term implements Log. Term(0) is 0 while no snapshot is stored.
func (w *WAL) Term(index uint64) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return termAt(&w.dur, w.snap, index)
}

func termAt(t *termIndex, snap raftpb.SnapshotMeta, index uint64) (uint64, error) {
	if term, ok := t.term(index); ok {
		return term, nil
	}
	if index == snap.Index {
		return snap.Term, nil
	}
	if index < t.first {
		return 0, fmt.Errorf("%w: index %d, first index %d", ErrCompacted, index, t.first)
	}
	return 0, fmt.Errorf("%w: index %d, last index %d", ErrOutOfRange, index, t.last)
}

// checkRange validates Entries(lo, hi) against a log view.
func checkRange(t *termIndex, lo, hi uint64) error {
	switch {
	case lo > hi:
		return fmt.Errorf("%w: empty range [%d, %d)", ErrOutOfRange, lo, hi)
	case lo < t.first:
		return fmt.Errorf("%w: index %d, first index %d", ErrCompacted, lo, t.first)
	case hi > t.last+1:
		return fmt.Errorf("%w: range [%d, %d), last index %d", ErrOutOfRange, lo, hi, t.last)
	}
	return nil
}

// Entries implements Log. Every record is checksum-verified; the
// returned entries share one freshly allocated data buffer. The records
// are read from the segment files (the page cache, usually): a node
// reads its log once, when it starts, so nothing keeps a copy of it.
func (w *WAL) Entries(lo, hi uint64) ([]raftpb.Entry, error) {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	w.mu.Lock()
	err := checkRange(&w.dur, lo, hi)
	w.mu.Unlock()
	if err != nil || lo == hi {
		return nil, err
	}
	segs, err := listSegments(w.logDir)
	if err != nil {
		return nil, fmt.Errorf("wal: read [%d, %d): %w", lo, hi, err)
	}
	k := len(segs) - 1
	for k > 0 && segs[k].start > lo {
		k--
	}
	out := make([]raftpb.Entry, 0, hi-lo)
	var datas [][]byte // each segment's bytes, until the data is copied out
	total := 0
	for next := lo; next < hi; k++ {
		if k >= len(segs) || segs[k].start > next {
			return nil, &CorruptError{File: w.logDir, Index: next, Offset: -1,
				Reason: "no segment file holds this durable index (found on read)"}
		}
		data, err := os.ReadFile(segs[k].path)
		if err != nil {
			return nil, fmt.Errorf("wal: read index %d: %w", next, err)
		}
		datas = append(datas, data)
		p := 0
		for idx := segs[k].start; idx < hi && (k+1 >= len(segs) || idx < segs[k+1].start); idx++ {
			if p >= len(data) {
				if k+1 < len(segs) {
					break // the next segment must start here; checked above
				}
				return nil, &CorruptError{File: segs[k].path, Index: idx, Offset: int64(p),
					Reason: "the segment ends before this durable index (found on read)"}
			}
			rec, n, why := frameAt(data, p)
			if why == "" && idx >= lo {
				var e raftpb.Entry
				if e, err = decodeRecordAt(rec, idx); err != nil {
					why = err.Error()
				} else {
					out = append(out, e)
					total += len(e.Data)
				}
			}
			if why != "" {
				return nil, &CorruptError{File: segs[k].path, Index: idx, Offset: int64(p), Reason: why + " (found on read)"}
			}
			p += n
			next = idx + 1
		}
	}
	// Copy out of the segments' bytes so callers hold no reference to
	// them: one allocation for all data.
	buf := make([]byte, 0, total)
	for i := range out {
		if out[i].Data == nil {
			continue
		}
		start := len(buf)
		buf = append(buf, out[i].Data...)
		out[i].Data = buf[start:len(buf):len(buf)]
	}
	clear(datas)
	return out, nil
}

// Snapshot implements Log; it reads and verifies the snapshot file.
func (w *WAL) Snapshot() (raftpb.Snapshot, error) {
	w.mu.Lock()
	has := w.snap.Index != 0
	w.mu.Unlock()
	if !has {
		return raftpb.Snapshot{}, ErrNoSnapshot
	}
	s, ok, err := readSnapshotFile(w.dir)
	if err == nil && !ok {
		err = fmt.Errorf("%w: snapshot file vanished from %s", ErrCorrupt, w.dir)
	}
	return s, err
}

// Stats returns the WAL's counters.
func (w *WAL) Stats() Stats {
	s := w.ctr.snapshot()
	s.FsyncOffload = w.sy.ring != nil // set before the flusher starts, never changed
	return s
}

// Close implements Log: it waits for the flusher to finish every queued
// write, then releases the files. It returns the sticky I/O error if
// the WAL failed, ErrClosed if already closed.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closing = true
	w.wake.Broadcast()
	w.mu.Unlock()
	<-w.exited
	openWALs.Add(-1)
	_ = w.waitRemover() // its error, if any, is w.failed now
	w.dropSpare()
	w.dropRecycled()

	w.readMu.Lock()
	w.closed = true
	w.readMu.Unlock()
	err := w.fl.closeTail()
	if w.sy.ring != nil {
		if cerr := w.sy.ring.Close(); err == nil {
			err = cerr
		}
	}
	w.met.unregister()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	return err
}
