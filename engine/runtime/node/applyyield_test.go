package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// An apply goroutine with nobody to answer (a follower's) yields its P
// before each batch; the leader's, which answers its clients from the
// batch, never does; Config.NoFollowerApplyYield turns it off. Every
// write stays readable and the replicas converge either way.
func TestFollowerApplyYield(t *testing.T) {
	for _, off := range []bool{false, true} {
		c := startCluster(t, 3, func(cfg *Config) {
			cfg.NodeConfig = func(nc *node.Config) { nc.NoFollowerApplyYield = off }
		})
		for i := range 20 {
			mustWrite(t, c, fmt.Sprintf("k%d", i), fmt.Sprint(i))
		}
		waitConverged(t, c)
		for i := range 20 {
			if v, _ := mustRead(t, c, fmt.Sprintf("k%d", i)); v != fmt.Sprint(i) {
				t.Fatalf("off=%v: k%d = %q", off, i, v)
			}
		}
		l := c.Leader()
		if got := l.Stats().ApplyYields; got != 0 {
			t.Fatalf("off=%v: the leader yielded before %d batches it answered clients from", off, got)
		}
		for _, id := range c.IDs() {
			n := c.Node(id)
			if n == nil || n.ID() == l.ID() {
				continue
			}
			got := n.Stats().ApplyYields
			if off && got != 0 {
				t.Fatalf("follower %d yielded before %d batches with the yield off", id, got)
			}
			if !off && got == 0 {
				t.Fatalf("follower %d applied its batches without yielding", id)
			}
		}
		c.Stop()
	}
}

// An apply goroutine with nobody to answer (a follower's) waits, before a
// batch, for its log to end a linger; the leader's never does;
// Config.NoFollowerApplyAfterLinger turns it off. Every acknowledged
// write stays readable and the replicas converge either way.
func TestFollowerApplyAfterLinger(t *testing.T) {
	for _, off := range []bool{false, true} {
		c := startCluster(t, 3, func(cfg *Config) {
			cfg.NodeConfig = func(nc *node.Config) {
				nc.NoFollowerApplyAfterLinger = off
				// Lingers long enough that batches meet them.
				nc.WALOptions.MaxCommitDelay = 2 * time.Millisecond
			}
		})
		acked := writeConcurrently(t, c, "k", 16, 40)
		if len(acked) != 16*40 {
			t.Fatalf("off=%v: %d writes acknowledged, want %d", off, len(acked), 16*40)
		}
		waitConverged(t, c)
		checkReadable(t, c, acked)
		l := c.Leader()
		if got := l.Stats().ApplyLingerWaits; got != 0 {
			t.Fatalf("off=%v: the leader waited for its log's linger before %d batches it answered clients from", off, got)
		}
		var waits, lingers uint64
		for _, id := range c.IDs() {
			if n := c.Node(id); n != nil && n.ID() != l.ID() {
				waits += n.Stats().ApplyLingerWaits
				lingers += n.Stats().Lingers
			}
		}
		if off && waits != 0 {
			t.Fatalf("followers waited for a linger before %d batches with the wait off", waits)
		}
		if !off && waits == 0 {
			t.Fatalf("followers applied every batch without waiting for their logs' %d lingers", lingers)
		}
		c.Stop()
	}
}
