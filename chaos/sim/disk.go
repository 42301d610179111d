package sim

import (
	"errors"
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// crashMode says what a crash does to writes that were submitted but not
// yet synced.
type crashMode uint8

const (
	// crashKeepUnsynced: the process died but the OS kept its page cache,
	// so every submitted write survives.
	crashKeepUnsynced crashMode = iota + 1
	// crashLoseUnsynced: power loss: unsynced writes are lost, except a
	// random prefix that reached the platter.
	crashLoseUnsynced
	// crashTearLast: power loss in the middle of a write: as above, and
	// the first lost write is left half-written for recovery to drop.
	crashTearLast
)

func (m crashMode) String() string {
	switch m {
	case crashKeepUnsynced:
		return "keep-unsynced"
	case crashLoseUnsynced:
		return "lose-unsynced"
	case crashTearLast:
		return "tear-last"
	}
	return "crash?"
}

var errSyncFailed = errors.New("sim: injected fsync failure")

type pendingWrite struct {
	w    wal.Write
	done func(error)
}

// memDisk is one node's stable storage with manual syncs: Submit queues a
// write; sync makes every queued write durable in order (group commit) or
// fails them all; crash keeps what the crash mode says.
type memDisk struct {
	hs      raftpb.HardState
	ents    []raftpb.Entry // durable, from index 1
	pending []pendingWrite
	subLast uint64 // last index submitted (durable or pending)
}

const maxPendingWrites = 4096

func (d *memDisk) Submit(w wal.Write, done func(error)) error {
	if len(d.pending) >= maxPendingWrites {
		return wal.ErrQueueFull
	}
	if len(w.Entries) > 0 {
		first := w.Entries[0].Index
		if first == 0 || first > d.subLast+1 {
			return fmt.Errorf("%w: write starts at %d, log ends at %d", wal.ErrNotContiguous, first, d.subLast)
		}
		d.subLast = w.Entries[len(w.Entries)-1].Index
	}
	d.pending = append(d.pending, pendingWrite{w: w, done: done})
	return nil
}

// hasPending reports whether a sync has anything to do.
func (d *memDisk) hasPending() bool { return len(d.pending) > 0 }

// sync completes every pending write, or fails them all when fail is set.
func (d *memDisk) sync(fail bool) {
	ps := d.pending
	d.pending = nil
	for _, p := range ps {
		if fail {
			p.done(errSyncFailed)
			continue
		}
		d.apply(p.w)
		p.done(nil)
	}
}

func (d *memDisk) apply(w wal.Write) {
	if len(w.Entries) > 0 {
		d.ents = append(d.ents[:w.Entries[0].Index-1], w.Entries...)
	}
	if w.HardState != nil {
		d.hs = *w.HardState
	}
}

// crash applies mode to the unsynced writes; keep is how many of them
// reached the disk for the power-loss modes. It returns how many writes
// were lost and whether one was torn.
func (d *memDisk) crash(mode crashMode, keep int) (lost int, torn bool) {
	ps := d.pending
	d.pending = nil
	if mode == crashKeepUnsynced {
		keep = len(ps)
	}
	keep = min(keep, len(ps))
	for _, p := range ps[:keep] {
		d.apply(p.w)
	}
	lost = len(ps) - keep
	torn = mode == crashTearLast && lost > 0
	d.subLast = uint64(len(d.ents))
	return lost, torn
}

// recover returns the durable state a restarting node reads back.
func (d *memDisk) recover() (raftpb.HardState, []raftpb.Entry) {
	return d.hs, append([]raftpb.Entry(nil), d.ents...)
}
