package node_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/wal"
)

// leadingLog records what its node told it through SetLeading (the
// WAL's fsync choice depends on it).
type leadingLog struct {
	wal.Log
	leading atomic.Bool
}

func (l *leadingLog) SetLeading(on bool) { l.leading.Store(on) }

// A node tells its log whether it leads: the leader's log hears true,
// every follower's false, and after a leader change the old leader's
// log hears false and the new one's true.
func TestTheLogKnowsWhetherItsNodeLeads(t *testing.T) {
	var mu sync.Mutex
	logs := map[uint64]*leadingLog{}
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) {
			l := &leadingLog{Log: wal.NewMemLog(wal.MemOptions{})}
			mu.Lock()
			logs[nc.ID] = l
			mu.Unlock()
			nc.Log = l
		}
	})
	onlyLeaderLeads := func(not uint64) func() bool {
		return func() bool {
			leader := c.Leader()
			if leader == nil || leader.ID() == not {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			for id, l := range logs {
				if l.leading.Load() != (id == leader.ID()) {
					return false
				}
			}
			return true
		}
	}
	mustWrite(t, c, "x", "1")
	waitFor(t, "only the leader's log to lead", 5*time.Second, onlyLeaderLeads(0))
	old := c.Leader().ID()

	c.Network().Isolate(old)
	waitFor(t, "a new leader in the majority", 5*time.Second, func() bool {
		l := c.Leader()
		return l != nil && l.ID() != old
	})
	c.Network().Heal() // the old leader learns of the new term and steps down
	mustWrite(t, c, "x", "2")
	waitFor(t, "only the new leader's log to lead", 5*time.Second, onlyLeaderLeads(old))
}
