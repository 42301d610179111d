package wal

import (
	"errors"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Log is the storage contract the runtime and the simulator program
// against. Both the file-backed WAL (Open) and the in-memory MemLog
// implement it. All methods are safe for concurrent use.
//
// The WAL stores entries with contiguous indexes starting after the last
// compaction point; it checks contiguity but knows no Raft rules.
type Log interface {
	// Submit enqueues a write and returns at once; done is called exactly
	// once, from the flusher, when the write is durable (nil) or has
	// failed. Writes become durable in Submit order, and concurrent
	// submissions share one write and one fsync (group commit).
	//
	// w.Entries must be contiguous; if w.Entries[0].Index is at or below
	// the last submitted index, the suffix from that index is replaced
	// (log conflict). w.HardState, if non-nil, is saved atomically with
	// the same durability. Submit fails fast with ErrQueueFull when the
	// queue limits are reached, ErrNotContiguous / ErrCompacted for bad
	// indexes, and ErrClosed after Close.
	Submit(w Write, done func(error)) error
	// Append submits entries and waits until they are durable.
	Append(entries []raftpb.Entry) error
	// SaveHardState replaces the hard state atomically and durably.
	SaveHardState(hs raftpb.HardState) error
	// HardState returns the last saved hard state (zero if none).
	HardState() raftpb.HardState
	// Entries returns entries [lo, hi). ErrCompacted if lo < FirstIndex,
	// ErrOutOfRange if hi > LastIndex+1. Data is checksum-verified.
	Entries(lo, hi uint64) ([]raftpb.Entry, error)
	// Term returns the term of the entry at index; the snapshot's term
	// at the snapshot index.
	Term(index uint64) (uint64, error)
	// FirstIndex is the first index stored (snapshot index + 1 after a
	// compaction, 1 for a new log). LastIndex is the last durable index
	// (FirstIndex-1 when empty).
	FirstIndex() uint64
	LastIndex() uint64
	// TruncateSuffix removes every entry with index >= from.
	TruncateSuffix(from uint64) error
	// CompactPrefix removes every entry with index <= upTo.
	CompactPrefix(upTo uint64) error
	// SaveSnapshot durably stores s (atomically replacing the previous
	// one) and then compacts the log prefix up to s.Meta.Index. If the
	// log does not reach s.Meta.Index, or has a different term there, the
	// whole log is discarded and restarts after the snapshot.
	SaveSnapshot(s raftpb.Snapshot) error
	// Snapshot returns the stored snapshot, or ErrNoSnapshot.
	Snapshot() (raftpb.Snapshot, error)
	// Close flushes pending writes and releases files. Pending writes that
	// cannot complete get ErrClosed.
	Close() error
}

// queueFull is ErrQueueFull: Submit refused a write only because the
// queue is at its limit. Its Backpressure method tells a caller (the
// driver) to submit the write again once earlier writes are durable,
// rather than treat it as a storage failure.
type queueFull struct{}

func (queueFull) Error() string      { return "wal: write queue full" }
func (queueFull) Backpressure() bool { return true }

// Write is one unit of Submit.
type Write struct {
	Entries   []raftpb.Entry
	HardState *raftpb.HardState
}

// Sentinel errors. Errors with more context wrap these (use errors.Is).
var (
	ErrClosed              = errors.New("wal: closed")
	ErrQueueFull     error = queueFull{}
	ErrNotContiguous       = errors.New("wal: entries are not contiguous with the log")
	ErrCompacted           = errors.New("wal: index compacted away")
	ErrOutOfRange          = errors.New("wal: index beyond last entry")
	ErrCorrupt             = errors.New("wal: corrupt record")
	ErrNotWAL              = errors.New("wal: directory is not a raftbench WAL")
	ErrVersion             = errors.New("wal: unsupported format version")
	ErrNoSnapshot          = errors.New("wal: no snapshot")
	ErrTooLarge            = errors.New("wal: write exceeds batch byte limit")
)
