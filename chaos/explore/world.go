package explore

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// electionTicks is the cores' base election timeout: small, because an
// election-timeout action ticks until the timer fires whatever it is.
const electionTicks = 3

// clientID is the one client session every proposal belongs to.
const clientID = 7

// entryMeta identifies a log entry: term and a hash of type and data.
type entryMeta struct {
	Term uint64
	Hash uint64
}

func metaOf(e *raftpb.Entry) entryMeta {
	h := newHasher()
	h.u64(uint64(e.Type))
	h.bytes(e.Data)
	return entryMeta{Term: e.Term, Hash: h.sum()}
}

// node is one process: the real core behind the runtime's driver, over
// a wal.MemLog whose writes become durable only on a sync action, with
// the driver's Applier and ReadQueue.
type node struct {
	id    uint64
	inc   uint32 // incarnation, bumped by every crash
	log   *wal.MemLog
	core  *engine.Core
	drv   *driver.Driver
	ap    *driver.Applier
	reads *driver.ReadQueue[pendingRead]
	sm    *recordSM

	durableWrites uint64 // this incarnation's writes reported durable
	syncErr       error
	commit        uint64            // highest commit index this incarnation
	view          []entryMeta       // the core's log, index i+1 at view[i]
	asked         map[uint64]uint64 // read id -> global commit when asked
	readSeq       uint64
}

// pendingRead is a confirmed read waiting for its index to be applied.
type pendingRead struct {
	id, askedCommit uint64
}

// recordSM is the state machine: it records the (client, seq) of every
// command applied, so a second application is visible.
type recordSM struct{ applied []string }

func (s *recordSM) Apply(cmd []byte) []byte {
	s.applied = append(s.applied, string(cmd))
	return []byte(fmt.Sprintf("%d", len(s.applied)))
}

func (s *recordSM) Restore(state []byte) error {
	s.applied = nil
	return nil
}

// inflight is one message in the network, kept encoded (a canonical
// form independent of the sender's buffers).
type inflight struct {
	enc  []byte
	hash uint64
	msg  raftpb.Message // decoded, with Symmetry only (renaming needs the ids)
}

// world is the global state: nodes, network, budgets used, and the
// ghost variables the invariants need (history a state alone forgets).
type world struct {
	cfg  *Config
	bugs sim.Options
	n    []*node
	net  []inflight

	used budget

	// Ghosts, part of the state's hash.
	leaders   map[uint64]uint64    // term -> the leader elected in it
	votes     map[[2]uint64]uint64 // (voter, term) -> candidate granted
	committed []entryMeta          // globally committed log
	// commitTerm[i] is the term in which committed[i] was first seen
	// committed: the committing leader's, as a leader learns of a commit
	// before anyone it tells.
	commitTerm []uint64
	applied    []entryMeta // every index some node applied
	msgTypes   [32]uint64  // messages delivered, by type (coverage; not hashed)

	cell *cell

	violation *Violation
	// note collects what the current action did, for the trace.
	note []string
}

type budget struct {
	Crashes, Proposals, Reads, Drops, Dups int
}

// Violation is a broken invariant.
type Violation struct {
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
}

func (v *Violation) Error() string { return v.Invariant + ": " + v.Detail }

func newWorld(cfg *Config) (*world, error) {
	bugs, err := cfg.bugOptions()
	if err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, bugs: bugs, leaders: map[uint64]uint64{}, votes: map[[2]uint64]uint64{}, cell: &cell{}}
	w.cell.w = w
	for i := 0; i < cfg.Nodes; i++ {
		n := &node{id: uint64(i + 1), log: wal.NewMemLog(wal.MemOptions{ManualSync: !cfg.AutoSync})}
		if err := w.start(n, raftpb.HardState{}, nil); err != nil {
			return nil, err
		}
		w.n = append(w.n, n)
	}
	return w, nil
}

func (w *world) voters() []uint64 {
	v := make([]uint64, w.cfg.Nodes)
	for i := range v {
		v[i] = uint64(i + 1)
	}
	return v
}

