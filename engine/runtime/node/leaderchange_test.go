package node_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Proposals waiting with abort = the node's own LeaderChanged() are
// answered by the node's loop at its next leader change (they no longer
// wait on the shared channel themselves): each returns the indefinite
// ErrLeaderChanged at the change, long before its context's deadline,
// and one whose abort channel was already closed when it registered
// returns at once.
func TestProposalsGiveUpAtTheLeaderChange(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustWrite(t, c, "x", "1")
	old := c.Leader()
	abort := old.LeaderChanged()
	c.Network().Isolate(old.ID())

	const waiting = 8
	errs := make(chan error, waiting)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := old.ProposeSessionUntil(ctx, abort, 99, uint64(i+1), kv.EncodeWrite([]byte("x"), []byte("minority")))
			errs <- err
		}()
	}
	waitFor(t, "a new leader in the majority", 5*time.Second, func() bool {
		l := c.Leader()
		return l != nil && l.ID() != old.ID()
	})
	c.Network().Heal() // the old leader learns of the new term and its leader
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, node.ErrLeaderChanged) || node.Definite(err) {
			t.Fatalf("a proposal across the leader change returned %v, want the indefinite ErrLeaderChanged", err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("proposals took %v to give up: the leader change did not answer them", took)
	}
	waitConverged(t, c)
	if v, _ := mustRead(t, c, "x"); v != "1" {
		t.Fatalf("x = %q: a write proposed to the isolated leader was applied", v)
	}

	// abort closed before the proposal registered: it gives up at once.
	select {
	case <-abort:
	default:
		t.Fatal("the old leader's LeaderChanged channel is still open after the change")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	if _, err := old.ProposeSessionUntil(ctx, abort, 99, 100, kv.EncodeWrite([]byte("y"), []byte("1"))); !errors.Is(err, node.ErrLeaderChanged) {
		t.Fatalf("proposal with an already closed abort: %v, want ErrLeaderChanged", err)
	}
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("proposal with an already closed abort took %v", took)
	}
	// (That write was forwarded to the new leader and may still apply:
	// giving up is indefinite.)
}
