package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// faultyCluster is a 3-node cluster whose WALs write through errorfs;
// disks[id] is node id's disk, across restarts.
func faultyCluster(t *testing.T) (*Cluster, map[uint64]*errorfs.FS) {
	t.Helper()
	disks := map[uint64]*errorfs.FS{1: errorfs.New(), 2: errorfs.New(), 3: errorfs.New()}
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) {
			nc.WALOptions.FS = disks[nc.ID]
		}
	})
	return c, disks
}

// proposeTo writes key=val through node n; ok only if acknowledged.
func proposeTo(n *node.Node, key, val string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, kv.EncodeWrite([]byte(key), []byte(val)))
	if err != nil {
		return err
	}
	if r, err := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
		return fmt.Errorf("status %v %v", r.Status, err)
	}
	return nil
}

// TestDiskFaultStopsNode: for fsync EIO, write EIO and ENOSPC on the
// leader's disk, the leader stops itself (Err wraps ErrStorage and the
// errno), acknowledges nothing it could not make durable, the other two
// elect a new leader and keep serving; after a power cut of the failed
// disk and a restart on a healthy one, every acknowledged write is
// readable and the restarted node catches up.
func TestDiskFaultStopsNode(t *testing.T) {
	cases := []struct {
		name string
		rule errorfs.Rule
		is   error
	}{
		{"fsync-EIO", errorfs.Rule{Op: errorfs.OpSync, PathContains: "/log/", Err: errorfs.EIO}, syscall.EIO},
		{"write-EIO", errorfs.Rule{Op: errorfs.OpWrite, PathContains: "/log/", Err: errorfs.EIO}, syscall.EIO},
		{"ENOSPC", errorfs.Rule{Op: errorfs.OpWrite, Err: errorfs.ENOSPC}, syscall.ENOSPC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, disks := faultyCluster(t)
			acked := writeConcurrently(t, c, "before", 4, 10)
			l, err := c.WaitLeader(ctxT(t, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			bad := l.ID()
			disks[bad].Inject(tc.rule)
			// Writes through the failing leader: none may be acknowledged
			// unless it is durable on a quorum (the check after restart
			// proves it); the leader must stop itself.
			var during []string
			for i := 0; i < 20; i++ {
				k := fmt.Sprintf("during-%d", i)
				if err := proposeTo(l, k, "x"); err == nil {
					during = append(during, k)
				}
			}
			select {
			case <-l.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("leader with a failing disk did not stop")
			}
			if err := l.Err(); !errors.Is(err, node.ErrStorage) || !errors.Is(err, tc.is) {
				t.Fatalf("node error %v, want ErrStorage wrapping %v", err, tc.is)
			}
			for _, k := range during {
				acked[k] = "x"
			}
			// The survivors elect a leader and keep acknowledging.
			_ = c.Kill(bad)
			after := writeConcurrently(t, c, "after", 2, 10)
			for k, v := range after {
				acked[k] = v
			}
			if err := disks[bad].PowerCut(); err != nil {
				t.Fatal(err)
			}
			disks[bad].Clear()
			if err := c.Restart(bad); err != nil {
				t.Fatalf("restart on a healthy disk: %v", err)
			}
			checkReadable(t, c, acked)
			waitConverged(t, c)
		})
	}
}

// TestSingleNodeFsyncFailureAcksNothing: a one-node cluster has no
// other copy, so a failed fsync must fail the proposal waiting on it
// (never acknowledge it), and after a power cut and restart every
// acknowledged write is there.
func TestSingleNodeFsyncFailureAcksNothing(t *testing.T) {
	efs := errorfs.New()
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) { nc.WALOptions.FS = efs }
	})
	acked := writeConcurrently(t, c, "before", 2, 10)
	n := c.Node(1)
	efs.Inject(errorfs.Rule{Op: errorfs.OpSync, Err: errorfs.EIO})
	err := proposeTo(n, "lost", "x")
	if err == nil {
		t.Fatal("a write whose fsync failed was acknowledged")
	}
	<-n.Done()
	if !errors.Is(n.Err(), syscall.EIO) {
		t.Fatalf("node error %v", n.Err())
	}
	_ = c.Kill(1)
	if err := efs.PowerCut(); err != nil {
		t.Fatal(err)
	}
	efs.Clear()
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	checkReadable(t, c, acked)
}

// TestStatsShowASnapshotBeingSaved: Stats.SnapshotSaving is true from
// the capture until the snapshot is installed (here held at its file's
// fsync), and false again once Snapshots counts it.
func TestStatsShowASnapshotBeingSaved(t *testing.T) {
	efs := errorfs.New()
	hold := make(chan struct{})
	efs.Inject(errorfs.Rule{Op: errorfs.OpSync, PathContains: "snapshot.", Hold: hold})
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) { nc.WALOptions.FS = efs; nc.SnapshotEvery = 20 }
	})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the cluster's cleanup stops the node, which waits for the save
	n := c.Node(1)
	for i := 0; i < 30; i++ {
		if err := proposeTo(n, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	waitStats := func(what string, ok func(node.Stats) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(n.Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stats %+v", what, n.Stats())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitStats("a snapshot held at its fsync is not shown as being saved",
		func(s node.Stats) bool { return s.SnapshotSaving && s.Snapshots == 0 })
	release()
	waitStats("a saved snapshot is still shown as being saved",
		func(s node.Stats) bool { return !s.SnapshotSaving && s.Snapshots >= 1 })
}
