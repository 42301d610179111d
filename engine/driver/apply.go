package driver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// StateMachine is the replicated application as the Applier sees it.
type StateMachine interface {
	// Apply executes a committed command; same commands in the same
	// order must give the same results on every replica.
	Apply(cmd []byte) []byte
	// Restore replaces the whole state with a snapshot's.
	Restore(state []byte) error
}

// Prefetcher is an optional StateMachine extension for states larger
// than the CPU's caches: before applying a batch's commands, the Applier
// hands Prefetch up to PrefetchGroup of them at a time, in log order, then
// applies them one by one as always. Prefetch must not change the state
// or the results of the Apply calls that follow (it is a hint: it may
// load the memory those commands will touch, so the misses overlap
// instead of each Apply waiting for its own); it is given every command
// about to be applied, including ones the session table will answer as
// duplicates. It must not keep cmds, which alias the entries.
type Prefetcher interface {
	Prefetch(cmds [][]byte)
}

// PrefetchGroup is the most commands the Applier hands Prefetch at once.
const PrefetchGroup = 32

// BlindResulter is an optional StateMachine extension for commands whose
// result does not depend on the state (a blind write: a KV put always
// answers ok). With it, and Hooks that are also SettleHooks, the Applier
// settles such commands before it applies any command of their batch
// (see SettleHooks), so their answers need not wait behind the applying
// of the commands logged before them.
type BlindResulter interface {
	// BlindResult returns, with true, exactly the result Apply(cmd) will
	// return whatever the state; false when the result depends on the
	// state (a read, a compare-and-set). It must not change the state
	// and must not keep cmd, which aliases the entry.
	BlindResult(cmd []byte) (res []byte, ok bool)
}

// SettleHooks is an optional Hooks extension. When the StateMachine is a
// BlindResulter, Apply first walks the batch's entries about to be
// applied and calls Settled for each client command that (1) the state
// machine says is blind, (2) the session table will apply now (not a
// duplicate, not expired), and (3) whose client has no earlier entry in
// the batch (whose session record could change that verdict; records of
// other clients can only evict the session, which still means "apply").
// r.Kind is Applied and r.Output the blind result, which Apply records in
// the session table unchanged when it applies the command in its turn,
// with the usual Applying and Applied calls. Settled may answer the
// client: the entry is committed (durable on a quorum, so a crash loses
// nothing), it will be applied in its turn on every replica, and its
// answer does not depend on anything applied before it. What it must not
// do is let anything read the state on the strength of that answer: a
// read is served only once applied >= its read index, and the read index
// of any read begun after the answer covers the entry. r is valid only
// during the call.
type SettleHooks interface {
	Settled(r *Result)
}

// ApplierConfig configures an Applier.
type ApplierConfig struct {
	// ID is this node; Voters and Learners the bootstrap configuration
	// (the one in force before any snapshot or configuration entry).
	ID       uint64
	Voters   []uint64
	Learners []uint64
	// StateMachine receives the commands.
	StateMachine StateMachine
	// MaxSessions bounds the session table (0: DefaultMaxSessions).
	MaxSessions int
	// SnapshotEvery asks for a snapshot after this many applied entries
	// (0: never). The first one after a start or restore comes earlier by
	// this node's stagger (see SnapshotDue).
	SnapshotEvery uint64
	// SnapshotLogRatio, when positive, also holds a snapshot back until
	// the entry data applied since the last one is at least this many
	// times the last snapshot's size (SetSnapshotBytes): a snapshot
	// costs O(state), so taking one per O(state) bytes of log keeps its
	// amortised cost per write constant however large the state grows
	// (the reasoning of etcd's and CockroachDB's log truncation). Zero:
	// by entry count alone.
	SnapshotLogRatio float64
	// OpenSnapshot, when set, is where a Batch's snapshot that carries no
	// Data is restored from (a runtime that keeps snapshots in files
	// hands its core only their metadata): it opens the stored snapshot,
	// which may be newer than meta (committed state further on) but
	// never older, and returns its metadata, data and size.
	OpenSnapshot func(meta raftpb.SnapshotMeta) (stored raftpb.SnapshotMeta, r io.ReadCloser, size uint64, err error)
	// Bugs switches on deliberate driver bugs (-tags raftbugs only).
	Bugs []Bug
}

// Kind says what applying an entry did.
type Kind uint8

