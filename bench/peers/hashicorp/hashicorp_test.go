package hashicorp

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peertest"
)

// expect is what hashicorp's Stats show after the smoke rounds: no
// AppendEntries counts (the transports hide them), and every counted
// segment fsync carries entries.
var expect = peertest.Expect{CountsAppends: false, FsyncsPerEntryMax: 1}

func config(fsync bool, opts map[string]string) bench.TargetConfig {
	return bench.TargetConfig{Nodes: 3, Fsync: fsync, ValueBytes: 16, Options: opts}
}

func start(t testing.TB, name string, fsync bool, opts map[string]string) *Target {
	t.Helper()
	return peertest.Start(t, peertest.Lookup(t, name), config(fsync, opts)).(*Target)
}

func TestSmoke(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fsync bool
		opts  map[string]string
	}{
		{"hashicorp", true, nil},
		{"hashicorp-tuned", true, nil},
		{"hashicorp", false, map[string]string{"transport": "tcp"}},
	} {
		t.Run(fmt.Sprintf("%s/fsync=%v/%v", tc.name, tc.fsync, tc.opts), func(t *testing.T) {
			peertest.Smoke(t, peertest.Lookup(t, tc.name), config(tc.fsync, tc.opts), expect)
		})
	}
}

// TestModelFsync: raft-wal's segment fsyncs on the modelled disk, over
// both transports.
func TestModelFsync(t *testing.T) {
	for _, opts := range []map[string]string{nil, {"transport": "tcp"}} {
		t.Run(fmt.Sprint(opts), func(t *testing.T) {
			peertest.ModelFsync(t, peertest.Lookup(t, "hashicorp"), config(true, opts), expect)
		})
	}
}

// TestLeaderStopKeepsAcknowledgedWrites shuts the leader down and checks
// that the new leader serves every write the old one acknowledged.
func TestLeaderStopKeepsAcknowledgedWrites(t *testing.T) {
	tg := start(t, "hashicorp", true, nil)
	defer tg.Close()
	peertest.Failover(t, tg, func(ctx context.Context) (*node, error) {
		n, err := tg.waitLeader(ctx)
		if err == nil && n.cur.Load().r.State() != raft.Leader {
			err = fmt.Errorf("%s stopped leading", n.id)
		}
		return n, err
	}, func(old *node) error {
		id, _ := tg.Leader()
		if tg.nodes[id-1] != old {
			return fmt.Errorf("leader moved from %s", old.id)
		}
		return tg.Kill(id)
	})
}

func TestKillRestart(t *testing.T) {
	for _, name := range []string{"hashicorp", "hashicorp-tuned"} {
		t.Run(name, func(t *testing.T) {
			peertest.KillRestart(t, start(t, name, true, nil))
		})
	}
}

func TestBadConfig(t *testing.T) {
	peertest.RejectsBadConfig(t, peertest.Lookup(t, "hashicorp"),
		bench.TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"transport": "udp"}})
}

// BenchmarkWrite64 prints write throughput at 64 concurrent clients; a
// sanity figure for reports, never an assertion.
func BenchmarkWrite64(b *testing.B) {
	for _, name := range []string{"hashicorp", "hashicorp-tuned"} {
		b.Run(name, func(b *testing.B) {
			tg := start(b, name, true, nil)
			defer tg.Close()
			peertest.WriteParallel(b, tg, 64)
		})
	}
}

func TestPartitionLeader(t *testing.T) {
	peertest.Partition(t, start(t, "hashicorp", true, nil))
}

// TestReadsNeedQuorum checks the stated read contract (ReadIndex: barrier
// and VerifyLeader) by behaviour.
func TestReadsNeedQuorum(t *testing.T) {
	for _, name := range []string{"hashicorp", "hashicorp-tuned"} {
		t.Run(name, func(t *testing.T) {
			tg := start(t, name, true, nil)
			defer tg.Close()
			if err := peertest.ReadsNeedQuorum(tg); err != nil {
				t.Error(err)
			}
		})
	}
}
