package etcd

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	raftpb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Settings stated in doc.go.
const (
	tickInterval    = 10 * time.Millisecond
	electionTick    = 10
	heartbeatTick   = 1
	maxSizePerMsg   = 1 << 20
	maxInflightMsgs = 256
	inboxCap        = 4096
	snapCount       = 100_000 // applied entries between snapshots
	catchUpEntries  = 5_000   // entries kept after compaction
	readIndexWait   = time.Second
)

// node is one etcd raft node: what survives a crash (its durable
// storage) and the current life, which a kill ends.
type node struct {
	id      uint64
	t       *Target
	storage *raft.MemoryStorage // holds exactly what the log file made durable
	log     *logFile
	inbox   chan *raftpb.Message

	isLeader atomic.Bool
	waits    *waitRegistry

	lifeMu sync.Mutex           // serialises kill and restart
	cur    atomic.Pointer[life] // nil while the node is down

	// Owned by the current life's Ready loop (handed to the next life
	// only after the last one's goroutines ended).
	confState *raftpb.ConfState
	snapIndex uint64
	appliedIx uint64
}

// life is one run of a node, from start or restart to kill: the
// raft.Node, the in-memory state machine and read state, and the three
// goroutines that drive them. A kill loses all of it, as a crashed
// process does; a restart rebuilds it from the durable storage.
type life struct {
	rn      raft.Node
	store   *kv.Store
	applied *appliedIndex
	reads   *readBatcher
	down    chan struct{} // closed by kill
	wg      sync.WaitGroup
}

// start begins a life with rn and store (restored up to n.appliedIx).
func (n *node) start(ctx context.Context, rn raft.Node, store *kv.Store) {
	l := &life{rn: rn, store: store, applied: newAppliedIndex(), reads: newReadBatcher(), down: make(chan struct{})}
	l.applied.set(n.appliedIx)
	n.cur.Store(l)
	l.wg.Add(3)
	go n.run(l)
	go n.receive(ctx, l)
	go n.readLoop(ctx, l)
}

func (n *node) raftConfig(logger raft.Logger) *raft.Config {
	return &raft.Config{
		ID:              n.id,
		ElectionTick:    n.t.electionTick,
		HeartbeatTick:   heartbeatTick,
		Storage:         n.storage,
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflightMsgs,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          logger,
	}
}

// run is the classic Ready loop: persist, send, apply, Advance.
func (n *node) run(l *life) {
	defer l.wg.Done()
	ticker := time.NewTicker(tickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			l.rn.Tick()
		case rd := <-l.rn.Ready():
			if err := n.handleReady(l, &rd); err != nil {
				n.t.fail(fmt.Errorf("etcd node %d: %w", n.id, err))
				return
			}
			l.rn.Advance()
		case <-l.down:
			return
		case <-n.t.stop:
			return
		}
	}
}

func (n *node) handleReady(l *life, rd *raft.Ready) error {
	if rd.SoftState != nil {
		n.observeSoftState(rd.SoftState)
	}
	synced, err := n.log.save(rd.HardState, rd.Entries, rd.Snapshot)
	if err != nil {
		return err
	}
	if synced {
		n.t.fsyncs.Add(1)
		n.t.fsyncEntries.Add(uint64(len(rd.Entries)))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("apply snapshot to storage: %w", err)
		}
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("append to storage: %w", err)
	}
	n.t.send(n, l.rn, rd.Messages)
	if err := n.applySnapshot(l, rd.Snapshot); err != nil {
		return err
	}
	if err := n.applyEntries(l, rd.CommittedEntries); err != nil {
		return err
	}
	for _, rs := range rd.ReadStates {
		l.reads.resolve(string(rs.RequestCtx), rs.Index)
	}
	return n.maybeSnapshot(l)
}

// observeSoftState tracks leadership; a node that stops leading fails
// its waiting proposals, whose entries may or may not survive.
func (n *node) observeSoftState(ss *raft.SoftState) {
	leading := ss.RaftState == raft.StateLeader
	was := n.isLeader.Swap(leading)
	if leading && !was {
		n.t.leaderChanges.Add(1)
	}
	if was && !leading {
		n.waits.answerAll(result{err: errLeadershipLost})
	}
}