// start builds n's process from its durable state.
func (w *world) start(n *node, hs raftpb.HardState, ents []raftpb.Entry) error {
	c, err := engine.New(engine.Config{
		ID: n.id, Voters: w.voters(), ElectionTicks: electionTicks, HeartbeatTicks: 1,
		PreVote: w.cfg.PreVote, LazyCommit: w.cfg.LazyCommit, Seed: 1, HardState: hs, Entries: ents, Bugs: w.bugs.EngineBugs,
	})
	if err != nil {
		return err
	}
	n.sm = &recordSM{}
	if n.ap, err = driver.NewApplier(driver.ApplierConfig{ID: n.id, Voters: w.voters(), StateMachine: n.sm, Bugs: w.bugs.DriverBugs}); err != nil {
		return err
	}
	if n.reads, err = driver.NewReadQueue[pendingRead](w.bugs.DriverBugs); err != nil {
		return err
	}
	inc := n.inc
	n.durableWrites, n.syncErr = 0, nil
	port := port{cell: w.cell, idx: int(n.id - 1), inc: inc}
	n.drv, err = driver.New(driver.Config{
		Core: c, Storage: port, Transport: port,
		OnDurable: port.onDurable,
		// Only term and vote are saved at once; a commit index that
		// moved alone is re-learned from the leader after a crash.
		CommitSaveTicks: 1 << 62,
		ReadNonce:       uint64(inc),
		Bugs:            w.bugs.DriverBugs,
	})
	if err != nil {
		return err
	}
	n.core = c
	n.commit = c.Status().Commit
	n.view = n.view[:0]
	for i := range ents {
		n.view = append(n.view, metaOf(&ents[i]))
	}
	n.asked = map[uint64]uint64{}
	n.readSeq = 0
	return nil
}

// cell points at the world being worked on. Every world cloned from
// one initial world shares it, and so do the closures the driver hands
// to the log (a write's done callback): they reach the node through the
// cell, never through a pointer into one world, so a cloned world's
// pending callbacks act on the clone once it is activated.
type cell struct {
	w    *world
	flat map[reflect.Type]bool // the cloner's type cache (clone.go)
}

// port is one node incarnation's Storage, Transport and OnDurable.
// Messages and callbacks of a crashed incarnation change nothing.
type port struct {
	cell *cell
	idx  int
	inc  uint32
}

func (p port) node() *node { return p.cell.w.n[p.idx] }

func (p port) onDurable(err error) {
	n := p.node()
	switch {
	case n.inc != p.inc:
	case err != nil:
		n.syncErr = err
	default:
		n.durableWrites++
	}
}

// Submit queues w in the node's MemLog (manual sync). Snapshots never
// occur in the explorer (no compaction), so WaitDurable and
// SaveSnapshot are only the driver's safety net.
func (p port) Submit(w driver.Write, done func(error)) error {
	return p.node().log.Submit(wal.Write{Entries: w.Entries, HardState: w.HardState}, done)
}

func (p port) WaitDurable(k uint64) (uint64, error) {
	n := p.node()
	n.log.SyncAll()
	if n.syncErr != nil {
		return n.durableWrites, n.syncErr
	}
	return n.durableWrites, nil
}

func (p port) SaveSnapshot(s raftpb.Snapshot) error { return p.node().log.SaveSnapshot(s) }

func (p port) Send(msgs []raftpb.Message) {
	if p.node().inc != p.inc {
		return
	}
	for i := range msgs {
		p.cell.w.send(&msgs[i])
	}
}

func (w *world) send(m *raftpb.Message) {
	if m.Type == raftpb.MsgVoteResp && !m.Reject {
		w.onVoteGranted(m.From, m.Term, m.To)
	}
	enc := raftpb.AppendMessage(nil, m)
	h := newHasher()
	h.bytes(enc)
	w.net = append(w.net, inflight{enc: enc, hash: h.sum()})
	if w.cfg.Symmetry {
		decodeInflight(&w.net[len(w.net)-1])
	}
}

func (w *world) fail(inv, format string, args ...any) {
	if w.violation == nil && w.cfg.checks(inv) {
		w.violation = &Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)}
	}
}

// drive hands every Ready to the driver, the checker looking first, and
// applies what comes back, as the runtime's loop does.
func (w *world) drive(n *node) {
	for {
		n.drv.Release(n.durableWrites)
		if !n.core.HasReady() {
			return
		}
		rd := n.drv.Ready()
		w.observe(n, &rd)
		b, err := n.drv.Handle(&rd)
		if err != nil {
			panic(fmt.Sprintf("explore: node %d: driver: %v", n.id, err))
		}
		w.apply(n, &b)
	}
}

