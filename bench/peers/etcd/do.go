package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peerutil"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Do implements bench.Target.
func (t *Target) Do(ctx context.Context, req bench.Request) (kv.Result, error) {
	return peerutil.Do(ctx, "etcd", req, t.read, t.write)
}

// write proposes a command on the leader and waits for it to be applied
// there. Only ErrProposalDropped (never appended) is retried.
func (t *Target) write(ctx context.Context, cmd kv.Command) ([]byte, error) {
	for attempt := 0; attempt < maxRetries; attempt++ {
		n, err := t.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		l := n.cur.Load()
		if l == nil {
			continue // killed since it was seen leading
		}
		id := t.seq.Add(1)
		data := bench.EncodeCommand(8, cmd)
		binary.BigEndian.PutUint64(data, id)
		ch := n.waits.register(id)
		if err := l.rn.Propose(ctx, data); err != nil {
			n.waits.cancel(id)
			// Dropped or stopped (killed): never appended, so retried.
			if errors.Is(err, raft.ErrProposalDropped) || errors.Is(err, raft.ErrStopped) {
				if err := peerutil.Sleep(ctx, t.stop, errClosed, time.Millisecond); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("etcd: propose: %w", err)
		}
		return t.awaitApply(ctx, n, id, ch)
	}
	return nil, fmt.Errorf("etcd: proposal dropped %d times", maxRetries)
}

func (t *Target) awaitApply(ctx context.Context, n *node, id uint64, ch <-chan result) ([]byte, error) {
	timer := time.NewTimer(applyWait)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		n.waits.cancel(id)
		return nil, fmt.Errorf("etcd: write outcome unknown: %w", ctx.Err())
	case <-timer.C:
		n.waits.cancel(id)
		return nil, fmt.Errorf("etcd: write not applied within %v; outcome unknown", applyWait)
	case <-t.stop:
		return nil, errClosed
	}
}

// read serves q after a ReadIndex round (shared with concurrent reads on
// the same node) and after the node applied up to the read index.
func (t *Target) read(ctx context.Context, q []byte) ([]byte, error) {
	if t.followerReads {
		return t.followerRead(q)
	}
	for attempt := 0; attempt < maxRetries; attempt++ {
		n, err := t.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		l := n.cur.Load()
		if l == nil {
			continue // killed since it was seen leading
		}
		b := l.reads.join()
		select {
		case <-b.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.stop:
			return nil, errClosed
		}
		if errors.Is(b.err, errReadRetry) || errors.Is(b.err, raft.ErrProposalDropped) || errors.Is(b.err, raft.ErrStopped) {
			continue
		}
		if b.err != nil {
			return nil, fmt.Errorf("etcd: read index: %w", b.err)
		}
		if err := l.applied.wait(ctx, t.stop, l.down, b.index); err != nil {
			if errors.Is(err, errReadRetry) {
				continue
			}
			return nil, err
		}
		return l.store.Query(q), nil
	}
	return nil, fmt.Errorf("etcd: read index lost %d times", maxRetries)
}

// waitLeader returns the node that currently leads, or the error that
// made a node fail.
func (t *Target) waitLeader(ctx context.Context) (*node, error) {
	return peerutil.PollLeader(ctx, t.stop, errClosed, "etcd", leaderWait, func() (*node, bool, error) {
		if err := t.failed(); err != nil {
			return nil, false, err
		}
		for _, n := range t.nodes {
			if n.isLeader.Load() {
				return n, true, nil
			}
		}
		return nil, false, nil
	})
}

// followerRead is the deliberately unsafe read of Options["reads"] =
// ReadsFollowerLocal: a follower (round robin) answers from its own
// state at once.
func (t *Target) followerRead(q []byte) ([]byte, error) {
	for i := 0; i < 2*len(t.nodes); i++ {
		n := t.nodes[t.nextFollower.Add(1)%uint64(len(t.nodes))]
		if l := n.cur.Load(); l != nil && (!n.isLeader.Load() || len(t.nodes) == 1 || i >= len(t.nodes)) {
			return l.store.Query(q), nil
		}
	}
	return nil, errors.New("etcd: no running node to read from")
}
