package node_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

type Cluster = cluster.Cluster
type Config = cluster.Config

var StartInProc = cluster.StartInProc

func startCluster(t *testing.T, n int, mod func(*Config)) *Cluster {
	t.Helper()
	cfg := Config{Nodes: n, Dir: t.TempDir(), Fsync: true}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := StartInProc(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func mustWrite(t *testing.T, c *Cluster, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Propose(ctx, kv.EncodeWrite([]byte(key), []byte(val)))
	if err != nil {
		t.Fatalf("write %s=%s: %v", key, val, err)
	}
	if r, err := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
		t.Fatalf("write %s: result %v %v", key, r, err)
	}
}

func mustRead(t *testing.T, c *Cluster, key string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Read(ctx, kv.EncodeRead([]byte(key)))
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	r, err := kv.DecodeResult(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Value), r.Status == kv.StatusOK
}

func TestElectWriteRead(t *testing.T) {
	c := startCluster(t, 3, nil)
	for i := 0; i < 20; i++ {
		mustWrite(t, c, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	for i := 0; i < 20; i++ {
		if v, ok := mustRead(t, c, fmt.Sprintf("k%d", i)); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q, %v", i, v, ok)
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond (bounded); the cluster's progress is asynchronous.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitConverged waits until every running node applied the leader's
// commit index, then checks their state machines are identical.
func waitConverged(t *testing.T, c *Cluster) {
	t.Helper()
	l, err := c.WaitLeader(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	target := l.Status().Commit
	defer func() {
		if t.Failed() {
			for _, id := range c.IDs() {
				if n := c.Node(id); n != nil {
					t.Logf("node %d: %+v err=%v", id, n.Status(), n.Err())
				}
			}
		}
	}()
	waitFor(t, "all nodes to apply the commit index", 10*time.Second, func() bool {
		for _, id := range c.IDs() {
			if n := c.Node(id); n != nil && n.Applied() < target {
				return false
			}
		}
		return true
	})
	var ref []byte
	for _, id := range c.IDs() {
		if c.Node(id) == nil {
			continue
		}
		snap := c.StateMachine(id).Snapshot()
		if ref == nil {
			ref = snap
		} else if string(ref) != string(snap) {
			t.Fatalf("node %d's state machine differs from the others'", id)
		}
	}
}

// writeConcurrently runs writers x perWriter writes; returns acked keys.
func writeConcurrently(t *testing.T, c *Cluster, prefix string, writers, perWriter int) map[string]string {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				k, v := fmt.Sprintf("%s-%d-%d", prefix, w, i), fmt.Sprintf("v%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := c.Propose(ctx, kv.EncodeWrite([]byte(k), []byte(v)))
				cancel()
				if err != nil {
					t.Errorf("write %s: %v", k, err)
					return
				}
				if r, _ := kv.DecodeResult(res); r.Status != kv.StatusOK {
					t.Errorf("write %s: status %v", k, r.Status)
					return
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return acked
}

func checkReadable(t *testing.T, c *Cluster, acked map[string]string) {
	t.Helper()
	for k, v := range acked {
		if got, ok := mustRead(t, c, k); !ok || got != v {
			t.Fatalf("acknowledged write %s=%s reads back %q (found %v)", k, v, got, ok)
		}
	}
}

func TestFiveNodesConcurrentProposals(t *testing.T) {
	c := startCluster(t, 5, nil)
	acked := writeConcurrently(t, c, "k", 16, 25)
	if len(acked) != 16*25 {
		t.Fatalf("%d writes acknowledged, want %d", len(acked), 16*25)
	}
	checkReadable(t, c, acked)
	waitConverged(t, c)
	if s := c.Stats(); s.AppendMsgs == 0 || s.Fsyncs == 0 {
		t.Fatalf("stats not counted: %+v", s)
	}
}

func TestKillLeaderReelectAndRestart(t *testing.T) {
	c := startCluster(t, 3, nil)
	acked := writeConcurrently(t, c, "before", 4, 20)
	old := c.Leader().ID()
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	l, err := c.WaitLeader(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if l.ID() == old {
		t.Fatalf("killed node %d still leads", old)
	}
	for k, v := range writeConcurrently(t, c, "after", 4, 20) {
		acked[k] = v
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	checkReadable(t, c, acked)
	waitConverged(t, c)
	// The restarted node replayed its log and caught up: it holds
	// every acknowledged write in its own state machine.
	sm := c.StateMachine(old)
	for k, v := range acked {
		r, _ := kv.DecodeResult(sm.Query(kv.EncodeRead([]byte(k))))
		if string(r.Value) != v {
			t.Fatalf("restarted node %d: %s = %q, want %q", old, k, r.Value, v)
		}
	}
}

func TestRestartAcrossSnapshot(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) { nc.SnapshotEvery = 40 }
	})
	acked := writeConcurrently(t, c, "a", 2, 20)
	follower := c.Leader().ID()%3 + 1
	if err := c.Kill(follower); err != nil {
		t.Fatal(err)
	}
	// Enough writes that the leader compacts past what the follower has,
	// so it must be sent a snapshot.
	for k, v := range writeConcurrently(t, c, "b", 4, 40) {
		acked[k] = v
	}
	waitFor(t, "leader to snapshot", 5*time.Second, func() bool { return c.Leader().Stats().Snapshots > 0 })
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c)
	// Restart every node from its directory (snapshot + log suffix) and
	// check nothing acknowledged was lost.
	for _, id := range c.IDs() {
		if err := c.Kill(id); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(id); err != nil {
			t.Fatal(err)
		}
	}
	checkReadable(t, c, acked)
	waitConverged(t, c)
	if s := c.Stats(); s.Snapshots < 2 {
		t.Fatalf("expected snapshots on several nodes, got %d", s.Snapshots)
	}
}

func TestMinorityPartitionCannotCommit(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustWrite(t, c, "x", "1")
	old := c.Leader()
	c.Network().Isolate(old.ID())
	// A write is answered once committed, which may be before the node's
	// applied index counts it (blind writes are answered ahead of their
	// apply), and acknowledgements already delivered may still advance
	// the commit index: let the isolated node settle before taking the
	// baseline, so only the minority write could move it.
	waitFor(t, "the isolated node to apply what it committed", 5*time.Second, func() bool {
		return old.Applied() >= old.Status().Commit
	})
	before, commitBefore := old.Applied(), old.Status().Commit
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := old.Propose(ctx, kv.EncodeWrite([]byte("x"), []byte("minority")))
	cancel()
	if err == nil {
		t.Fatal("an isolated leader committed a write")
	}
	if commit := old.Status().Commit; commit != commitBefore {
		t.Fatalf("isolated node advanced its commit index %d -> %d", commitBefore, commit)
	}
	if old.Applied() != before {
		t.Fatalf("isolated node applied entries %d -> %d", before, old.Applied())
	}
	// The majority elects a new leader and keeps committing.
	waitFor(t, "a new leader in the majority", 5*time.Second, func() bool {
		l := c.Leader()
		return l != nil && l.ID() != old.ID()
	})
	mustWrite(t, c, "x", "2")
	c.Network().Heal()
	waitConverged(t, c)
	if v, _ := mustRead(t, c, "x"); v != "2" {
		t.Fatalf("x = %q after heal, want 2 (the minority write must never apply)", v)
	}
}

// Reads started after a write was acknowledged must see it, on every
// node (followers get their read index from the leader).
func TestReadIndexSeesAcknowledgedWrites(t *testing.T) {
	c := startCluster(t, 3, nil)
	for i := 1; i <= 30; i++ {
		v := strconv.Itoa(i)
		mustWrite(t, c, "counter", v)
		for _, id := range c.IDs() {
			res, err := c.Node(id).Read(ctxT(t, 5*time.Second), kv.EncodeRead([]byte("counter")))
			if err != nil {
				t.Fatalf("read on node %d: %v", id, err)
			}
			if r, _ := kv.DecodeResult(res); string(r.Value) != v {
				t.Fatalf("node %d read %q after write %s was acknowledged", id, r.Value, v)
			}
		}
	}
}

func TestDuplicateSessionAppliesOnce(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustWrite(t, c, "k", "a")
	cas := kv.EncodeCas([]byte("k"), []byte("a"), []byte("b"), false)
	// The same (client, seq) through the leader and a follower
	// (forwarded as MsgProp): applied once, both answered with the
	// first result (ok, not "precondition failed").
	l := c.Leader()
	f := c.Node(l.ID()%3 + 1)
	for i, n := range []*node.Node{l, f, l} {
		// Every replica applies an attempt before the next starts: else
		// the follower could answer attempt 1's result from its own
		// (late) apply of attempt 1's entry while the copy it forwarded
		// is still on its way, and the count below would race with it.
		waitConverged(t, c)
		res, err := n.ProposeSession(ctxT(t, 5*time.Second), 42, 7, cas)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if r, _ := kv.DecodeResult(res); r.Status != kv.StatusOK {
			t.Fatalf("attempt %d answered %v, want the first result (ok)", i, r.Status)
		}
	}
	if v, _ := mustRead(t, c, "k"); v != "b" {
		t.Fatalf("k = %q", v)
	}
	waitConverged(t, c)
	if c.Stats().Duplicates < 2*3 { // two duplicates, seen by three replicas
		t.Fatalf("duplicates counted %d, want >= 6", c.Stats().Duplicates)
	}
}

func TestBusyWhenQueuesFull(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) { nc.MaxPendingReads = 1; nc.MaxPendingBytes = 64 }
	})
	l := c.Leader()
	_, err := l.Propose(ctxT(t, time.Second), make([]byte, 100))
	if !errors.Is(err, node.ErrBusy) || !node.Definite(err) {
		t.Fatalf("oversized proposal: %v, want definite ErrBusy", err)
	}
	// A follower whose link to the leader is cut (it still hears the
	// leader, so it keeps following) cannot confirm its read: the one
	// read slot stays taken and the next read is refused at once.
	f := c.Node(l.ID()%3 + 1)
	c.Network().BlockLink(f.ID(), l.ID())
	waitFor(t, "busy read", 2*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := f.Read(ctx, kv.EncodeRead([]byte("k")))
		return errors.Is(err, node.ErrBusy) && node.Definite(err)
	})
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	c := startCluster(t, 3, nil)
	writeConcurrently(t, c, "g", 4, 10)
	if err := c.Kill(c.Leader().ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to exit", 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

// Voters take their snapshots at different indexes (staggered over
// SnapshotEvery), so they never all stall on one at the same time.
func TestSnapshotsAreStaggered(t *testing.T) {
	const every = 90
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.NodeConfig = func(nc *node.Config) { nc.SnapshotEvery = every }
	})
	compacted := func() bool {
		for _, id := range c.IDs() {
			if c.Node(id).Status().FirstIndex <= 1 {
				return false
			}
		}
		return true
	}
	for i := 0; i < 3*every && !compacted(); i++ {
		mustWrite(t, c, "k"+strconv.Itoa(i), "v")
	}
	waitFor(t, "every node to compact its log", 5*time.Second, compacted)
	seen := map[uint64]uint64{}
	for _, id := range c.IDs() {
		first := c.Node(id).Status().FirstIndex
		if other, dup := seen[first]; dup {
			t.Fatalf("nodes %d and %d both snapshotted at index %d: not staggered", other, id, first-1)
		}
		seen[first] = id
	}
}
