package driver

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// Write is one unit of Storage.Submit: entries and, if non-nil, a hard
// state, durable together.
type Write struct {
	Entries   []raftpb.Entry
	HardState *raftpb.HardState
}

// Storage is the log the driver persists to (wal.Log behind a thin
// adapter in the runtime, wal.MemLog in the simulator).
type Storage interface {
	// Submit starts w and returns at once. done is called exactly once,
	// in Submit order, when w is durable (nil) or failed; it may run on
	// any goroutine, and during a later Submit, WaitDurable or
	// SaveSnapshot of the same storage.
	Submit(w Write, done func(error)) error
	// WaitDurable blocks until the first n submitted writes are durable
	// and returns how many are (at least n), or the storage's error.
	WaitDurable(n uint64) (uint64, error)
	// SaveSnapshot durably stores a snapshot received from the leader.
	SaveSnapshot(s raftpb.Snapshot) error
}

// Transport sends Raft messages; it must not block on the network.
type Transport interface {
	Send(msgs []raftpb.Message)
}

// Config configures a Driver.
type Config struct {
	Core      *engine.Core
	Storage   Storage
	Transport Transport
	// OnDurable is called from every write's done callback, after the
	// messages that waited for that write were sent. It may run on any
	// goroutine: it should only count and wake whoever calls Release.
	OnDurable func(err error)
	// CommitSaveTicks is the hard-state save policy for a commit index
	// that moved alone (term and vote unchanged): save it at most once
	// per this many ticks. Losing it in a crash costs only re-learning
	// it from the leader; saving it costs an atomic file replace.
	// Zero means DefaultCommitSaveTicks.
	CommitSaveTicks uint64
	// ReadNonce tells this process's reads from those of an earlier
	// incarnation of the same node, whose answers may still be in
	// flight (the runtime uses a random number per start).
	ReadNonce uint64
	// Transfer sets how snapshots stream to followers in chunks.
	Transfer TransferConfig
	// KeepAppliedEntries is how many applied entries stay in the core's
	// memory when the resident log limit (SetResidentLogBytes) drops the
	// rest: a follower that far behind still gets entries, not a
	// snapshot. Zero means DefaultKeepAppliedEntries.
	KeepAppliedEntries uint64
	// Bugs switches on deliberate driver bugs (-tags raftbugs only).
	Bugs []Bug
}

// DefaultCommitSaveTicks is Config.CommitSaveTicks' default.
const DefaultCommitSaveTicks = 100

// DefaultKeepAppliedEntries is Config.KeepAppliedEntries' default: about
// half a second of a busy cluster's writes, a few MiB of small entries.
const DefaultKeepAppliedEntries = 50000

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("driver: invalid config")

// Stats counts the durability paths a driver took. Plain counters: read
// them on the goroutine that calls the Driver.
type Stats struct {
	// AcksAfterPersist counts MessagesAfterPersist sent once their write
	// was durable (from the done callback or from Release).
	AcksAfterPersist uint64
	// HardStateSaves counts writes carrying a hard state; CommitSaves
	// the subset saved only because the commit index moved.
	HardStateSaves uint64
	CommitSaves    uint64
	// LogDrops counts drops of applied entries from the core's memory
	// (SetResidentLogBytes).
	LogDrops uint64
	// SnapshotsInstalled counts leader snapshots persisted (Ready.Snapshot).
	SnapshotsInstalled uint64
	// WritesDeferred counts writes the storage refused as backpressure
	// (its queue full) and the driver queued to submit later, in order.
	WritesDeferred uint64
}

// Backpressure is what a Storage error says when Submit refused a write
// only because its queue is full: the write can be submitted again once
// earlier writes are durable. Storage errors that mean this implement
// it (wal.ErrQueueFull does); the driver then keeps the write, and every
// later one, and submits them in order as room frees, instead of
// failing. Raft's own flow control bounds how much can wait: a follower
// gets no more than the leader's in-flight window, and a leader admits
// no more than its uncommitted-entries budget.
type Backpressure interface {
	error
	Backpressure() bool
}

func isBackpressure(err error) bool {
	var b Backpressure
	return errors.As(err, &b) && b.Backpressure()
}

