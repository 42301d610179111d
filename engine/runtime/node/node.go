package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// Node runs one Raft member: the loop goroutine that owns the core, the
// apply goroutine that owns the state machine, and the WAL's flusher.
type Node struct {
	cfg    Config
	log    wal.Log
	sm     StateMachine
	clock  Clock
	logger *slog.Logger
	m      *metrics
	stats  statCounters

	// drv carries out the core's Readys; both are owned by the loop
	// goroutine (core is drv.Core()).
	drv  *driver.Driver
	core *engine.Core

	// clientID is this node's own session for Propose; seq is its counter
	// (assigned under propMu so the queue is in seq order).
	clientID uint64
	seq      uint64

	// inbox: everything other goroutines hand to the loop. Proposals
	// have their own lock so clients do not contend with the transport.
	propMu    sync.Mutex
	props     []proposal
	propBytes int
	inMu      sync.Mutex
	msgs      []raftpb.Message
	reads     []readReq
	ctrl      []func()
	wake      chan struct{} // capacity 1: "the inbox is not empty"

	// propHeld (under propMu): the loop leaves the queued proposals for
	// a commit to come (holdProposals); new ones need not wake it until
	// the queue is full enough to go anyway.
	propHeld bool

	readsInFlight atomic.Int64

	// persistence: the WAL's done callbacks count completions here.
	durable     atomic.Uint64
	walErr      atomic.Pointer[error]
	persistWake chan struct{}

	// probeWrites (loop goroutine, only while a Probe is set) pairs each
	// WAL write carrying entries with its place in Submit order, so the
	// loop knows which indexes a durable count releases (StageReleased).
	probeWrites probeWrites
	// readProbe is Config.Probe when it also implements ReadProbe.
	readProbe ReadProbe

	// snapMu orders the two writers of WAL snapshots (the apply
	// goroutine's own, the loop's from the leader) so the stored snapshot
	// never goes backwards; savedSnap is the newest index stored.
	snapMu    sync.Mutex
	savedSnap uint64
	// snapFiles is the WAL's file-based snapshot API when the node runs
	// on its own WAL (snapfiles.go); nil: snapshots are held in memory.
	// received is a follower's complete incoming snapshot file, waiting
	// for the core's Ready to install it (loop goroutine only).
	snapFiles snapshotFiles
	received  *wal.SnapshotFile

	applyc  chan applyItem
	waiters *waiters
	// residentLog is the driver's resident log limit in bytes
	// (Config.ResidentLogRatio times the latest snapshot's size),
	// published by the apply goroutine, which knows that size, for the
	// loop, which owns the driver.
	residentLog atomic.Uint64

	pub published // cheap status published by the loop

	conf membership // applied configuration, change waiters, transport sync

	// leaderCh is closed and replaced on every leader change (by the
	// loop: the new one stored before the old is closed). A pointer read
	// without a lock: every proposal takes it (LeaderChanged), and a
	// mutex there was one more cache line all clients wrote.
	leaderCh atomic.Pointer[chan struct{}]

	stopc    chan struct{}
	stopOnce sync.Once
	stopErr  error
	wg       sync.WaitGroup
}

// published is what the loop and apply goroutine expose without locks.
//
// Each writer's fields have their own cache line: every client request
// reads role and term (IsLeader, Term) from any core, and when they
// shared a line with the indexes the loop stores on every Ready and the
// apply goroutine on every entry, each of those stores took the line
// from the readers and each read took it back.
type published struct {
	_          [cacheLine]byte // apart from the Node's fields before it
	term, lead atomic.Uint64   // the loop, on a term or leader change
	role       atomic.Uint32
	_          [cacheLine]byte // a full line between groups: the Node need not be line-aligned
	commit     atomic.Uint64   // the loop, every Ready
	lastIndex  atomic.Uint64
	_          [cacheLine]byte
	applied    atomic.Uint64 // the apply goroutine, every entry
	_          [cacheLine]byte
}

// cacheLine is the CPU cache line size assumed for padding.
const cacheLine = 64

// proposal is a command waiting in the inbox.
type proposal struct {
	key  waitKey
	data []byte
	w    *waiter
	gen  uint64 // w's generation for this proposal
}