// observe checks a Ready before the driver carries it out: a new
// leader, the entries appended, the new commit index.
func (w *world) observe(n *node, rd *engine.Ready) {
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		if first > uint64(len(n.view))+1 {
			panic(fmt.Sprintf("explore: node %d appends at %d past its log end %d", n.id, first, len(n.view)))
		}
		n.view = n.view[:first-1]
		for i := range rd.Entries {
			n.view = append(n.view, metaOf(&rd.Entries[i]))
		}
	}
	if rd.SoftState != nil && rd.SoftState.Role == engine.Leader {
		w.onLeader(n)
	}
	switch c := rd.HardState.Commit; {
	case c > n.commit:
		// §5.4.2: a leader counts replicas only for entries of its own
		// term; earlier entries commit with them (Figure 8 shows an entry
		// committed by counting later overwritten).
		if n.core.Role() == engine.Leader && c <= uint64(len(n.view)) && n.view[c-1].Term != n.core.Term() {
			w.fail(InvLeaderOwnTerm, "leader %d of term %d advanced its commit index %d -> %d, to an entry of term %d", n.id, n.core.Term(), n.commit, c, n.view[c-1].Term)
		}
		w.onCommit(n, c)
		n.commit = c
	case c < n.commit:
		w.fail(InvMonotonicCommit, "node %d commit went from %d to %d", n.id, n.commit, c)
	}
}

func (w *world) onLeader(n *node) {
	t := n.core.Term()
	w.note = append(w.note, fmt.Sprintf("n%d leader of term %d", n.id, t))
	if prev, ok := w.leaders[t]; ok && prev != n.id {
		w.fail(InvElectionSafety, "nodes %d and %d are both leaders of term %d", prev, n.id, t)
	}
	w.leaders[t] = n.id
	for i, m := range w.committed {
		if w.commitTerm[i] >= t {
			continue // committed in this or a later term (§5.4: only earlier terms' commits bind)
		}
		if i >= len(n.view) || n.view[i] != m {
			w.fail(InvLeaderComplete, "node %d became leader of term %d without entry %d (term %d), committed in term %d", n.id, t, i+1, m.Term, w.commitTerm[i])
			return
		}
	}
}

func (w *world) onVoteGranted(voter, term, cand uint64) {
	k := [2]uint64{voter, term}
	if prev, ok := w.votes[k]; ok && prev != cand {
		w.fail(InvOneVote, "node %d granted its term-%d vote to %d and to %d", voter, term, prev, cand)
	}
	w.votes[k] = cand
}

func (w *world) onCommit(n *node, c uint64) {
	if c > uint64(len(n.view)) {
		w.fail(InvStateMachine, "node %d commits %d beyond its log end %d", n.id, c, len(n.view))
		return
	}
	for i := uint64(0); i < c; i++ {
		switch {
		case i < uint64(len(w.committed)):
			if w.committed[i] != n.view[i] {
				w.fail(InvStateMachine, "node %d commits index %d with term %d, committed before with term %d", n.id, i+1, n.view[i].Term, w.committed[i].Term)
				return
			}
		default:
			w.committed = append(w.committed, n.view[i])
			w.commitTerm = append(w.commitTerm, n.core.Term())
		}
	}
}

// apply runs the driver's Applier on a batch and serves reads.
func (w *world) apply(n *node, b *driver.Batch) {
	if err := n.ap.Apply(b, hooks{w: w, n: n}); err != nil {
		w.fail(InvStateMachine, "node %d: %v", n.id, err)
		return
	}
	for _, r := range b.Reads {
		asked, ok := n.asked[r.ID]
		if !ok {
			continue
		}
		delete(n.asked, r.ID)
		if r.Index < asked {
			w.fail(InvReadCovers, "node %d got read index %d for a read asked when %d was committed", n.id, r.Index, asked)
		}
		n.reads.Add(r.Index, pendingRead{id: r.ID, askedCommit: asked})
	}
	applied, _ := n.ap.Applied()
	n.reads.Servable(applied, func(index uint64, r pendingRead) {
		if applied < index {
			w.fail(InvReadAfterApplied, "node %d served a read at index %d with applied %d", n.id, index, applied)
		}
		w.note = append(w.note, fmt.Sprintf("n%d served read %d at index %d", n.id, r.id, index))
	})
}