const (
	// Applied: a client command took effect now; Output is its result.
	Applied Kind = iota + 1
	// Duplicate: the session had applied this seq before; Output is the
	// first result, or nil if the table no longer holds it.
	Duplicate
	// Expired: the seq is older than the session's window; not applied,
	// and whether an earlier copy was is unknown.
	Expired
	// Malformed: a normal entry without a session header; skipped on
	// every replica alike.
	Malformed
	// ConfChange: a membership change took effect in the applied
	// configuration.
	ConfChange
	// Empty: a leader's no-op entry.
	Empty
)

// Result is the outcome of applying one committed entry.
type Result struct {
	Index, Term uint64
	Kind        Kind
	Client, Seq uint64 // Applied, Duplicate, Expired
	Output      []byte
	Conf        engine.ConfChange // ConfChange: the change
	ConfState   raftpb.ConfState  // ConfChange: the applied configuration after it (shared; do not modify)
	Err         error             // Malformed
	// Settled: Applied, and this command's Output was already given to
	// SettleHooks.Settled before its batch was applied.
	Settled bool
}

// Hooks observe applying; the runtime answers waiters from them, the
// simulator checks and answers its clients.
type Hooks interface {
	// Applying is called before each committed entry is applied.
	Applying(e *raftpb.Entry)
	// Applied is called after each committed entry is applied; r is
	// valid only during the call.
	Applied(r *Result)
	// Restored is called after a Batch's snapshot replaced the state.
	Restored(meta raftpb.SnapshotMeta)
}

// ApplyStats counts the apply paths taken.
type ApplyStats struct {
	Commands          uint64 // client commands applied
	SessionHits       uint64 // duplicates answered from the session table
	SessionExpired    uint64 // requests older than their session's window
	SessionEvictions  uint64 // sessions dropped from a full table
	SnapshotsTaken    uint64 // CaptureSnapshot calls
	SnapshotsRestored uint64 // snapshots restored (restart or leader's)
}

// Applier owns the state machine's side of the driver: the applied
// cursor, the client session table, the configuration in force at the
// applied index, and when to take a snapshot. Its methods must be called
// from one goroutine (the runtime's apply goroutine).
type Applier struct {
	id       uint64
	sm       StateMachine
	open     func(raftpb.SnapshotMeta) (raftpb.SnapshotMeta, io.ReadCloser, uint64, error)
	sessions *sessionTable
	conf     raftpb.ConfState // the configuration as of applied
	applied  uint64
	term     uint64 // term of the entry at applied
	every    uint64
	stagger  uint64
	snapDue  uint64 // applied index at which the next snapshot is due
	// logRatio, logBytes (entry data applied since the last snapshot)
	// and stateBytes (the last snapshot's size): the size trigger.
	logRatio   float64
	logBytes   uint64
	stateBytes uint64
	// wanted is the index the core asked a snapshot to reach
	// (Batch.SnapshotWanted); captured, the applied index of the latest
	// CaptureSnapshot.
	wanted, captured uint64
	stats            ApplyStats
	// result is reused for every Hooks.Applied and SettleHooks.Settled
	// call (no allocation per entry or batch on the hot path).
	result Result
	// pf is sm if it is a Prefetcher; cmds is the reused group handed to it.
	pf   Prefetcher
	cmds [][]byte
	// blind is sm if it is a BlindResulter. Reused per batch: seenFew and
	// seenMany, the clients seen so far in the batch being settled (a
	// slice while few); settled, the indexes settled, ascending.
	blind     BlindResulter
	seenFew   []uint64
	seenMany  map[uint64]struct{}
	settled   []uint64
	bugs      bugSet
	lastBlind []byte // BugSettleStateDependent only
}

// ErrNotContiguous: committed entries skipped an index.
var ErrNotContiguous = errors.New("driver: committed entries are not contiguous")