// deferredWrite is a write the storage refused as backpressure.
type deferredWrite struct {
	w    Write
	done func(error)
}

// Driver carries out the core's Readys: it decides what to persist and
// when held-back messages and Core.Persisted may follow. Its methods must
// be called from one goroutine (the one that owns the core); only the
// done callbacks it passes to Storage.Submit run elsewhere, and those
// touch nothing but Transport and OnDurable.
type Driver struct {
	core *engine.Core
	st   Storage
	tr   Transport
	onDu func(error)
	bugs bugSet
	// deferred holds writes the storage refused as backpressure, in
	// Submit order; while it is not empty every new write joins it.
	deferred []deferredWrite
	deferErr error // a deferred write's submission failed during Tick
	// readPrefix starts every ReadIndex context: node id and ReadNonce.
	readPrefix [16]byte

	ticks           uint64
	commitSaveTicks uint64
	savedCommit     uint64 // commit index of the last hard state submitted
	lastCommitTick  uint64

	// submitted counts writes; inflight holds obligations of Readys not
	// yet released, in Ready order (durable completes writes in order).
	submitted uint64
	released  uint64 // the durable count last passed to Release
	inflight  []persistItem

	stats Stats
	xf    *transfers

	// The resident log (SetResidentLogBytes): entry data applied since
	// the last drop, the limit that triggers one (0: never), and how
	// many applied entries a drop keeps.
	residentBytes, residentLimit, keepApplied uint64
}

// persistItem is one Ready's obligations once its write is durable.
type persistItem struct {
	seq      uint64 // released when durable >= seq
	after    []raftpb.Message
	sent     bool // after already left from the write's done callback
	index    uint64
	term     uint64
	hasIndex bool
}

// New builds a Driver around a core.
func New(cfg Config) (*Driver, error) {
	switch {
	case cfg.Core == nil:
		return nil, fmt.Errorf("%w: Core is required", ErrConfig)
	case cfg.Storage == nil:
		return nil, fmt.Errorf("%w: Storage is required", ErrConfig)
	case cfg.Transport == nil:
		return nil, fmt.Errorf("%w: Transport is required", ErrConfig)
	}
	bugs, err := newBugSet(cfg.Bugs)
	if err != nil {
		return nil, err
	}
	if cfg.CommitSaveTicks == 0 {
		cfg.CommitSaveTicks = DefaultCommitSaveTicks
	}
	if cfg.OnDurable == nil {
		cfg.OnDurable = func(error) {}
	}
	d := &Driver{
		core: cfg.Core, st: cfg.Storage, tr: cfg.Transport, onDu: cfg.OnDurable, bugs: bugs,
		commitSaveTicks: cfg.CommitSaveTicks, savedCommit: cfg.Core.Status().Commit,
		xf: newTransfers(cfg.Transfer), keepApplied: cmp.Or(cfg.KeepAppliedEntries, DefaultKeepAppliedEntries),
	}
	binary.LittleEndian.PutUint64(d.readPrefix[:8], cfg.Core.ID())
	binary.LittleEndian.PutUint64(d.readPrefix[8:], cfg.ReadNonce)
	return d, nil
}

// SetResidentLogBytes bounds the applied log the core keeps in memory:
// once this many bytes of entry data were applied since the last drop,
// the core drops all but the last KeepAppliedEntries applied entries
// (engine.Core.DropApplied). Zero (the default) never drops: the log in
// memory then runs from the latest snapshot. The runtime sets it from
// the latest snapshot's size, so snapshots can be rarer than the memory
// a log as long as their interval would take.
func (d *Driver) SetResidentLogBytes(n uint64) { d.residentLimit = n }

// dropApplied counts the data of newly applied entries and drops the
// applied log from memory past the resident limit.
func (d *Driver) dropApplied(committed []raftpb.Entry) {
	if d.residentLimit == 0 || len(committed) == 0 {
		return
	}
	for i := range committed {
		d.residentBytes += uint64(len(committed[i].Data))
	}
	if d.residentBytes < d.residentLimit {
		return
	}
	d.residentBytes = 0
	if last := committed[len(committed)-1].Index; last > d.keepApplied {
		before, _ := d.core.LogBounds()
		if after := d.core.DropApplied(last - d.keepApplied); after >= before {
			d.stats.LogDrops++
		}
	}
}

