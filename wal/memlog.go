package wal

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// MemOptions configures a MemLog.
type MemOptions struct {
	// ManualSync makes Submit only buffer the write (unsynced); the
	// driver makes writes durable with SyncOne/SyncAll, which call the
	// done callbacks synchronously, in order. Without it every Submit is
	// durable at once and its done runs before Submit returns.
	//
	// With ManualSync the blocking helpers (Append, SaveHardState,
	// TruncateSuffix, CompactPrefix, SaveSnapshot) act like an fsync:
	// they sync every pending write first, then themselves, so a
	// single-threaded simulator never deadlocks on them.
	ManualSync bool
	// MaxQueueWrites and MaxBatchBytes are the same limits as Options'
	// (defaults DefaultMaxQueueWrites, DefaultMaxBatchBytes).
	MaxQueueWrites int
	MaxBatchBytes  int
}

// CrashMode says what a simulated crash does to unsynced writes.
type CrashMode uint8

const (
	// LoseUnsynced drops every write not yet synced.
	LoseUnsynced CrashMode = iota + 1
	// TearLast keeps every unsynced write except the last record, which
	// was partially written; reopening cuts it off (so it is lost, as
	// with the file WAL's torn tail). Hard state and snapshot of the
	// last pending write are lost with it; earlier pending writes
	// survive in full (they reached the disk, their acks did not leave).
	TearLast
	// FlipSynced drops unsynced writes and flips a byte in a synced
	// record (the middle one of the durable range): reopening reports
	// ErrCorrupt naming that index.
	FlipSynced
)

// MemLog is an in-memory Log for the deterministic simulator. It starts
// no goroutines, reads no clock, and iterates no maps: the same calls
// give the same results. Records are stored encoded with their CRC, so
// simulated corruption is caught by the same checks as on disk.
type MemLog struct {
	mu   sync.Mutex
	opts MemOptions
	st   memState  // durable
	sub  termIndex // with every accepted Submit applied
	snap uint64    // newest accepted snapshot index

	pending  []item
	failNext error
	failed   error
	closed   bool
	ctr      counters
}

// memState is what survives a crash. recs[i] is the record of index
// dur.first+i; records are immutable once stored.
type memState struct {
	dur  termIndex
	recs [][]byte
	hs   raftpb.HardState
	snap *raftpb.Snapshot
}

// NewMemLog returns an empty MemLog whose first index is 1.
func NewMemLog(opts MemOptions) *MemLog {
	var st memState
	st.dur.resetTo(1)
	return newMemLogFrom(opts, st)
}

func newMemLogFrom(opts MemOptions, st memState) *MemLog {
	if opts.MaxQueueWrites <= 0 {
		opts.MaxQueueWrites = DefaultMaxQueueWrites
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	m := &MemLog{opts: opts, st: st, sub: st.dur.clone()}
	if st.snap != nil {
		m.snap = st.snap.Meta.Index
	}
	return m
}

// Submit implements Log.
func (m *MemLog) Submit(w Write, done func(error)) error {
	if done == nil {
		return errors.New("wal: Submit needs a done callback")
	}
	m.mu.Lock()
	if err := m.usable(); err != nil {
		m.mu.Unlock()
		return err
	}
	size, err := checkWrite(&m.sub, &w, m.opts.MaxBatchBytes)
	if err == nil {
		err = m.admit()
	}
	if err != nil {
		m.mu.Unlock()
		return err
	}
	it := item{kind: opWrite, entries: w.Entries, bytes: size, done: done}
	if w.HardState != nil {
		it.hasHS, it.hs = true, *w.HardState
	}
	applyWrite(&m.sub, w.Entries)
	m.pending = append(m.pending, it)
	m.ctr.queueDepth.Store(int64(len(m.pending)))
	if m.opts.ManualSync {
		m.mu.Unlock()
		return nil
	}
	m.syncLocked(len(m.pending)) // unlocks
	return nil
}

func (m *MemLog) usable() error {
	if m.failed != nil {
		return m.failed
	}
	if m.closed {
		return ErrClosed
	}
	return nil
}

func (m *MemLog) admit() error {
	if len(m.pending) >= m.opts.MaxQueueWrites {
		return fmt.Errorf("%w: %d writes pending, limit %d", ErrQueueFull, len(m.pending), m.opts.MaxQueueWrites)
	}
	return nil
}

// SyncOne makes the oldest pending write durable and calls its done.
// It reports whether there was one.
func (m *MemLog) SyncOne() bool {
	m.mu.Lock()
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return false
	}
	m.syncLocked(1)
	return true
}

// SyncAll makes every pending write durable (one simulated fsync) and
// calls their done callbacks in order. It returns how many it completed.
func (m *MemLog) SyncAll() int {
	m.mu.Lock()
	n := len(m.pending)
	if n == 0 {
		m.mu.Unlock()
		return 0
	}
	m.syncLocked(n)
	return n
}

