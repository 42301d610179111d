package wal

import (
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// frameOverhead is an upper bound on tidwall's uvarint length prefix
// for payloads below 4 GiB; used only for byte accounting.
const frameOverhead = 5

// checkWrite validates w against the submitted log view sub and returns
// its encoded size. It does not change sub. Shared by WAL and MemLog so
// both reject exactly the same inputs.
func checkWrite(sub *termIndex, w *Write, maxBatchBytes int) (int, error) {
	if len(w.Entries) == 0 {
		return 0, nil
	}
	first := w.Entries[0].Index
	size := 0
	for i := range w.Entries {
		e := &w.Entries[i]
		if e.Index != first+uint64(i) {
			return 0, fmt.Errorf("%w: entry %d of the write has index %d, want %d", ErrNotContiguous, i, e.Index, first+uint64(i))
		}
		if len(e.Data) > maxEntryData {
			return 0, fmt.Errorf("%w: entry %d has %d bytes of data", ErrTooLarge, e.Index, len(e.Data))
		}
		size += recordSize(e) + frameOverhead
	}
	switch {
	case first == 0:
		return 0, fmt.Errorf("%w: index 0 is not a valid log index", ErrNotContiguous)
	case first < sub.first:
		return 0, fmt.Errorf("%w: write at index %d is below the first index %d", ErrCompacted, first, sub.first)
	case first > sub.last+1:
		return 0, fmt.Errorf("%w: write at index %d leaves a gap after the last index %d", ErrNotContiguous, first, sub.last)
	case size > maxBatchBytes:
		return 0, fmt.Errorf("%w: write of %d bytes, limit %d", ErrTooLarge, size, maxBatchBytes)
	}
	return size, nil
}

// applyWrite records an accepted write in a log view: the suffix from
// its first index is replaced (Raft §5.3 conflict resolution is the
// caller's decision; the WAL only executes it).
func applyWrite(t *termIndex, entries []raftpb.Entry) {
	if len(entries) == 0 {
		return
	}
	t.truncateFrom(entries[0].Index)
	for i := range entries {
		t.append(entries[i].Index, entries[i].Term)
	}
}

// snapshotPlan says what SaveSnapshot does to a log view t: keep the
// suffix after meta.Index if the log holds meta.Index with the same term
// (or already starts after it), else discard the whole log.
func snapshotPlan(t *termIndex, meta raftpb.SnapshotMeta) (discard bool) {
	if meta.Index < t.first {
		return false
	}
	term, ok := t.term(meta.Index)
	return !ok || term != meta.Term
}

// applySnapshot updates a log view for a snapshot at meta.
func applySnapshot(t *termIndex, meta raftpb.SnapshotMeta) {
	if snapshotPlan(t, meta) {
		t.resetTo(meta.Index + 1)
		return
	}
	t.compactTo(meta.Index)
}

// checkCompact validates CompactPrefix(upTo) against a log view.
func checkCompact(t *termIndex, upTo uint64) error {
	if upTo > t.last {
		return fmt.Errorf("%w: compact up to %d beyond last index %d (use SaveSnapshot to jump ahead)", ErrOutOfRange, upTo, t.last)
	}
	return nil
}

// checkTruncate validates TruncateSuffix(from) against a log view.
func checkTruncate(t *termIndex, from uint64) error {
	if from < t.first {
		return fmt.Errorf("%w: truncate from %d below first index %d", ErrCompacted, from, t.first)
	}
	return nil
}