// readReq is a linearizable read waiting for a read index.
type readReq struct {
	query []byte
	w     *waiter
}

// Start recovers state from the WAL and starts the node's goroutines.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, sm: cfg.StateMachine, clock: cfg.Clock, logger: cfg.Logger,
		wake: make(chan struct{}, 1), persistWake: make(chan struct{}, 1),
		applyc: make(chan applyItem, applyQueueLen), waiters: newWaiters(),
		stopc:    make(chan struct{}),
		clientID: randomClientID(),
	}
	first := make(chan struct{})
	n.leaderCh.Store(&first)
	if rp, ok := cfg.Probe.(ReadProbe); ok {
		n.readProbe = rp
	}
	if n.m, err = newMetrics(cfg.Registerer, cfg.ID); err != nil {
		return nil, err
	}
	if n.log = cfg.Log; n.log == nil {
		opts := cfg.WALOptions
		if cfg.UnsafeNoFsync {
			opts.UnsafeNoFsync = true
		}
		if opts.Registerer == nil && cfg.Registerer != nil {
			opts.Registerer = prometheus.WrapRegistererWith(
				prometheus.Labels{"node": strconv.FormatUint(cfg.ID, 10)}, cfg.Registerer)
		}
		if opts.Logger == nil {
			opts.Logger = cfg.Logger
		}
		if n.log, err = wal.Open(cfg.Dir, opts); err != nil {
			return nil, fmt.Errorf("node %d: open WAL: %w", cfg.ID, err)
		}
	}
	if f, ok := n.log.(snapshotFiles); ok && cfg.Log == nil {
		n.snapFiles = f
	}
	ap, ecfg, err := n.recover()
	if err != nil {
		n.log.Close()
		return nil, err
	}
	if n.core, err = engine.New(ecfg); err != nil {
		n.log.Close()
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	xfer := driver.TransferConfig{ChunkBytes: cfg.SnapshotChunkBytes, ChunksInFlight: cfg.SnapshotChunksInFlight}
	if n.snapFiles != nil {
		xfer.Source, xfer.Sink = fileSource{n}, fileSink{n}
	}
	n.drv, err = driver.New(driver.Config{Core: n.core, Storage: walStorage{n}, Transport: sender{n}, OnDurable: n.onDurable, ReadNonce: n.clientID,
		Transfer: xfer, KeepAppliedEntries: cfg.KeepAppliedEntries})
	if err != nil {
		n.log.Close()
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	if ap.snap != nil {
		// Lets the core send the recovered snapshot to lagging followers.
		if err := n.drv.Compact(*ap.snap); err != nil {
			n.log.Close()
			return nil, fmt.Errorf("node %d: recovered snapshot: %w", cfg.ID, err)
		}
		ap.snap = nil
	}
	applied, _ := ap.da.Applied()
	n.pub.applied.Store(applied)
	n.conf.init(ap.da.ConfState())
	n.syncPeers()
	if err := cfg.Transport.Start(n.receive); err != nil {
		n.log.Close()
		return nil, fmt.Errorf("node %d: start transport: %w", cfg.ID, err)
	}
	n.wg.Add(2)
	go n.run()
	go ap.run()
	return n, nil
}

func randomClientID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("node: crypto/rand failed: " + err.Error())
		}
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// recover loads hard state, snapshot and log from the WAL, restores the
// state machine from the snapshot and builds the core's restart config.
// The entries known committed (up to the durable hard state's commit
// index) are replayed into the state machine here, a chunk at a time,
// and the core starts at the index they reach, holding only the rest:
// the log since the last snapshot can be SnapshotLogRatio times the
// state's size, and a restart holds at most a chunk of it more than a
// running node does (which keeps about ResidentLogRatio of it). The
// stored snapshot is then older than the core's log; a follower that
// needs entries before it gets a fresh one (engine.Core.SnapshotWanted).
func (n *Node) recover() (*applier, engine.Config, error) {
	ecfg := n.cfg.Engine
	ap, err := newApplier(n)
	if err != nil {
		return nil, ecfg, fmt.Errorf("node %d: %w", n.cfg.ID, err)
	}
	snap, err := n.restoreStored(ap)
	switch {
	case errors.Is(err, wal.ErrNoSnapshot):
	case err != nil:
		return nil, ecfg, err
	default:
		ap.snap = &snap
		n.savedSnap = snap.Meta.Index
		meta := snap.Meta
		ecfg.Snapshot = &meta
		ecfg.Applied = meta.Index
	}
	ecfg.HardState = n.log.HardState()
	first, last := n.log.FirstIndex(), n.log.LastIndex()
	if err := n.replayCommitted(ap, &ecfg, &first, min(ecfg.HardState.Commit, last)); err != nil {
		return nil, ecfg, err
	}
	if last >= first {
		if ecfg.Entries, err = n.log.Entries(first, last+1); err != nil {
			return nil, ecfg, fmt.Errorf("node %d: read log [%d, %d]: %w", n.cfg.ID, first, last, err)
		}
	}
	if ecfg.HardState.Commit > last {
		// A commit index beyond the durable log cannot be trusted; the
		// leader will tell us again.
		ecfg.HardState.Commit = last
	}
	if ecfg.Seed == 0 {
		ecfg.Seed = n.clientID ^ n.cfg.ID
	}
	n.logger.Info("recovered", "term", ecfg.HardState.Term, "commit", ecfg.HardState.Commit,
		"first", first, "last", last, "snapshot", ecfg.Applied)
	n.pub.lastIndex.Store(last)
	return ap, ecfg, nil
}