// Pending returns the number of unsynced writes.
func (m *MemLog) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// FailNextSync makes the next sync fail with err: that write's done gets
// it, and the log fails like the file WAL after an fsync error (every
// pending and later write gets the error).
func (m *MemLog) FailNextSync(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = err
}

// syncLocked applies the first n pending items, then calls their done
// callbacks after releasing mu. Caller holds mu; it is released.
func (m *MemLog) syncLocked(n int) {
	items := slices.Clone(m.pending[:n])
	m.pending = slices.Delete(m.pending, 0, n)
	var err error
	if m.failNext != nil {
		err = fmt.Errorf("wal: failed, reopen to recover: %w", m.failNext)
		m.failNext, m.failed = nil, err
		items = append(items, m.pending...)
		m.pending = nil
	} else {
		entries := 0
		for i := range items {
			entries += m.st.apply(&items[i])
		}
		m.ctr.writes.Add(uint64(len(items)))
		m.ctr.flushes.Add(1)
		m.ctr.fsyncs.Add(1)
		m.ctr.entries.Add(uint64(entries))
	}
	m.ctr.queueDepth.Store(int64(len(m.pending)))
	m.mu.Unlock()
	for i := range items {
		items[i].done(err)
	}
}

// apply makes one item durable and returns how many entries it wrote.
func (s *memState) apply(it *item) int {
	switch it.kind {
	case opWrite:
		if len(it.entries) > 0 {
			s.truncateFrom(it.entries[0].Index)
			for i := range it.entries {
				e := &it.entries[i]
				s.recs = append(s.recs, appendRecord(make([]byte, 0, recordSize(e)), e))
				s.dur.append(e.Index, e.Term)
			}
		}
		if it.hasHS {
			s.hs = it.hs
		}
		return len(it.entries)
	case opTruncate:
		s.truncateFrom(it.index)
	case opCompact:
		s.compactTo(it.index)
	case opSnapshot:
		snap := raftpb.Snapshot{Meta: it.snap.Meta, Data: slices.Clone(it.snap.Data)}
		snap.Meta.ConfState = it.snap.Meta.ConfState.Clone()
		s.snap = &snap
		if snapshotPlan(&s.dur, snap.Meta) {
			s.dur.resetTo(snap.Meta.Index + 1)
			s.recs = nil
		} else {
			s.compactTo(snap.Meta.Index)
		}
	}
	return 0
}

func (s *memState) truncateFrom(from uint64) {
	if from <= s.dur.last {
		s.recs = s.recs[:from-s.dur.first]
		s.dur.truncateFrom(from)
	}
}

func (s *memState) compactTo(upTo uint64) {
	if upTo >= s.dur.first {
		s.recs = slices.Clone(s.recs[upTo+1-s.dur.first:])
		s.dur.compactTo(upTo)
	}
}

// submitOp enqueues a non-write op and, acting as an fsync, syncs it
// together with everything pending before it.
func (m *MemLog) submitOp(prepare func() (item, bool, error)) error {
	m.mu.Lock()
	err := m.usable()
	var it item
	var needed bool
	if err == nil {
		it, needed, err = prepare()
	}
	if err == nil && needed {
		err = m.admit()
	}
	if err != nil || !needed {
		m.mu.Unlock()
		return err
	}
	var res error
	it.done = func(err error) { res = err }
	m.pending = append(m.pending, it)
	m.syncLocked(len(m.pending))
	return res
}

// wait submits w and syncs it (and everything before it) at once.
func (m *MemLog) wait(w Write) error {
	var res error
	if err := m.Submit(w, func(err error) { res = err }); err != nil {
		return err
	}
	m.SyncAll()
	return res
}

// Append implements Log.
func (m *MemLog) Append(entries []raftpb.Entry) error { return m.wait(Write{Entries: entries}) }

// SaveHardState implements Log.
func (m *MemLog) SaveHardState(hs raftpb.HardState) error { return m.wait(Write{HardState: &hs}) }

// TruncateSuffix implements Log.
func (m *MemLog) TruncateSuffix(from uint64) error {
	return m.submitOp(func() (item, bool, error) {
		if err := checkTruncate(&m.sub, from); err != nil || from > m.sub.last {
			return item{}, false, err
		}
		m.sub.truncateFrom(from)
		return item{kind: opTruncate, index: from}, true, nil
	})
}

// CompactPrefix implements Log.
func (m *MemLog) CompactPrefix(upTo uint64) error {
	return m.submitOp(func() (item, bool, error) {
		if err := checkCompact(&m.sub, upTo); err != nil || upTo < m.sub.first {
			return item{}, false, err
		}
		m.sub.compactTo(upTo)
		return item{kind: opCompact, index: upTo}, true, nil
	})
}

