package sim

import (
	"errors"
	"fmt"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// crashMode says what a crash does to the node's disk.
type crashMode uint8

const (
	// crashKeepUnsynced: the process died but the OS kept its page cache,
	// so every submitted write survives.
	crashKeepUnsynced crashMode = iota + 1
	// crashLoseUnsynced: power loss: unsynced writes are lost, except a
	// random prefix of them that reached the disk.
	crashLoseUnsynced
	// crashTearLast: power loss in the middle of a write: as above, and
	// the last write that reached the disk is torn (wal.TearLast).
	crashTearLast
	// crashFlipSynced: a synced record is corrupted (wal.FlipSynced). The
	// log must refuse to open; the node stays down for good.
	crashFlipSynced
	numCrashModes
)

func (m crashMode) String() string {
	switch m {
	case crashKeepUnsynced:
		return "keep-unsynced"
	case crashLoseUnsynced:
		return "lose-unsynced"
	case crashTearLast:
		return "tear-last"
	case crashFlipSynced:
		return "flip-synced"
	}
	return "crash?"
}

var errSyncFailed = errors.New("sim: injected fsync failure")

// memDisk is one node's stable storage: a wal.MemLog with manual syncs.
// Submit queues a write; sync makes every queued write durable in order
// (one simulated fsync, group commit) or fails; crash keeps what the
// crash mode says and reopens the log as a restarted process would.
type memDisk struct {
	log *wal.MemLog
}

func newMemDisk() *memDisk {
	return &memDisk{log: wal.NewMemLog(wal.MemOptions{ManualSync: true})}
}

func (d *memDisk) Submit(w wal.Write, done func(error)) error { return d.log.Submit(w, done) }

func (d *memDisk) pending() int { return d.log.Pending() }

// sync completes every pending write, or fails (the log then fails every
// pending and later write, like the file WAL after an fsync error).
func (d *memDisk) sync(fail bool) {
	if fail && d.log.Pending() > 0 { // an armed failure must not hit a later snapshot save
		d.log.FailNextSync(errSyncFailed)
	}
	d.log.SyncAll()
}

// crash applies mode; keep is how many pending writes reach the disk
// before a power loss. The done callbacks of the writes that survive may
// run, but the caller has already bumped the node's incarnation, so they
// are ignored (their acks never left: the process is gone). It returns
// how many writes were lost and whether a record was torn.
func (d *memDisk) crash(mode crashMode, keep int) (lost int, torn bool, err error) {
	pending := d.log.Pending()
	if mode == crashKeepUnsynced {
		keep = pending
	}
	keep = min(keep, pending)
	for i := 0; i < keep; i++ {
		d.log.SyncOne()
	}
	lost = pending - keep
	wm := wal.LoseUnsynced
	switch mode {
	case crashTearLast:
		// wal.TearLast keeps the remaining pending writes but tears the
		// last one's final record.
		wm, lost, torn = wal.TearLast, min(lost, 1), lost > 0
	case crashFlipSynced:
		wm = wal.FlipSynced
	}
	log, err := d.log.Crash(wm)
	if err != nil {
		return lost, torn, err
	}
	d.log = log
	return lost, torn, nil
}

// recover returns the durable state a restarting node reads back: hard
// state, the latest snapshot (nil if none) and the entries after it.
func (d *memDisk) recover() (raftpb.HardState, *raftpb.Snapshot, []raftpb.Entry, error) {
	first, last := d.log.FirstIndex(), d.log.LastIndex()
	var snap *raftpb.Snapshot
	switch sn, err := d.log.Snapshot(); {
	case err == nil:
		snap = &sn
	case !errors.Is(err, wal.ErrNoSnapshot):
		return raftpb.HardState{}, nil, nil, err
	}
	switch {
	case snap == nil && first != 1:
		return raftpb.HardState{}, nil, nil, fmt.Errorf("log starts at %d without a snapshot", first)
	case snap != nil && first != snap.Meta.Index+1:
		return raftpb.HardState{}, nil, nil, fmt.Errorf("log starts at %d after a snapshot at %d", first, snap.Meta.Index)
	}
	ents, err := d.log.Entries(first, last+1)
	if err != nil {
		return raftpb.HardState{}, nil, nil, err
	}
	return d.log.HardState(), snap, ents, nil
}

// simStorage is the driver's Storage for one incarnation of a node: the
// node's MemLog, with every write mirrored into the checker's durable
// log when its done callback reports it durable, and a simulated fsync
// scheduled for it. Callbacks of an earlier incarnation (a crashed
// process) change nothing.
type simStorage struct {
	s   *Sim
	n   *simNode
	inc uint32
}

func (st *simStorage) Submit(w driver.Write, done func(error)) error {
	n := st.n
	err := n.disk.log.Submit(wal.Write{Entries: w.Entries, HardState: w.HardState}, func(err error) {
		if err == nil && n.inc == st.inc {
			st.s.onDurableWrite(n, w)
		}
		done(err)
	})
	if err != nil {
		return err
	}
	st.s.scheduleSync(n)
	return nil
}

// WaitDurable syncs every pending write at once (the driver waits only
// before installing a leader's snapshot, which MemLog.SaveSnapshot would
// sync anyway).
func (st *simStorage) WaitDurable(k uint64) (uint64, error) {
	n := st.n
	n.disk.log.SyncAll()
	switch {
	case n.syncErr != nil:
		return n.durableWrites, n.syncErr
	case n.durableWrites < k:
		return n.durableWrites, fmt.Errorf("sim: %d of %d writes durable after a full sync", n.durableWrites, k)
	}
	return n.durableWrites, nil
}

// SaveSnapshot stores s; MemLog syncs every earlier write first (their
// callbacks update the mirror), then the mirror drops the prefix.
func (st *simStorage) SaveSnapshot(s raftpb.Snapshot) error {
	if err := st.n.disk.log.SaveSnapshot(s); err != nil {
		return err
	}
	st.n.durable.compact(s.Meta.Index, s.Meta.Term)
	return nil
}

// simTransport is the driver's Transport for one incarnation: messages
// of a crashed process never leave.
type simTransport struct {
	s   *Sim
	n   *simNode
	inc uint32
}

func (t simTransport) Send(msgs []raftpb.Message) {
	if !t.n.up || t.n.inc != t.inc {
		return
	}
	for _, m := range msgs {
		t.s.send(m)
	}
}