// replayChunk is how many entries recovery reads and applies at a time.
const replayChunk = 8192

// replayCommitted applies the committed entries after the snapshot,
// (*first-1, commit], and moves the core's start (ecfg's snapshot
// position and *first) past them.
func (n *Node) replayCommitted(ap *applier, ecfg *engine.Config, first *uint64, commit uint64) error {
	applied := ecfg.Applied
	if commit <= applied || *first > applied+1 {
		return nil // nothing committed to replay, or a log that does not follow the snapshot (the core reports it)
	}
	for lo := applied + 1; lo <= commit; {
		hi := min(lo+replayChunk, commit+1)
		ents, err := n.log.Entries(lo, hi)
		if err != nil {
			return fmt.Errorf("node %d: read log [%d, %d]: %w", n.cfg.ID, lo, hi-1, err)
		}
		if err := ap.da.Apply(&driver.Batch{Entries: ents}, replayHooks{}); err != nil {
			return fmt.Errorf("node %d: replay log [%d, %d]: %w", n.cfg.ID, lo, hi-1, err)
		}
		lo = hi
	}
	index, term := ap.da.Applied()
	ecfg.Snapshot = &raftpb.SnapshotMeta{Index: index, Term: term, ConfState: ap.da.ConfState()}
	ecfg.Applied, *first = index, index+1
	if ap.snap != nil && ap.snap.Meta.Index < index {
		ap.snap = nil // older than the core's log: not given to Compact
	}
	return nil
}

// replayHooks are the applier's hooks during recovery: no client waits
// yet, and the configuration reached is read from the applier after.
type replayHooks struct{}

func (replayHooks) Applying(*raftpb.Entry)       {}
func (replayHooks) Applied(*driver.Result)       {}
func (replayHooks) Restored(raftpb.SnapshotMeta) {}

// restoreStored restores the applier from the stored snapshot (streaming
// from the file on the node's own WAL) and returns what the core keeps
// of it; wal.ErrNoSnapshot if there is none.
func (n *Node) restoreStored(ap *applier) (raftpb.Snapshot, error) {
	if n.snapFiles == nil {
		snap, err := n.log.Snapshot()
		if err == nil {
			err = ap.da.Restore(snap)
		} else if !errors.Is(err, wal.ErrNoSnapshot) {
			err = fmt.Errorf("node %d: read snapshot: %w", n.cfg.ID, err)
		}
		return snap, err
	}
	d, err := n.snapFiles.OpenSnapshot()
	if err != nil {
		if !errors.Is(err, wal.ErrNoSnapshot) {
			err = fmt.Errorf("node %d: read snapshot: %w", n.cfg.ID, err)
		}
		return raftpb.Snapshot{}, err
	}
	defer d.Close()
	if err := ap.da.RestoreFrom(d.Meta, d.Reader(), uint64(d.Size())); err != nil {
		return raftpb.Snapshot{}, err
	}
	return raftpb.Snapshot{Meta: d.Meta}, nil
}