// hooks is the checker's view of one node's applier.
type hooks struct {
	w *world
	n *node
}

func (h hooks) Applying(e *raftpb.Entry) {
	w, n := h.w, h.n
	if e.Index > n.commit {
		w.fail(InvApplyCommitted, "node %d applies index %d beyond its commit index %d", n.id, e.Index, n.commit)
	}
	m := metaOf(e)
	switch i := e.Index - 1; {
	case i < uint64(len(w.applied)):
		if w.applied[i] != m {
			w.fail(InvStateMachine, "node %d applies index %d with term %d, applied elsewhere with term %d", n.id, e.Index, e.Term, w.applied[i].Term)
		}
	case i == uint64(len(w.applied)):
		w.applied = append(w.applied, m)
	default:
		w.fail(InvStateMachine, "node %d applies index %d past the applied prefix %d", n.id, e.Index, len(w.applied))
	}
}

func (h hooks) Applied(r *driver.Result) {
	if r.Kind != driver.Applied {
		return
	}
	key := fmt.Sprintf("%d/%d", r.Client, r.Seq)
	if slices.Contains(h.n.sm.applied[:len(h.n.sm.applied)-1], key) {
		h.w.fail(InvAtMostOnce, "node %d applied client %d seq %d twice (second time at index %d)", h.n.id, r.Client, r.Seq, r.Index)
	}
}

func (h hooks) Restored(raftpb.SnapshotMeta) {}

// checkState runs the invariants that look at the whole state.
func (w *world) checkState() {
	if w.violation != nil {
		return
	}
	// A log changes only through Ready.Entries (appends, and conflicts
	// overwritten by a leader's entries): a core whose log is shorter
	// than what it handed out dropped entries silently (§5.3 keeps
	// matching entries).
	for _, n := range w.n {
		if _, last := n.core.LogBounds(); last < uint64(len(n.view)) {
			w.fail(InvLogMatching, "node %d's log shrank from %d to %d entries without a conflicting entry from a leader", n.id, len(n.view), last)
			return
		}
	}
	// Log matching: same index and term imply the same entry and the
	// same prefix.
	for a := 0; a < len(w.n); a++ {
		for b := a + 1; b < len(w.n); b++ {
			va, vb := w.n[a].view, w.n[b].view
			k := min(len(va), len(vb))
			for i := k - 1; i >= 0; i-- {
				if va[i].Term == vb[i].Term {
					if !slices.Equal(va[:i+1], vb[:i+1]) {
						w.fail(InvLogMatching, "nodes %d and %d agree on the term of index %d but not on their logs up to it", a+1, b+1, i+1)
						return
					}
					break
				}
			}
		}
	}
	// Every applied entry (answered to a client, if one waited) is
	// durable on a majority.
	q := len(w.n)/2 + 1
	for i, m := range w.applied {
		have := 0
		for _, n := range w.n {
			if t, err := n.log.Term(uint64(i + 1)); err == nil && t == m.Term && uint64(i+1) <= n.log.LastIndex() {
				have++
			}
		}
		if have < q {
			w.fail(InvAckedDurable, "applied entry %d (term %d) is durable on %d nodes, fewer than a majority of %d", i+1, m.Term, have, len(w.n))
			return
		}
	}
}

// crash loses n's unsynced writes and restarts it from what is durable.
func (w *world) crash(n *node) {
	lg, err := n.log.Crash(wal.LoseUnsynced)
	if err != nil {
		panic(fmt.Sprintf("explore: node %d: crash: %v", n.id, err))
	}
	n.inc++
	n.log = lg
	first, last := lg.FirstIndex(), lg.LastIndex()
	ents, err := lg.Entries(first, last+1)
	if err != nil {
		panic(fmt.Sprintf("explore: node %d: recover: %v", n.id, err))
	}
	hs := lg.HardState()
	if w.bugs.ForgetVoteOnRestart {
		hs.Vote = 0 // the bug: the vote is not reloaded
	}
	if err := w.start(n, hs, ents); err != nil {
		panic(fmt.Sprintf("explore: node %d: restart: %v", n.id, err))
	}
	w.note = append(w.note, fmt.Sprintf("n%d restarts with term %d, durable log to %d", n.id, hs.Term, last))
}