// Core returns the driven core (for Step, Propose and queries).
func (d *Driver) Core() *engine.Core { return d.core }

// Tick advances the core's logical clock by one tick.
func (d *Driver) Tick() {
	d.ticks++
	d.core.Tick()
	d.tickTransfers()
	if len(d.deferred) > 0 && d.deferErr == nil {
		d.deferErr = d.submitDeferred() // reported by the next Handle
	}
}

func hasSnap(msgs []raftpb.Message) bool {
	for i := range msgs {
		if msgs[i].Type == raftpb.MsgSnap {
			return true
		}
	}
	return false
}

// Stats returns the counters so far.
func (d *Driver) Stats() Stats { return d.stats }

// ReadIndex asks the core to confirm a linearizable read; the answer
// comes back as a Read with this id in a later Batch.
//
// The context names this node and process, not only id: a follower
// forwards other nodes' MsgReadIndex to the leader as its own, so the
// leader's answer to another node's (older) request comes back here, and
// an id that is unique only per node would match one of ours and serve
// it at a read index confirmed before it was asked (a stale read).
func (d *Driver) ReadIndex(id uint64) error {
	ctx := make([]byte, readContextLen)
	copy(ctx, d.readPrefix[:])
	binary.LittleEndian.PutUint64(ctx[16:], id)
	return d.core.ReadIndex(ctx)
}

// readContextLen is node id, ReadNonce and read id, 8 bytes each.
const readContextLen = 24

// Compact hands the core a snapshot the state machine saved durably, so
// it drops the covered log prefix and can send it to lagging followers.
func (d *Driver) Compact(s raftpb.Snapshot) error { return d.core.Compact(s) }

// Read is a read whose index the leader confirmed: answer it once the
// state machine has applied Index.
type Read struct {
	ID    uint64
	Index uint64
}

// Batch is one Ready's work for the Applier.
type Batch struct {
	// Snapshot, when non-nil, is restored before Entries are applied.
	Snapshot *raftpb.Snapshot
	// Entries are committed; apply them in order.
	Entries []raftpb.Entry
	// Reads were confirmed in this Ready.
	Reads []Read
	// SnapshotWanted, when non-zero, asks for a snapshot at or past this
	// index (engine.Core.SnapshotWanted): a follower needs entries the
	// leader dropped from memory.
	SnapshotWanted uint64
}

// Empty reports whether the batch carries nothing to apply, serve or
// act on.
func (b *Batch) Empty() bool {
	return b.Snapshot == nil && len(b.Entries) == 0 && len(b.Reads) == 0 && b.SnapshotWanted == 0
}

// Ready takes the core's next Ready. The caller may look at it (soft
// state, new entries) and must then pass it to Handle before taking
// another.
func (d *Driver) Ready() engine.Ready { return d.core.Ready() }

// Handle carries out rd's obligations in the order engine.Ready
// documents: a leader snapshot is made durable first (after every
// earlier write, and after its hard state, so a crash never keeps a
// snapshot newer than the durable term); Messages leave at once (the
// leader's appends overlap its own fsync, thesis §10.2.1); entries and
// hard state go to Storage without waiting; the core advances; the
// committed entries and confirmed reads come back as a Batch. Messages
// held back for durability leave from the write's done callback, or
// from Release. Handle consumes rd.Messages: their array is reused for a
// later Ready's, and rd.Messages is nil when Handle returns.
func (d *Driver) Handle(rd *engine.Ready) (Batch, error) {
	if d.deferErr != nil {
		return Batch{}, d.deferErr
	}
	if err := d.submitDeferred(); err != nil {
		return Batch{}, err
	}
	hsSaved := false
	if rd.Snapshot != nil {
		var err error
		if hsSaved, err = d.installSnapshot(rd); err != nil {
			return Batch{}, err
		}
	}
	msgs := rd.Messages
	if hasSnap(msgs) {
		msgs = d.sendSnapshots(slices.Clone(msgs))
	}
	if len(msgs) > 0 {
		d.tr.Send(msgs)
	}
	// The transport copied the messages (its contract), so their array
	// goes back to the core for the next Ready's; rd no longer holds it.
	d.core.RecycleMessages(rd.Messages)
	rd.Messages = nil
	if err := d.persist(rd, hsSaved); err != nil {
		return Batch{}, err
	}
	d.core.Advance(*rd)
	d.dropApplied(rd.CommittedEntries)
	b := Batch{Snapshot: rd.Snapshot, Entries: rd.CommittedEntries, Reads: d.readsOf(rd.ReadStates),
		SnapshotWanted: d.core.SnapshotWanted()}
	if bugsBuild && d.bugs.has(BugApplyUncommitted) && len(rd.Entries) > 0 {
		// The bug: the new entries go to the applier as if committed.
		b.Entries = append(append([]raftpb.Entry(nil), rd.CommittedEntries...), rd.Entries...)
	}
	return b, nil
}