// saveSnapshot stores s in the WAL unless a newer one is already there;
// false means s was stale and not stored.
func (n *Node) saveSnapshot(s raftpb.Snapshot) (bool, error) {
	n.snapMu.Lock()
	defer n.snapMu.Unlock()
	if s.Meta.Index <= n.savedSnap {
		return false, nil
	}
	if err := n.log.SaveSnapshot(s); err != nil {
		return false, err
	}
	n.savedSnap = s.Meta.Index
	return true, nil
}

// ID returns the node's Raft ID.
func (n *Node) ID() uint64 { return n.cfg.ID }

// ClientID returns the session id Propose uses.
func (n *Node) ClientID() uint64 { return n.clientID }

// Propose replicates cmd and returns the state machine's result once it is
// applied locally (a blind command, see driver.BlindResulter, once it is
// committed and about to be applied). It uses the node's own session.
func (n *Node) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	return n.propose(ctx, nil, n.clientID, 0, cmd)
}

// ProposeSession is Propose for callers that retry: a request with the
// same (clientID, seq) is applied at most once and every copy gets the
// first result (while the session's dedup window still holds it).
// clientID must be non-zero and seq positive.
func (n *Node) ProposeSession(ctx context.Context, clientID, seq uint64, cmd []byte) ([]byte, error) {
	if clientID == 0 || seq == 0 {
		return nil, fmt.Errorf("%w: client id and seq must be non-zero", ErrBadRequest)
	}
	return n.propose(ctx, nil, clientID, seq, cmd)
}

// ProposeSessionUntil is ProposeSession that also gives up when abort is
// closed, with an indefinite ErrLeaderChanged: the entry may still
// commit, so the caller should retry with the same session (typically on
// the new leader, with abort = that node's LeaderChanged()). It costs no
// timer, unlike a per-attempt context.
func (n *Node) ProposeSessionUntil(ctx context.Context, abort <-chan struct{}, clientID, seq uint64, cmd []byte) ([]byte, error) {
	if clientID == 0 || seq == 0 {
		return nil, fmt.Errorf("%w: client id and seq must be non-zero", ErrBadRequest)
	}
	return n.propose(ctx, abort, clientID, seq, cmd)
}

// ProposalHeaderLen is the room ProposeFramedUntil needs before the
// command: the node writes the session header there.
const ProposalHeaderLen = driver.HeaderLen

// ProposeFramedUntil is ProposeSessionUntil for a command the caller
// placed after ProposalHeaderLen bytes of room (framed[ProposalHeaderLen:]
// is the command): the node writes the session header into that room
// and keeps framed itself as the log entry's data, where
// ProposeSessionUntil allocates the entry and copies the command into
// it. framed becomes the node's: the log, the WAL and the transport may
// read it after the call returns, so the caller must not change it or
// pass it to another propose call (a retry passes the command,
// framed[ProposalHeaderLen:], to ProposeSessionUntil, which copies it).
func (n *Node) ProposeFramedUntil(ctx context.Context, abort <-chan struct{}, clientID, seq uint64, framed []byte) ([]byte, error) {
	if clientID == 0 || seq == 0 {
		return nil, fmt.Errorf("%w: client id and seq must be non-zero", ErrBadRequest)
	}
	if len(framed) < ProposalHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes framed, less than the %d-byte header room", ErrBadRequest, len(framed), ProposalHeaderLen)
	}
	return n.proposeData(ctx, abort, clientID, seq, framed)
}

func (n *Node) propose(ctx context.Context, abort <-chan struct{}, clientID, seq uint64, cmd []byte) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrBadRequest)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data := make([]byte, driver.HeaderLen, driver.HeaderLen+len(cmd))
	return n.proposeData(ctx, abort, clientID, seq, append(data, cmd...))
}