// stateHash is the canonical digest of the global state (of its orbit
// under node renaming, with Symmetry).
func (w *world) stateHash() uint64 {
	if w.cfg.Symmetry {
		return w.canonicalHash()
	}
	h := newHasher()
	for _, n := range w.n {
		h.u64(n.hash())
	}
	hs := make([]uint64, len(w.net))
	for i := range w.net {
		hs[i] = w.net[i].hash
	}
	slices.Sort(hs) // the network is a multiset
	h.u64(uint64(len(hs)))
	for _, x := range hs {
		h.u64(x)
	}
	h.value(reflect.ValueOf(w.used))
	h.value(reflect.ValueOf(w.leaders))
	h.value(reflect.ValueOf(w.votes))
	h.value(reflect.ValueOf(w.committed))
	h.value(reflect.ValueOf(w.commitTerm))
	h.value(reflect.ValueOf(w.applied))
	return h.sum()
}

// hash digests one node: core, durable and pending log, the driver's
// obligations relative to its write count, applier and reads.
func (n *node) hash() uint64 { return n.hashUnder(nil) }

// hashUnder is hash with node ids renamed by ren (nil: as they are).
func (n *node) hashUnder(ren []uint64) uint64 {
	h := &hasher{h: fnvOffset, ren: ren}
	h.value(reflect.ValueOf(n.core).Elem())
	h.value(reflect.ValueOf(n.log).Elem())
	d := reflect.ValueOf(n.drv).Elem()
	released := d.Field(drvFields.released).Uint()
	h.u64(d.Field(drvFields.submitted).Uint() - released)
	infl := d.Field(drvFields.inflight)
	h.u64(uint64(infl.Len()))
	for i := 0; i < infl.Len(); i++ {
		it := infl.Index(i)
		h.u64(it.Field(drvFields.seq).Uint() - released)
		if ren == nil {
			h.value(it.Field(drvFields.after))
		} else {
			// Held-back messages leave together into the network (a
			// multiset): their order is not state, and a renaming
			// reorders them (peers are sent to in id order).
			after := it.Field(drvFields.after)
			sums := make([]uint64, after.Len())
			for k := range sums {
				sub := &hasher{h: fnvOffset, ren: ren}
				sub.value(after.Index(k))
				sums[k] = sub.h
			}
			slices.Sort(sums)
			h.u64(uint64(len(sums)))
			for _, x := range sums {
				h.u64(x)
			}
		}
		h.value(it.Field(drvFields.sent))
		h.value(it.Field(drvFields.index))
		h.value(it.Field(drvFields.term))
		h.value(it.Field(drvFields.hasIndex))
	}
	h.u64(n.durableWrites - released)
	h.u64(uint64(n.inc))
	h.value(reflect.ValueOf(n.ap).Elem())
	h.value(reflect.ValueOf(n.reads).Elem())
	h.value(reflect.ValueOf(n.sm.applied))
	h.value(reflect.ValueOf(n.asked))
	h.u64(n.readSeq)
	h.u64(n.commit)
	return h.sum()
}

// drvFields are the driver fields node.hash reads, by index (looked up
// by name once: FieldByName on every hash cost about 15% of a run).
var drvFields = func() (f struct {
	released, submitted, inflight, seq, after, sent, index, term, hasIndex int
}) {
	d := reflect.TypeOf(driver.Driver{})
	idx := func(t reflect.Type, name string) int {
		sf, ok := t.FieldByName(name)
		if !ok || len(sf.Index) != 1 {
			panic("explore: the driver has no field " + name + " (update node.hash)")
		}
		return sf.Index[0]
	}
	f.released, f.submitted, f.inflight = idx(d, "released"), idx(d, "submitted"), idx(d, "inflight")
	sf, _ := d.FieldByName("inflight")
	it := sf.Type.Elem()
	f.seq, f.after, f.sent = idx(it, "seq"), idx(it, "after"), idx(it, "sent")
	f.index, f.term, f.hasIndex = idx(it, "index"), idx(it, "term"), idx(it, "hasIndex")
	return f
}()

// proposal encodes client proposal seq with the session header.
func proposal(seq uint64) []byte {
	return append(driver.AppendHeader(nil, clientID, seq), fmt.Sprintf("%d/%d", clientID, seq)...)
}

// readID gives each read a per-node id.
func readID(n *node) uint64 {
	n.readSeq++
	return n.readSeq
}
