package node_test

import (
	"fmt"
	"testing"

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
