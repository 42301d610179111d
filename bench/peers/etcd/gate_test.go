package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peertest"
	"github.com/raftbench/raftbench/chaos/check"
)

// TestFollowerReadsAreCaught: the etcd target with reads served locally
// by a follower (deliberately unsafe) states local reads, and its history
// under YCSB A on a few hot keys is not linearizable: a follower learns a
// commit only on the leader's next message, so it answers reads with
// values older than writes already acknowledged. The same load with
// ReadIndex reads checks linearizable.
func TestFollowerReadsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two 3-node clusters for about 2 s each")
	}
	run := func(reads string) (bench.Contract, check.Result) {
		tc := config(true)
		tc.Dir, tc.Options = t.TempDir(), map[string]string{"reads": reads}
		tg := peertest.Start(t, peertest.Lookup(t, "etcd"), tc).(*Target)
		cfg := bench.DefaultRunConfig()
		p, _ := bench.LookupWorkload("a")
		p.Apply(&cfg)
		cfg.Clients, cfg.Keys, cfg.Warmup, cfg.Duration = 32, 64, 0, 1500*time.Millisecond
		cfg.History = &bench.HistoryConfig{Keys: 8}
		sum, err := bench.Run(context.Background(), cfg, tg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tg.Contract(), check.Check(sum.History.Ops, check.Options{Timeout: 20 * time.Second})
	}
	c, res := run(ReadsFollowerLocal)
	if c.Reads != bench.ReadsLocal {
		t.Errorf("follower reads state contract %+v", c)
	}
	if res.Linearizable != check.NotLinearizable {
		t.Errorf("follower-local reads checked %s (%d keys)", res.Linearizable, len(res.Keys))
	}
	c, res = run("readindex")
	if c.Reads != bench.ReadsReadIndex || !res.OK() {
		t.Errorf("ReadIndex reads: contract %+v, check %s (bad key %s)", c, res.Linearizable, res.BadKey)
	}
}