// proposeData proposes data, the command after driver.HeaderLen bytes
// that enqueueProposal fills in, and waits for its outcome.
func (n *Node) proposeData(ctx context.Context, abort <-chan struct{}, clientID, seq uint64, data []byte) ([]byte, error) {
	if len(data) == driver.HeaderLen {
		return nil, fmt.Errorf("%w: empty command", ErrBadRequest)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := getWaiter(n.clock.Now())
	// abort is usually this node's own LeaderChanged() channel, shared
	// by every proposer on the node: waiting on it would take its lock
	// twice per proposal from every client goroutine. Then the loop
	// answers the waiter itself at the change (failLeaderChangeWaiters),
	// and after registering the proposer only looks (without a lock)
	// whether the change already happened, which the loop's walk of the
	// registry may have missed.
	own := abort != nil && abort == n.LeaderChanged()
	w.untilLeaderChange = own
	key, err := n.enqueueProposal(clientID, seq, data, w)
	if err != nil {
		putWaiter(w) // never registered
		return nil, err
	}
	var gaveUp error
	if own {
		select {
		case <-abort:
			gaveUp = indeterminate(ErrLeaderChanged)
		default:
			abort = nil // answered through w.ch at the change
		}
	}
	if gaveUp == nil {
		select {
		case r := <-w.ch:
			if p := n.cfg.Probe; p != nil {
				if i := w.probeIndex.Swap(0); i != 0 && r.err == nil {
					p.Mark(n.cfg.ID, StageReturned, i, i, time.Now())
				}
			}
			putWaiter(w)
			return r.res, r.err
		case <-ctx.Done():
			gaveUp = ctxError(ctx.Err())
		case <-abort:
			gaveUp = indeterminate(ErrLeaderChanged)
		}
	}
	if n.waiters.take(key) == nil {
		// Completed concurrently: report the real outcome.
		r := <-w.ch
		putWaiter(w)
		return r.res, r.err
	}
	putWaiter(w) // removed by us: nobody else can send on it
	return nil, gaveUp
}

// enqueueProposal registers w and queues data (whose first driver.HeaderLen
// bytes it fills in). seq 0 means "assign the node's next seq".
func (n *Node) enqueueProposal(clientID, seq uint64, data []byte, w *waiter) (waitKey, error) {
	n.propMu.Lock()
	if n.isStopped() {
		n.propMu.Unlock()
		return waitKey{}, ErrStopped
	}
	if len(n.props) >= n.cfg.MaxPendingProposals || n.propBytes+len(data) > n.cfg.MaxPendingBytes {
		n.propMu.Unlock()
		n.stats.busy.Add(1)
		return waitKey{}, ErrBusy
	}
	if seq == 0 {
		n.seq++
		seq = n.seq
	}
	key := waitKey{clientID, seq}
	if !n.waiters.add(key, w) {
		n.propMu.Unlock()
		return key, fmt.Errorf("%w: (client %d, seq %d) is already in flight on this node", ErrBusy, clientID, seq)
	}
	driver.AppendHeader(data[:0], clientID, seq)
	n.props = append(n.props, proposal{key: key, data: data, w: w, gen: w.gen.Load()})
	n.propBytes += len(data)
	quiet := n.propHeld && !heldFull(len(n.props), n.propBytes)
	n.propMu.Unlock()
	if !quiet {
		n.notify()
	}
	return key, nil
}

func (n *Node) notify() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) isStopped() bool {
	select {
	case <-n.stopc:
		return true
	default:
		return false
	}
}

// Read runs query against the state machine linearizably: it confirms
// leadership with a ReadIndex round (thesis §6.4), waits until that index
// is applied locally, then calls Query. Reads pending in one loop turn
// share one ReadIndex round.
func (n *Node) Read(ctx context.Context, query []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.readsInFlight.Add(1) > int64(n.cfg.MaxPendingReads) {
		n.readsInFlight.Add(-1)
		n.stats.busy.Add(1)
		return nil, ErrBusy
	}
	var start time.Time
	if n.readProbe != nil {
		start = time.Now()
	}
	w := getWaiter(start)
	n.inMu.Lock()
	if n.isStopped() {
		n.inMu.Unlock()
		n.readsInFlight.Add(-1)
		putWaiter(w)
		return nil, ErrStopped
	}
	n.reads = append(n.reads, readReq{query: query, w: w})
	n.inMu.Unlock()
	n.notify()
	select {
	case r := <-w.ch:
		if p := n.readProbe; p != nil {
			if round := w.probeIndex.Swap(0); round != 0 && r.err == nil {
				p.MarkRead(n.cfg.ID, round, ReadReturned, time.Now())
			}
		}
		putWaiter(w)
		return r.res, r.err
	case <-ctx.Done():
		// The read stays queued and completes into w.ch unobserved;
		// reads change nothing, so abandoning is safe.
		return nil, ctxError(ctx.Err())
	}
}