// NewApplier builds an Applier at index 0; Restore moves it to a snapshot.
func NewApplier(cfg ApplierConfig) (*Applier, error) {
	if cfg.StateMachine == nil {
		return nil, fmt.Errorf("%w: StateMachine is required", ErrConfig)
	}
	bugs, err := newBugSet(cfg.Bugs)
	if err != nil {
		return nil, err
	}
	a := &Applier{id: cfg.ID, sm: cfg.StateMachine, open: cfg.OpenSnapshot, sessions: newSessionTable(cfg.MaxSessions), every: cfg.SnapshotEvery,
		logRatio: max(0, cfg.SnapshotLogRatio)}
	a.sessions.forgetEarly = bugs.has(BugSessionWindowShort)
	a.pf, _ = cfg.StateMachine.(Prefetcher)
	a.blind, _ = cfg.StateMachine.(BlindResulter)
	a.bugs = bugs
	a.conf = raftpb.ConfState{Voters: cfg.Voters, Learners: cfg.Learners}.Clone()
	a.stagger = snapshotStagger(cfg.ID, a.conf.Voters, cfg.SnapshotEvery)
	a.scheduleFirstSnapshot()
	return a, nil
}

// snapshotStagger is how much earlier than every `every` entries this
// node takes its first snapshot after a start or a restore: voters are
// spread evenly over the interval, so they do not all stall on encoding
// and writing a snapshot at the same index (the rest of the cluster keeps
// committing while one node does).
func snapshotStagger(id uint64, sortedVoters []uint64, every uint64) uint64 {
	if len(sortedVoters) == 0 {
		return 0
	}
	pos, _ := slices.BinarySearch(sortedVoters, id)
	pos %= len(sortedVoters) // a non-voter shares a voter's slot
	return uint64(pos) * (every / uint64(len(sortedVoters)))
}

func (a *Applier) scheduleFirstSnapshot() {
	if a.every == 0 {
		a.snapDue = ^uint64(0)
		return
	}
	a.snapDue = a.applied + a.every - a.stagger
}

// Applied returns the applied index and the term of its entry.
func (a *Applier) Applied() (index, term uint64) { return a.applied, a.term }

// Voters returns the voters (both halves when joint) in force at the
// applied index.
func (a *Applier) Voters() []uint64 {
	v := append(slices.Clone(a.conf.Voters), a.conf.VotersOutgoing...)
	slices.Sort(v)
	return slices.Compact(v)
}

// ConfState returns a copy of the configuration in force at the applied
// index.
func (a *Applier) ConfState() raftpb.ConfState { return a.conf.Clone() }

// Stats returns the counters so far.
func (a *Applier) Stats() ApplyStats {
	s := a.stats
	s.SessionEvictions = a.sessions.evictions
	return s
}

// Apply restores b's snapshot if it is ahead of the applied index, then
// applies b's committed entries in order (entries a snapshot already
// covers are skipped), calling h around each.
func (a *Applier) Apply(b *Batch, h Hooks) error {
	a.wanted = max(a.wanted, b.SnapshotWanted)
	if b.Snapshot != nil && b.Snapshot.Meta.Index > a.applied {
		meta := b.Snapshot.Meta
		var err error
		if b.Snapshot.Data == nil && a.open != nil {
			meta, err = a.restoreStored(meta)
		} else {
			err = a.Restore(*b.Snapshot)
		}
		if err != nil {
			return err
		}
		h.Restored(meta)
	}
	settled := a.settled[:0]
	if sh, ok := h.(SettleHooks); ok && a.blind != nil && len(b.Entries) > 0 {
		settled = a.settle(b.Entries, sh)
	}
	prefetched := 0 // entries below it were handed to Prefetch
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.Index <= a.applied {
			continue
		}
		if e.Index != a.applied+1 {
			return fmt.Errorf("%w: node %d applying %d after %d", ErrNotContiguous, a.id, e.Index, a.applied)
		}
		if a.pf != nil && i >= prefetched {
			prefetched = a.prefetch(b.Entries, i)
		}
		h.Applying(e)
		a.logBytes += uint64(len(e.Data))
		a.result = a.applyOne(e)
		if len(settled) > 0 && settled[0] == e.Index {
			a.result.Settled, settled = true, settled[1:]
		}
		a.applied, a.term = e.Index, e.Term
		h.Applied(&a.result)
	}
	return nil
}

