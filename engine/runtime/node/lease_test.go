package node_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// TestLeaseReads: with lease reads on, reads on every node see every
// acknowledged write, and a leader cut off from the others stops
// answering reads once its lease has run out, so it never returns a
// value older than a write the new majority acknowledged.
func TestLeaseReads(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.Engine = engine.Config{LeaseReads: true} })
	for i := 1; i <= 10; i++ {
		v := strconv.Itoa(i)
		mustWrite(t, c, "x", v)
		for _, id := range c.IDs() {
			res, err := c.Node(id).Read(ctxT(t, 5*time.Second), kv.EncodeRead([]byte("x")))
			if err != nil {
				t.Fatalf("read on node %d: %v", id, err)
			}
			if r, _ := kv.DecodeResult(res); string(r.Value) != v {
				t.Fatalf("node %d read %q after write %s was acknowledged", id, r.Value, v)
			}
		}
	}
	old := c.Leader()
	c.Network().Isolate(old.ID())
	waitFor(t, "a new leader in the majority", 5*time.Second, func() bool {
		l := c.Leader()
		return l != nil && l.ID() != old.ID()
	})
	mustWrite(t, c, "x", "new")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	res, err := old.Read(ctx, kv.EncodeRead([]byte("x")))
	cancel()
	if err == nil {
		r, _ := kv.DecodeResult(res)
		t.Fatalf("the cut-off old leader answered a read (%q) after the majority moved on", r.Value)
	}
	c.Network().Heal()
	waitConverged(t, c)
	if v, _ := mustRead(t, c, "x"); v != "new" {
		t.Fatalf("x = %q after heal, want new", v)
	}
}