// readsOf decodes the read ids this driver put in ReadIndex contexts;
// contexts it did not make (another node's, an earlier process's) are
// not its reads and are dropped.
func (d *Driver) readsOf(rss []engine.ReadState) []Read {
	var out []Read
	for _, rs := range rss {
		if len(rs.Context) == readContextLen && string(rs.Context[:16]) == string(d.readPrefix[:]) {
			out = append(out, Read{ID: binary.LittleEndian.Uint64(rs.Context[16:]), Index: rs.Index})
		}
	}
	return out
}

// hardStateToSave is the save policy: term and vote changes always (they
// must be durable before the votes and acks of this Ready leave), a
// commit index that moved alone at most every CommitSaveTicks ticks.
func (d *Driver) hardStateToSave(rd *engine.Ready, hsSaved bool) *raftpb.HardState {
	changed := rd.HardStateChanged && !hsSaved
	commitMoved := rd.HardState.Commit > d.savedCommit
	save := changed || (commitMoved && d.ticks-d.lastCommitTick >= d.commitSaveTicks)
	if !save {
		return nil
	}
	if bugsBuild && d.bugs.has(BugVoteNotSaved) && grantsVote(rd.MessagesAfterPersist) {
		return nil // the bug: the grant leaves, the vote is never written
	}
	hs := rd.HardState
	if !changed {
		d.stats.CommitSaves++
	}
	d.stats.HardStateSaves++
	d.savedCommit, d.lastCommitTick = hs.Commit, d.ticks
	return &hs
}

func grantsVote(msgs []raftpb.Message) bool {
	for i := range msgs {
		if msgs[i].Type == raftpb.MsgVoteResp && !msgs[i].Reject {
			return true
		}
	}
	return false
}

// persist submits rd's entries and hard state as one write and queues the
// obligations that wait for it (and for every earlier write).
// hsSaved says installSnapshot already saved rd's hard state.
func (d *Driver) persist(rd *engine.Ready, hsSaved bool) error {
	hs := d.hardStateToSave(rd, hsSaved)
	item := persistItem{after: rd.MessagesAfterPersist}
	if k := len(rd.Entries); k > 0 {
		item.index, item.term, item.hasIndex = rd.Entries[k-1].Index, rd.Entries[k-1].Term, true
	} else if rd.Snapshot != nil {
		item.index, item.term, item.hasIndex = rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term, true
	}
	if bugsBuild && d.bugs.has(BugAckBeforeSync) && len(item.after) > 0 {
		d.tr.Send(item.after) // the bug: acks leave before the write is durable
		item.sent = true
	}
	if len(rd.Entries) > 0 || hs != nil {
		done := d.onDu
		if after := item.after; len(after) > 0 && !item.sent {
			// Acks and votes leave from the done callback the moment
			// the write is durable, without a hop through the caller's
			// goroutine. They are sent before OnDurable counts the
			// write, so anything Release sends for a later write
			// still follows them.
			item.sent = true
			tr, onDu := d.tr, d.onDu
			done = func(err error) {
				if err == nil {
					tr.Send(after)
				}
				onDu(err)
			}
		}
		if err := d.submit(Write{Entries: rd.Entries, HardState: hs}, done); err != nil {
			return fmt.Errorf("driver: submit: %w", err)
		}
		d.submitted++
	}
	if len(item.after) == 0 && !item.hasIndex {
		return nil
	}
	item.seq = d.submitted
	if len(d.inflight) == 0 && d.released >= item.seq {
		d.release(&item)
		return nil
	}
	d.inflight = append(d.inflight, item)
	return nil
}