// settle calls h.Settled for the blind client commands among entries
// that the session table will apply (see SettleHooks), and returns their
// indexes. It changes nothing: Apply applies and records every entry in
// its turn as always.
func (a *Applier) settle(entries []raftpb.Entry, h SettleHooks) []uint64 {
	a.seenFew, a.settled = a.seenFew[:0], a.settled[:0]
	if len(a.seenMany) > 0 {
		clear(a.seenMany)
	}
	r := &a.result // the apply loop after settle overwrites it
	next := a.applied + 1
	for i := range entries {
		e := &entries[i]
		if e.Index <= a.applied {
			continue
		}
		if e.Index != next {
			break // Apply will refuse the gap; settle nothing beyond it
		}
		next++
		if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
			continue
		}
		client, seq, cmd, err := ParseEntry(e.Data)
		if err != nil {
			continue // Malformed in its turn; no session involved
		}
		if a.seenBefore(client) {
			continue
		}
		res, blind := a.blind.BlindResult(cmd)
		if bugsBuild && a.bugs.has(BugSettleStateDependent) {
			if blind {
				a.lastBlind = res
			} else if a.lastBlind != nil {
				res, blind = a.lastBlind, true // the bug: the last blind result, as if every command were blind
			}
		}
		if !blind {
			continue
		}
		if v, _ := a.sessions.check(client, seq); v != verdictApply {
			continue
		}
		*r = Result{Index: e.Index, Term: e.Term, Kind: Applied, Client: client, Seq: seq, Output: res, Settled: true}
		h.Settled(r)
		a.settled = append(a.settled, e.Index)
	}
	return a.settled
}

// seenBefore reports whether client was seen before in the batch being
// settled, and notes it: a slice scan while the batch has few clients,
// a map beyond.
func (a *Applier) seenBefore(client uint64) bool {
	const few = 64
	if len(a.seenMany) == 0 {
		for _, c := range a.seenFew {
			if c == client {
				return true
			}
		}
		if len(a.seenFew) < few {
			a.seenFew = append(a.seenFew, client)
			return false
		}
		if a.seenMany == nil {
			a.seenMany = make(map[uint64]struct{}, 2*few)
		}
		for _, c := range a.seenFew {
			a.seenMany[c] = struct{}{}
		}
	}
	if _, ok := a.seenMany[client]; ok {
		return true
	}
	a.seenMany[client] = struct{}{}
	return false
}

// prefetch hands the Prefetcher the commands of entries[from:] up to
// PrefetchGroup entries on, and returns the index after the last entry
// looked at. A lone command is not worth a separate pass.
func (a *Applier) prefetch(entries []raftpb.Entry, from int) int {
	end := min(len(entries), from+PrefetchGroup)
	for i := from; i < end; i++ {
		e := &entries[i]
		if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
			continue
		}
		if _, _, cmd, err := ParseEntry(e.Data); err == nil {
			a.cmds = append(a.cmds, cmd)
		}
	}
	if len(a.cmds) > 1 {
		a.pf.Prefetch(a.cmds)
	}
	clear(a.cmds) // the entries' data is not the Applier's to keep
	a.cmds = a.cmds[:0]
	return end
}

// applyOne applies one committed entry: a client command at most once
// per session, a configuration change to the applied configuration.
func (a *Applier) applyOne(e *raftpb.Entry) Result {
	r := Result{Index: e.Index, Term: e.Term}
	switch {
	case e.Type == raftpb.EntryConfChange:
		cc, err := engine.DecodeConfChange(e.Data)
		if err != nil {
			r.Kind, r.Err = Malformed, err
			return r
		}
		// The same rule as the core's: a change that does not apply
		// leaves the configuration as it was, on every replica alike.
		if next, err := engine.ApplyConfChange(a.conf, cc); err == nil {
			a.conf = next
		}
		r.Kind, r.Conf, r.ConfState = ConfChange, cc, a.conf
		return r
	case len(e.Data) == 0:
		r.Kind = Empty
		return r
	}
	client, seq, cmd, err := ParseEntry(e.Data)
	if err != nil {
		r.Kind, r.Err = Malformed, err
		return r
	}
	r.Client, r.Seq = client, seq
	switch v, res := a.sessions.check(client, seq); v {
	case verdictApply:
		r.Kind, r.Output = Applied, a.sm.Apply(cmd)
		a.sessions.record(client, seq, e.Index, r.Output)
		a.stats.Commands++
	case verdictDuplicate:
		r.Kind, r.Output = Duplicate, res
		a.stats.SessionHits++
	case verdictStale:
		r.Kind = Expired
		a.stats.SessionExpired++
	}
	return r
}

