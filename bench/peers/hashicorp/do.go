package hashicorp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peerutil"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// errClosed is returned by operations on a closed target.
var errClosed = errors.New("hashicorp: target closed")

// Do implements bench.Target.
func (t *Target) Do(ctx context.Context, req bench.Request) (kv.Result, error) {
	return peerutil.Do(ctx, "hashicorp", req, t.read, t.write)
}

// write replicates command c through the leader and returns its kv result.
// Only failures that prove the command was never appended are retried.
func (t *Target) write(ctx context.Context, c kv.Command) ([]byte, error) {
	cmd := bench.EncodeCommand(0, c)
	for attempt := 0; attempt < maxRetries; attempt++ {
		n, err := t.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		l := n.cur.Load()
		f := l.r.Apply(cmd, 0)
		err = l.await(f)
		if err == nil {
			b, ok := f.Response().([]byte)
			if !ok {
				return nil, fmt.Errorf("hashicorp: FSM response %T, want []byte", f.Response())
			}
			return b, nil
		}
		if !notAppended(err) {
			return nil, fmt.Errorf("hashicorp: write outcome unknown: %w", err)
		}
		if err := t.backoff(ctx, n); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("hashicorp: write not accepted after %d leader changes", maxRetries)
}

// notAppended reports errors raft returns only for commands it never put
// in the log, so retrying them cannot apply a command twice.
func notAppended(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrEnqueueTimeout)
}

// read answers q on the leader once leadership is confirmed (see doc.go
// for why this is equivalent to ReadIndex).
func (t *Target) read(ctx context.Context, q []byte) ([]byte, error) {
	for attempt := 0; attempt < maxRetries; attempt++ {
		n, err := t.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		if res, ok, err := t.readOn(n, q); ok || err != nil {
			return res, err
		}
		if err := t.backoff(ctx, n); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("hashicorp: read not served after %d leader changes", maxRetries)
}

// readOn tries one read on n; ok false means "retry, leadership moved".
func (t *Target) readOn(n *node, q []byte) (res []byte, ok bool, err error) {
	l := n.cur.Load()
	if err := n.ensureBarrier(l); err != nil {
		return nil, false, retryableRead(err)
	}
	term := n.readyTerm.Load()
	if err := l.await(l.r.VerifyLeader()); err != nil {
		return nil, false, retryableRead(err)
	}
	// Terms only grow and the verification began after readyTerm was
	// loaded, so an unchanged term means it confirmed the barrier's term.
	if l.r.CurrentTerm() != term {
		return nil, false, nil
	}
	return l.store.Query(q), true, nil
}

// retryableRead maps leadership errors to nil (retry) and keeps others.
func retryableRead(err error) error {
	if notAppended(err) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, errKilled) {
		return nil
	}
	return fmt.Errorf("hashicorp: read: %w", err)
}

// ensureBarrier makes sure this node, as leader of its current term, has
// committed a barrier in that term, so its FSM holds every entry of
// earlier terms (Raft thesis §6.4, step 1).
// A restarted node leads only in a later term, so readyTerm from an
// earlier life never matches.
func (n *node) ensureBarrier(l *life) error {
	term := l.r.CurrentTerm()
	if n.readyTerm.Load() == term {
		return nil
	}
	n.barrierMu.Lock()
	defer n.barrierMu.Unlock()
	if n.readyTerm.Load() == term {
		return nil
	}
	if err := l.await(l.r.Barrier(barrierTimeout)); err != nil {
		return err
	}
	// The barrier was appended in term or later; if later, readyTerm no
	// longer matches CurrentTerm and the next read barriers again.
	n.readyTerm.Store(term)
	return nil
}

// waitLeader returns a node that currently believes it is leader,
// trying the last one seen first.
func (t *Target) waitLeader(ctx context.Context) (*node, error) {
	return peerutil.PollLeader(ctx, t.stop, errClosed, "hashicorp", leaderWait, func() (*node, bool, error) {
		if n := t.leader.Load(); n != nil && n.cur.Load().r.State() == raft.Leader {
			return n, true, nil
		}
		for _, n := range t.nodes {
			if n.cur.Load().r.State() == raft.Leader {
				t.leader.Store(n)
				return n, true, nil
			}
		}
		return nil, false, nil
	})
}

// backoff forgets n as the leader hint and pauses briefly, so a node
// that still reports Leader while stepping down is not hammered.
func (t *Target) backoff(ctx context.Context, n *node) error {
	t.leader.CompareAndSwap(n, nil)
	return peerutil.Sleep(ctx, t.stop, errClosed, time.Millisecond)
}