// Release tells the driver that the first durable writes it submitted
// are durable (the count of done callbacks that reported success): the
// obligations of every Ready up to there are met, in Ready order.
func (d *Driver) Release(durable uint64) {
	d.released = max(d.released, durable)
	i := 0
	for ; i < len(d.inflight) && d.inflight[i].seq <= d.released; i++ {
		d.release(&d.inflight[i])
		d.inflight[i] = persistItem{}
	}
	if i > 0 {
		d.inflight = append(d.inflight[:0], d.inflight[i:]...)
	}
}

// release sends held-back messages (unless the done callback did) and
// tells the core what is durable.
func (d *Driver) release(it *persistItem) {
	if len(it.after) > 0 {
		if !it.sent {
			d.tr.Send(it.after)
		}
		d.stats.AcksAfterPersist += uint64(len(it.after))
	}
	if it.hasIndex {
		d.core.Persisted(it.index, it.term)
	}
}

// installSnapshot makes a leader's snapshot durable: every earlier write
// first (the storage sees them in order), then the Ready's hard state if
// it changed (reported by hsSaved), then the snapshot. Rare, so it waits.
func (d *Driver) installSnapshot(rd *engine.Ready) (hsSaved bool, err error) {
	if err := d.drain(); err != nil {
		return false, err
	}
	if rd.HardStateChanged {
		hs := rd.HardState
		if err := d.submit(Write{HardState: &hs}, d.onDu); err != nil {
			return false, fmt.Errorf("driver: submit hard state before snapshot %d: %w", rd.Snapshot.Meta.Index, err)
		}
		d.submitted++
		d.stats.HardStateSaves++
		d.savedCommit, d.lastCommitTick = hs.Commit, d.ticks
		if err := d.drain(); err != nil {
			return false, err
		}
		hsSaved = true
	}
	if err := d.st.SaveSnapshot(*rd.Snapshot); err != nil {
		return hsSaved, fmt.Errorf("driver: save snapshot %d: %w", rd.Snapshot.Meta.Index, err)
	}
	d.stats.SnapshotsInstalled++
	return hsSaved, nil
}

// drain waits until every submitted write is durable and releases them.
func (d *Driver) drain() error {
	if d.released >= d.submitted && len(d.inflight) == 0 {
		return nil
	}
	for len(d.deferred) > 0 {
		// Wait for everything the storage holds, which makes room.
		durable, err := d.st.WaitDurable(d.submitted - uint64(len(d.deferred)))
		if err != nil {
			return fmt.Errorf("driver: wait for durable writes: %w", err)
		}
		d.Release(durable)
		if err := d.submitDeferred(); err != nil {
			return err
		}
	}
	durable, err := d.st.WaitDurable(d.submitted)
	if err != nil {
		return fmt.Errorf("driver: wait for durable writes: %w", err)
	}
	d.Release(durable)
	return nil
}

// submit hands w to the storage, or queues it behind earlier deferred
// writes (or when the storage refuses it as backpressure): writes reach
// the storage, and their done callbacks run, in Submit order either way.
func (d *Driver) submit(w Write, done func(error)) error {
	if len(d.deferred) == 0 {
		err := d.st.Submit(w, done)
		if err == nil || !isBackpressure(err) {
			return err
		}
	}
	d.deferred = append(d.deferred, deferredWrite{w: w, done: done})
	d.stats.WritesDeferred++
	return nil
}

// submitDeferred submits deferred writes, in order, until the storage
// refuses one as backpressure again (it stays first) or none is left.
// Handle and Tick call it, so a deferred write waits at most a tick.
func (d *Driver) submitDeferred() error {
	n := 0
	for ; n < len(d.deferred); n++ {
		q := d.deferred[n]
		if err := d.st.Submit(q.w, q.done); err != nil {
			if isBackpressure(err) {
				break
			}
			return fmt.Errorf("driver: submit deferred write: %w", err)
		}
		d.deferred[n] = deferredWrite{}
	}
	if n > 0 {
		d.deferred = append(d.deferred[:0], d.deferred[n:]...)
	}
	return nil
}
