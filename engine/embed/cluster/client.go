package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Propose applies cmd through the current leader and returns the state
// machine's result. Each call is one client session request (thesis
// §6.3): when the node it went to loses leadership or stops, it is
// retried on the new leader with the same (client id, seq), so it applies exactly once.
// node.ErrBusy is returned at once (backpressure). A returned error is
// definite only if node.Definite says so.
func (c *Cluster) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	return c.propose(ctx, cmd, nil)
}

// ProposeFramed is Propose for a command placed after
// node.ProposalHeaderLen bytes of room in framed, which the cluster then
// owns (see node.ProposeFramedUntil): the first attempt proposes framed
// itself, with no copy of the command; a retry copies it. The caller must
// not change or reuse framed after the call.
func (c *Cluster) ProposeFramed(ctx context.Context, framed []byte) ([]byte, error) {
	if len(framed) < node.ProposalHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes framed, less than the %d-byte header room", node.ErrBadRequest, len(framed), node.ProposalHeaderLen)
	}
	return c.propose(ctx, framed[node.ProposalHeaderLen:], framed)
}

// propose runs one session request for cmd; framed, if not nil, is cmd
// with the header room before it, given to the first attempt.
func (c *Cluster) propose(ctx context.Context, cmd, framed []byte) ([]byte, error) {
	s := c.slots.Get().(*session)
	seq := s.next
	s.next++
	res, err := c.retry(ctx, func(ctx context.Context, n *node.Node) ([]byte, error) {
		// Give up on this node when its leadership changes (no per-attempt
		// timer: that cost ~10% of the CPU under load); the retry
		// re-sends the same session to the new leader.
		abort := n.LeaderChanged()
		if !n.IsLeader() {
			return nil, node.ErrLeaderChanged
		}
		if framed != nil {
			// Only once: that node's log may keep framed.
			f := framed
			framed = nil
			return n.ProposeFramedUntil(ctx, abort, s.id, seq, f)
		}
		return n.ProposeSessionUntil(ctx, abort, s.id, seq, cmd)
	})
	if err == nil || node.Definite(err) {
		// The session has no request in flight any more; an indefinite
		// outcome could still apply later, so that session is retired.
		c.slots.Put(s)
	}
	return res, err
}

// Read runs a linearizable read (ReadIndex) on the current leader,
// retrying elsewhere on definite failures.
func (c *Cluster) Read(ctx context.Context, q []byte) ([]byte, error) {
	return c.retry(ctx, func(ctx context.Context, n *node.Node) ([]byte, error) {
		return n.Read(ctx, q)
	})
}

// retry runs op on the leader until it succeeds, fails with node.ErrBusy, a
// session error, or ctx expires. Between attempts it waits for a leader.
func (c *Cluster) retry(ctx context.Context, op func(context.Context, *node.Node) ([]byte, error)) ([]byte, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		n := c.Leader()
		if n == nil {
			if attempt > 0 && lastErr != nil && ctx.Err() != nil {
				return nil, lastErr
			}
			var err error
			if n, err = c.WaitLeader(ctx); err != nil {
				if lastErr != nil {
					return nil, lastErr
				}
				return nil, err
			}
		}
		res, err := op(ctx, n)
		if err == nil {
			return res, nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
		// Let the cluster settle a little before the next attempt.
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(min(attempt+1, 20)) * time.Millisecond):
		}
	}
}

// retryable: worth another attempt with the same session.
func retryable(err error) bool {
	var nl *engine.NotLeaderError
	switch {
	case errors.Is(err, node.ErrBusy), errors.Is(err, node.ErrSessionExpired),
		errors.Is(err, node.ErrBadRequest), errors.Is(err, node.ErrProposalBackpressure):
		return false
	case errors.As(err, &nl), errors.Is(err, node.ErrStopped), errors.Is(err, node.ErrTimeout),
		errors.Is(err, node.ErrLeaderChanged), errors.Is(err, node.ErrProposalDropped),
		errors.Is(err, engine.ErrTransferInProgress):
		return true
	}
	return false
}
