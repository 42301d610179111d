package node_test

import (
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// TestResidentLogFreshSnapshotAndReplay: with snapshots spaced far apart
// and a small resident log, the nodes drop applied entries from memory;
// a follower that comes back behind the dropped entries is caught up by
// a fresh snapshot the leader takes for it (the stored one is older than
// what the leader still holds); and a restart replays the committed log
// into the state machine rather than into the core's memory, losing
// nothing acknowledged.
func TestResidentLogFreshSnapshotAndReplay(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) {
			// One early snapshot (for its size), then none by the policy.
			nc.SnapshotEvery, nc.SnapshotLogRatio = 20, 1e9
			nc.ResidentLogRatio, nc.KeepAppliedEntries = 0.2, 5
		}
	})
	acked := writeConcurrently(t, c, "a", 2, 20)
	l, err := c.WaitLeader(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader's first snapshot", 5*time.Second, func() bool { return l.Stats().Snapshots > 0 })
	follower := l.ID()%3 + 1
	if err := c.Kill(follower); err != nil {
		t.Fatal(err)
	}
	for k, v := range writeConcurrently(t, c, "b", 4, 40) {
		acked[k] = v
	}
	if l.Stats().LogDrops == 0 {
		t.Fatalf("the leader dropped no applied entries: %+v", l.Stats())
	}
	snapsBefore, first := l.Stats().Snapshots, l.Status().FirstIndex
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c)
	if got := l.Stats().Snapshots; got <= snapsBefore {
		t.Fatalf("the leader took no fresh snapshot for the follower behind its log's start %d (snapshots %d)", first, got)
	}

	// The hard state's commit index is saved at most every 100 ticks when
	// it moves alone (driver.DefaultCommitSaveTicks): let it catch up, so
	// the restarts know nearly everything is committed.
	time.Sleep(1500 * time.Millisecond)
	for _, id := range c.IDs() {
		if err := c.Kill(id); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(id); err != nil {
			t.Fatal(err)
		}
		// Replayed into the state machine, not held by the core: its
		// log starts past almost everything written.
		if st := c.Node(id).Status(); st.FirstIndex < 150 {
			t.Fatalf("node %d restarted with its log from %d in memory: %+v", id, st.FirstIndex, st)
		}
	}
	checkReadable(t, c, acked)
	waitConverged(t, c)
}