// receive is the transport's handler: queue, never block.
func (n *Node) receive(m raftpb.Message) {
	if p := n.cfg.Probe; p != nil {
		n.probeMessage(p, &m, false)
	}
	n.inMu.Lock()
	if len(n.msgs) >= n.cfg.MaxInboxMessages || n.isStopped() {
		n.inMu.Unlock()
		n.stats.dropped.Add(1)
		n.m.dropped.Inc()
		return
	}
	n.msgs = append(n.msgs, m)
	n.inMu.Unlock()
	n.notify()
}

// do runs f on the loop goroutine and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	n.inMu.Lock()
	if n.isStopped() {
		n.inMu.Unlock()
		return ErrStopped
	}
	if len(n.ctrl) >= maxCtrl {
		n.inMu.Unlock()
		return ErrBusy
	}
	n.ctrl = append(n.ctrl, func() { f(); close(done) })
	n.inMu.Unlock()
	n.notify()
	select {
	case <-done:
		return nil
	case <-n.stopc:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

const maxCtrl = 1024

// post queues f to run on the loop goroutine without waiting; false if
// the node is stopped or the control queue is full.
func (n *Node) post(f func()) bool {
	n.inMu.Lock()
	defer n.inMu.Unlock()
	if n.isStopped() || len(n.ctrl) >= maxCtrl {
		return false
	}
	n.ctrl = append(n.ctrl, f)
	n.notify()
	return true
}

// LeaderChanged returns a channel closed at the next leader change seen
// by this node (taken before checking Leader, it cannot miss one).
func (n *Node) LeaderChanged() <-chan struct{} {
	return *n.leaderCh.Load()
}

// TransferLeadership asks the leader to hand leadership to node to
// (thesis §3.10) and waits until to leads or ctx expires.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	var err error
	if derr := n.do(ctx, func() { err = n.core.TransferLeadership(to) }); derr != nil {
		return derr
	}
	if err != nil {
		return err
	}
	for n.pub.lead.Load() != to {
		ch := n.LeaderChanged()
		if n.pub.lead.Load() == to {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctxError(ctx.Err())
		case <-n.stopc:
			return ErrStopped
		}
	}
	return nil
}

// Done is closed when the node has stopped, by Stop or by itself after a
// storage failure (see Err).
func (n *Node) Done() <-chan struct{} { return n.stopc }

// Err returns why the node stopped itself, or nil.
func (n *Node) Err() error {
	if p := n.walErr.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrStorage, *p)
	}
	return nil
}

// Stop shuts the node down: the transport stops delivering, the loop and
// apply goroutines exit, waiters get ErrStopped and the WAL is closed.
// Idempotent; it returns the first error (WAL close or earlier storage
// failure).
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.propMu.Lock()
		n.inMu.Lock()
		close(n.stopc)
		n.inMu.Unlock()
		n.propMu.Unlock()
		trErr := n.cfg.Transport.Close()
		n.wg.Wait()
		n.waiters.failAll(indeterminate(ErrStopped))
		n.failQueued()
		logErr := n.log.Close()
		n.stopErr = errors.Join(n.Err(), logErr, trErr)
		n.m.unregister()
	})
	return n.stopErr
}

// failQueued answers everything still in the inbox after the loop exited.
func (n *Node) failQueued() {
	n.propMu.Lock()
	n.props = nil
	n.propMu.Unlock()
	n.inMu.Lock()
	reads := n.reads
	n.reads, n.msgs, n.ctrl = nil, nil, nil
	n.inMu.Unlock()
	for _, r := range reads {
		r.w.ch <- result{err: ErrStopped}
	}
}