// SaveSnapshot implements Log.
func (m *MemLog) SaveSnapshot(s raftpb.Snapshot) error {
	return m.submitOp(func() (item, bool, error) {
		if s.Meta.Index == 0 {
			return item{}, false, errors.New("wal: snapshot with index 0")
		}
		if s.Meta.Index < m.snap {
			return item{}, false, fmt.Errorf("%w: snapshot at %d is older than the stored one at %d", ErrCompacted, s.Meta.Index, m.snap)
		}
		applySnapshot(&m.sub, s.Meta)
		m.snap = s.Meta.Index
		return item{kind: opSnapshot, snap: s}, true, nil
	})
}

// HardState implements Log.
func (m *MemLog) HardState() raftpb.HardState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.hs
}

// FirstIndex implements Log.
func (m *MemLog) FirstIndex() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.dur.first
}

// LastIndex implements Log: the last synced index.
func (m *MemLog) LastIndex() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.dur.last
}

// Term implements Log.
func (m *MemLog) Term(index uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return termAt(&m.st.dur, m.st.snapMeta(), index)
}

func (s *memState) snapMeta() raftpb.SnapshotMeta {
	if s.snap == nil {
		return raftpb.SnapshotMeta{}
	}
	return s.snap.Meta
}

// Entries implements Log. Every record's CRC is checked; Data aliases
// the stored (immutable) record.
func (m *MemLog) Entries(lo, hi uint64) ([]raftpb.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if err := checkRange(&m.st.dur, lo, hi); err != nil || lo == hi {
		return nil, err
	}
	out := make([]raftpb.Entry, 0, hi-lo)
	for i := lo; i < hi; i++ {
		e, err := decodeRecordAt(m.st.recs[i-m.st.dur.first], i)
		if err != nil {
			return nil, &CorruptError{Index: i, Reason: err.Error()}
		}
		out = append(out, e)
	}
	return out, nil
}

// Snapshot implements Log.
func (m *MemLog) Snapshot() (raftpb.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.snap == nil {
		return raftpb.Snapshot{}, ErrNoSnapshot
	}
	return *m.st.snap, nil
}

// Stats returns the MemLog's counters (Fsyncs counts simulated syncs).
func (m *MemLog) Stats() Stats { return m.ctr.snapshot() }

// Close implements Log. Pending (unsynced) writes get ErrClosed.
func (m *MemLog) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	pending := m.pending
	m.pending = nil
	failed := m.failed
	m.mu.Unlock()
	for i := range pending {
		pending[i].done(ErrClosed)
	}
	return failed
}

// Crash simulates a process crash and restart: the returned log is what
// the restarted node would open. This log is dead afterwards; its
// pending done callbacks are never called (their process is gone). With
// FlipSynced the reopen fails with an error wrapping ErrCorrupt.
func (m *MemLog) Crash(mode CrashMode) (*MemLog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	st := m.st
	st.recs = slices.Clone(st.recs)
	st.dur = st.dur.clone()
	pending := m.pending
	m.pending = nil
	switch mode {
	case LoseUnsynced:
	case TearLast:
		tearLast(&st, pending)
	case FlipSynced:
		if st.dur.empty() {
			return nil, errors.New("wal: FlipSynced needs at least one synced entry")
		}
		i := (st.dur.last - st.dur.first) / 2
		rec := slices.Clone(st.recs[i])
		rec[len(rec)/2] ^= 0x5a
		st.recs[i] = rec
	default:
		return nil, fmt.Errorf("wal: unknown crash mode %d", mode)
	}
	return reopenMem(m.opts, st)
}

// tearLast applies every pending item but the last in full, and the
// last one's entries minus its final record (which is torn, then cut).
func tearLast(st *memState, pending []item) {
	if len(pending) == 0 {
		return
	}
	for i := range pending[:len(pending)-1] {
		st.apply(&pending[i])
	}
	last := pending[len(pending)-1]
	if last.kind == opWrite && len(last.entries) > 1 {
		st.apply(&item{kind: opWrite, entries: last.entries[:len(last.entries)-1]})
	}
}

// reopenMem verifies every record as Open does for files.
func reopenMem(opts MemOptions, st memState) (*MemLog, error) {
	for i, rec := range st.recs {
		idx := st.dur.first + uint64(i)
		if _, err := decodeRecordAt(rec, idx); err != nil {
			return nil, &CorruptError{Index: idx, Reason: err.Error()}
		}
	}
	return newMemLogFrom(opts, st), nil
}

var (
	_ Log = (*WAL)(nil)
	_ Log = (*MemLog)(nil)
)
