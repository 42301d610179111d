package etcd

import (
	"context"
	"encoding/binary"
	"fmt"
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

// node is one etcd raft node, its storage, its state machine and the
// client-side state (proposal waiters, read batches) that lives beside it.
type node struct {
	id      uint64
	t       *Target
	rn      raft.Node
	storage *raft.MemoryStorage
	log     *logFile
	store   *kv.Store
	inbox   chan *raftpb.Message

	isLeader atomic.Bool
	waits    *waitRegistry
	applied  *appliedIndex
	reads    *readBatcher

	// Owned by the Ready loop.
	confState *raftpb.ConfState
	snapIndex uint64
	appliedIx uint64
}

func (n *node) raftConfig(logger raft.Logger) *raft.Config {
	return &raft.Config{
		ID:              n.id,
		ElectionTick:    electionTick,
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
func (n *node) run() {
	defer n.t.wg.Done()
	ticker := time.NewTicker(tickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.rn.Tick()
		case rd := <-n.rn.Ready():
			if err := n.handleReady(&rd); err != nil {
				n.t.fail(fmt.Errorf("etcd node %d: %w", n.id, err))
				return
			}
			n.rn.Advance()
		case <-n.t.stop:
			return
		}
	}
}

func (n *node) handleReady(rd *raft.Ready) error {
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
	n.t.send(n, rd.Messages)
	if err := n.applySnapshot(rd.Snapshot); err != nil {
		return err
	}
	if err := n.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	for _, rs := range rd.ReadStates {
		n.reads.resolve(string(rs.RequestCtx), rs.Index)
	}
	return n.maybeSnapshot()
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

func (n *node) applySnapshot(snap *raftpb.Snapshot) error {
	if raft.IsEmptySnap(snap) {
		return nil
	}
	if err := n.store.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	md := snap.GetMetadata()
	n.confState = md.GetConfState()
	n.snapIndex, n.appliedIx = md.GetIndex(), md.GetIndex()
	n.applied.set(n.appliedIx)
	return nil
}

func (n *node) applyEntries(ents []*raftpb.Entry) error {
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryNormal:
			if err := n.applyNormal(e.GetData()); err != nil {
				return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
			}
			n.confState = n.rn.ApplyConfChange(&cc)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
			}
			n.confState = n.rn.ApplyConfChange(&cc)
		}
		n.appliedIx = e.GetIndex()
	}
	if len(ents) > 0 {
		n.applied.set(n.appliedIx)
	}
	return nil
}

// applyNormal applies one proposal (request id + kv command). Empty
// entries are the no-ops new leaders append.
func (n *node) applyNormal(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if len(data) < 8 {
		return fmt.Errorf("proposal of %d bytes has no request id", len(data))
	}
	id := binary.BigEndian.Uint64(data)
	res := n.store.Apply(data[8:])
	n.waits.trigger(id, result{res: res})
	return nil
}

// maybeSnapshot compacts the in-memory log every snapCount entries.
func (n *node) maybeSnapshot() error {
	if n.appliedIx-n.snapIndex < snapCount {
		return nil
	}
	if _, err := n.storage.CreateSnapshot(n.appliedIx, n.confState, n.store.Snapshot()); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", n.appliedIx, err)
	}
	n.snapIndex = n.appliedIx
	if n.appliedIx <= catchUpEntries {
		return nil
	}
	if err := n.storage.Compact(n.appliedIx - catchUpEntries); err != nil && err != raft.ErrCompacted {
		return fmt.Errorf("compact at %d: %w", n.appliedIx-catchUpEntries, err)
	}
	return nil
}

// receive feeds inbound messages to raft.
func (n *node) receive(ctx context.Context) {
	defer n.t.wg.Done()
	for {
		select {
		case m := <-n.inbox:
			if err := n.rn.Step(ctx, m); err != nil {
				return // stopped or cancelled: the target is closing
			}
		case <-n.t.stop:
			return
		}
	}
}

// readLoop issues one ReadIndex per batch of waiting readers.
func (n *node) readLoop(ctx context.Context) {
	defer n.t.wg.Done()
	var seq uint64
	for {
		select {
		case <-n.reads.wake:
		case <-n.t.stop:
			if b := n.reads.take(); b != nil {
				b.err = errClosed
				close(b.done)
			}
			return
		}
		b := n.reads.take()
		if b == nil {
			continue
		}
		seq++
		b.index, b.err = n.readIndex(ctx, seq)
		close(b.done)
	}
}

func (n *node) readIndex(ctx context.Context, seq uint64) (uint64, error) {
	rctx := binary.BigEndian.AppendUint64(nil, seq)
	ch := n.reads.expect(string(rctx))
	defer n.reads.forget(string(rctx))
	if err := n.rn.ReadIndex(ctx, rctx); err != nil {
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
	case <-n.t.stop:
		return 0, errClosed
	}
}