// Restore replaces sessions, configuration and state machine with a
// snapshot's (one this package's CaptureSnapshot data started).
func (a *Applier) Restore(s raftpb.Snapshot) error {
	rest, err := a.sessions.restoreSnapshot(s.Data)
	if err != nil {
		return fmt.Errorf("node %d: snapshot %d: %w", a.id, s.Meta.Index, err)
	}
	if err := a.sm.Restore(rest); err != nil {
		return fmt.Errorf("node %d: restore state machine from snapshot %d: %w", a.id, s.Meta.Index, err)
	}
	a.restored(s.Meta, uint64(len(s.Data)))
	return nil
}

// StreamRestorer is a StateMachine that restores from a stream, so a
// large snapshot is never held in memory whole.
type StreamRestorer interface {
	RestoreFrom(r io.Reader) error
}

// RestoreFrom is Restore with the snapshot's data (size bytes) read from
// r: the sessions, then the state machine's part, streamed to it if it
// is a StreamRestorer (else read whole and given to Restore).
func (a *Applier) RestoreFrom(meta raftpb.SnapshotMeta, r io.Reader, size uint64) error {
	br := bufio.NewReaderSize(r, 256<<10)
	if err := a.sessions.restoreSnapshotFrom(br); err != nil {
		return fmt.Errorf("node %d: snapshot %d: %w", a.id, meta.Index, err)
	}
	var err error
	if sr, ok := a.sm.(StreamRestorer); ok {
		err = sr.RestoreFrom(br)
	} else {
		var rest []byte
		if rest, err = io.ReadAll(br); err == nil {
			err = a.sm.Restore(rest)
		}
	}
	if err != nil {
		return fmt.Errorf("node %d: restore state machine from snapshot %d: %w", a.id, meta.Index, err)
	}
	a.restored(meta, size)
	return nil
}

// restoreStored restores the stored snapshot (OpenSnapshot) for meta.
func (a *Applier) restoreStored(meta raftpb.SnapshotMeta) (raftpb.SnapshotMeta, error) {
	stored, r, size, err := a.open(meta)
	if err != nil {
		return meta, fmt.Errorf("node %d: open snapshot %d: %w", a.id, meta.Index, err)
	}
	defer r.Close()
	return stored, a.RestoreFrom(stored, r, size)
}

func (a *Applier) restored(meta raftpb.SnapshotMeta, size uint64) {
	if len(meta.Voters) > 0 {
		a.conf = meta.ConfState.Clone()
	}
	a.applied, a.term = meta.Index, meta.Term
	a.stats.SnapshotsRestored++
	a.logBytes, a.stateBytes = 0, size
	a.scheduleFirstSnapshot()
}

// SnapshotDue reports whether the snapshot policy asks for a snapshot
// at the applied index, or the core asked for one that the latest does
// not reach (a follower needs entries the leader dropped from memory).
func (a *Applier) SnapshotDue() bool {
	if a.wanted > a.captured && a.applied >= a.wanted {
		return true
	}
	return a.applied > 0 && a.applied >= a.snapDue && float64(a.logBytes) >= a.logRatio*float64(a.stateBytes)
}

// StateBytes is the size of the latest snapshot taken or restored, as
// told by SetSnapshotBytes or the restore (0: none yet).
func (a *Applier) StateBytes() uint64 { return a.stateBytes }

// SetSnapshotBytes tells the size trigger how large the last snapshot
// was (its Data).
func (a *Applier) SetSnapshotBytes(n uint64) { a.stateBytes = n }

// CaptureSnapshot starts a snapshot at the applied index: its metadata
// carries the configuration in force there (what a node restarting from
// it must use), and sessions is the encoded session table, to be
// followed by the state machine's own snapshot in Data. The next one is
// due SnapshotEvery entries later.
func (a *Applier) CaptureSnapshot() (meta raftpb.SnapshotMeta, sessions []byte) {
	meta = raftpb.SnapshotMeta{Index: a.applied, Term: a.term, ConfState: a.conf.Clone()}
	if a.every > 0 {
		a.snapDue = a.applied + a.every
	}
	a.stats.SnapshotsTaken++
	a.logBytes, a.captured = 0, a.applied
	return meta, a.sessions.appendSnapshot(nil)
}

// AppendSessions appends the encoded session table to b (what a snapshot
// would carry), for digests of the whole replicated state.
func (a *Applier) AppendSessions(b []byte) []byte { return a.sessions.appendSnapshot(b) }