func (n *node) applySnapshot(l *life, snap *raftpb.Snapshot) error {
	if raft.IsEmptySnap(snap) {
		return nil
	}
	if err := l.store.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	md := snap.GetMetadata()
	n.confState = md.GetConfState()
	n.snapIndex, n.appliedIx = md.GetIndex(), md.GetIndex()
	l.applied.set(n.appliedIx)
	return nil
}

func (n *node) applyEntries(l *life, ents []*raftpb.Entry) error {
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryNormal:
			if err := n.applyNormal(l.store, e.GetData()); err != nil {
				return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
			}
			n.confState = l.rn.ApplyConfChange(&cc)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
			}
			n.confState = l.rn.ApplyConfChange(&cc)
		}
		n.appliedIx = e.GetIndex()
	}
	if len(ents) > 0 {
		l.applied.set(n.appliedIx)
	}
	return nil
}

// applyNormal applies one proposal (request id + kv command). Empty
// entries are the no-ops new leaders append.
func (n *node) applyNormal(store *kv.Store, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if len(data) < 8 {
		return fmt.Errorf("proposal of %d bytes has no request id", len(data))
	}
	id := binary.BigEndian.Uint64(data)
	res := store.Apply(data[8:])
	n.waits.trigger(id, result{res: res})
	return nil
}

// maybeSnapshot compacts the in-memory log every snapCount entries.
func (n *node) maybeSnapshot(l *life) error {
	if n.appliedIx-n.snapIndex < snapCount {
		return nil
	}
	if _, err := n.storage.CreateSnapshot(n.appliedIx, n.confState, l.store.Snapshot()); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", n.appliedIx, err)
	}
	n.snapIndex = n.appliedIx
	n.t.snapshots.Add(1)
	if n.appliedIx <= catchUpEntries {
		return nil
	}
	if err := n.storage.Compact(n.appliedIx - catchUpEntries); err != nil && err != raft.ErrCompacted {
		return fmt.Errorf("compact at %d: %w", n.appliedIx-catchUpEntries, err)
	}
	return nil
}

// receive feeds inbound messages to raft.
func (n *node) receive(ctx context.Context, l *life) {
	defer l.wg.Done()
	for {
		select {
		case m := <-n.inbox:
			if err := l.rn.Step(ctx, m); err != nil {
				return // stopped or cancelled: killed or the target is closing
			}
		case <-l.down:
			return
		case <-n.t.stop:
			return
		}
	}
}

// readLoop issues one ReadIndex per batch of waiting readers.
func (n *node) readLoop(ctx context.Context, l *life) {
	defer l.wg.Done()
	var seq uint64
	for {
		select {
		case <-l.reads.wake:
		case <-l.down:
			if b := l.reads.take(); b != nil {
				b.err = errReadRetry // the readers try the next leader
				close(b.done)
			}
			return
		case <-n.t.stop:
			if b := l.reads.take(); b != nil {
				b.err = errClosed
				close(b.done)
			}
			return
		}
		b := l.reads.take()
		if b == nil {
			continue
		}
		seq++
		b.index, b.err = n.readIndex(ctx, l, seq)
		close(b.done)
	}
}

func (n *node) readIndex(ctx context.Context, l *life, seq uint64) (uint64, error) {
	rctx := binary.BigEndian.AppendUint64(nil, seq)
	ch := l.reads.expect(string(rctx))
	defer l.reads.forget(string(rctx))
	if err := l.rn.ReadIndex(ctx, rctx); err != nil {
		return 0, err
	}
	timer := time.NewTimer(readIndexWait)
	defer timer.Stop()
	select {
	case idx := <-ch:
		return idx, nil
	case <-timer.C:
		// Lost without notice (no leader, leader changed): readers retry.
		return 0, errReadRetry
	case <-l.down:
		return 0, errReadRetry
	case <-n.t.stop:
		return 0, errClosed
	}
}
