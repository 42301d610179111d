package etcd

import (
	"fmt"
	"testing"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peertest"
)

// expect is what etcd's Stats show after the smoke rounds: it counts
// MsgApp messages, and a synced Ready may carry only a term or vote.
var expect = peertest.Expect{CountsAppends: true, FsyncsPerEntryMax: 3}

func config(fsync bool) bench.TargetConfig {
	return bench.TargetConfig{Nodes: 3, Fsync: fsync, ValueBytes: 16}
}

func start(t testing.TB, fsync bool) *Target {
	t.Helper()
	return peertest.Start(t, peertest.Lookup(t, "etcd"), config(fsync)).(*Target)
}

func TestSmoke(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		t.Run(fmt.Sprintf("fsync=%v", fsync), func(t *testing.T) {
			peertest.Smoke(t, peertest.Lookup(t, "etcd"), config(fsync), expect)
		})
	}
}

// TestModelFsync: etcd's log file on the modelled disk. The deliberately
// unsafe variant takes that option too (compare gives it to every system)
// and no other.
func TestModelFsync(t *testing.T) {
	peertest.ModelFsync(t, peertest.Lookup(t, "etcd"), config(true), expect)
	unsafe := peertest.Lookup(t, "etcd-follower-reads")
	cfg := config(true)
	cfg.Dir, cfg.Options = t.TempDir(), map[string]string{"reads": "readindex"}
	peertest.RejectsBadConfig(t, unsafe, cfg)
	cfg.Dir, cfg.Options = "", map[string]string{bench.ModelFsyncOption: "1ms"}
	tg := peertest.Start(t, unsafe, cfg)
	defer tg.Close()
	if c := bench.TargetContract(tg); c.Durability != bench.DurabilityModelled || c.Reads != bench.ReadsLocal {
		t.Errorf("etcd-follower-reads on the model: contract %+v, want modelled durability and local reads", c)
	}
}

// TestLeaderStopKeepsAcknowledgedWrites kills the leader and checks that
// the new leader serves every write the old one acknowledged.
func TestLeaderStopKeepsAcknowledgedWrites(t *testing.T) {
	tg := start(t, true)
	defer tg.Close()
	peertest.Failover(t, tg, tg.waitLeader, func(old *node) error { return tg.Kill(old.id) })
}

func TestKillRestart(t *testing.T) {
	peertest.KillRestart(t, start(t, true))
}

func TestBadConfig(t *testing.T) {
	peertest.RejectsBadConfig(t, peertest.Lookup(t, "etcd"),
		bench.TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"transport": "tcp"}})
}

// BenchmarkWrite64 prints write throughput at 64 concurrent clients; a
// sanity figure for reports, never an assertion.
func BenchmarkWrite64(b *testing.B) {
	tg := start(b, true)
	defer tg.Close()
	peertest.WriteParallel(b, tg, 64)
}

func TestPartitionLeader(t *testing.T) {
	peertest.Partition(t, start(t, true))
}

// TestReadsNeedQuorum checks the stated read contract (ReadIndex) by
// behaviour, and that the check catches the deliberately unsafe
// follower-local reads.
func TestReadsNeedQuorum(t *testing.T) {
	tg := start(t, true)
	defer tg.Close()
	if err := peertest.ReadsNeedQuorum(tg); err != nil {
		t.Error(err)
	}
	unsafe := peertest.Start(t, peertest.Lookup(t, "etcd-follower-reads"), config(true)).(*Target)
	defer unsafe.Close()
	if err := peertest.ReadsNeedQuorum(unsafe); err == nil {
		t.Error("follower-local reads passed the quorum check")
	}
}
