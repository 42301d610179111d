package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// The leader settles its clients' blind writes at their batch's start. A
// follower skips the settling pass while no waiter is registered on it
// (which leaves its answers as they were: it has none to give), and runs
// it when one is: a write proposed through a follower (forwarded to the
// leader, waited on at the follower) is settled there and answered.
func TestFollowersSettleOnlyTheirOwnWaiters(t *testing.T) {
	c := startCluster(t, 3, nil)
	for i := range 20 {
		mustWrite(t, c, fmt.Sprintf("k%d", i), "v")
	}
	l := c.Leader()
	waitConverged(t, c)
	if got := l.Stats().Settled; got == 0 {
		t.Fatal("the leader settled none of its clients' writes")
	}
	var f *node.Node
	for _, id := range c.IDs() {
		if n := c.Node(id); n != nil && n.ID() != l.ID() {
			if got := n.Stats().Settled; got != 0 {
				t.Fatalf("follower %d settled %d writes with no waiter of its own", id, got)
			}
			f = n
		}
	}
	res, err := f.ProposeSession(ctxT(t, 5*time.Second), 77, 1, kv.EncodeWrite([]byte("through-follower"), []byte("1")))
	if r, _ := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
		t.Fatalf("write through follower %d: %v %v", f.ID(), r.Status, err)
	}
	if v, _ := mustRead(t, c, "through-follower"); v != "1" {
		t.Fatalf("through-follower = %q", v)
	}
	// The node adds a batch's settled count once the whole batch is
	// applied, which can be just after the answer it counts reached the
	// client (the race detector under load made that visible).
	waitFor(t, "the follower's settled count", 5*time.Second, func() bool { return f.Stats().Settled != 0 })
	if got := f.Stats().Settled; got != 1 {
		t.Fatalf("follower %d settled %d writes, want 1 (the one waited on there)", f.ID(), got)
	}
}
