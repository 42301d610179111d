package peertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// failoverWrites is how many acknowledged writes must survive the
// leader's stop.
const failoverWrites = 20

// Failover checks that a new leader serves every write the old one
// acknowledged (Raft §5.4, leader completeness) and accepts new writes.
// leader returns the node that leads now (N is the backend's node
// handle); stop stops that node's raft so the others must elect another.
func Failover[N comparable](t *testing.T, tg bench.Target,
	leader func(context.Context) (N, error), stop func(N) error) {
	for i := 0; i < failoverWrites; i++ {
		Do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte(fmt.Sprint("a", i)), Value: []byte("x")}, kv.StatusOK)
	}
	old, err := leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(old); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < failoverWrites; i++ {
		if got := Do(t, tg, bench.Request{Op: kv.OpRead, Key: []byte(fmt.Sprint("a", i))}, kv.StatusOK); string(got.Value) != "x" {
			t.Errorf("a%d = %q after failover", i, got.Value)
		}
	}
	Do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte("after"), Value: []byte("y")}, kv.StatusOK)
	now, err := leader(context.Background())
	if err != nil || now == old {
		t.Fatalf("new leader %v (old %v): %v", now, old, err)
	}
	if got := tg.Stats().LeaderChanges; got < 2 {
		t.Errorf("LeaderChanges = %d, want >= 2", got)
	}
}

// RejectsBadConfig checks f refuses configurations every target must
// refuse (no nodes, too many nodes, no Dir, an unknown option) and the
// backend's own bad ones.
func RejectsBadConfig(t *testing.T, f bench.Factory, more ...bench.TargetConfig) {
	cfgs := append([]bench.TargetConfig{
		{Nodes: 0, Dir: t.TempDir()},
		{Nodes: 10, Dir: t.TempDir()},
		{Nodes: 3},
		{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"bogus": "1"}},
	}, more...)
	for _, cfg := range cfgs {
		if tg, err := f(context.Background(), cfg); err == nil {
			tg.Close()
			t.Errorf("factory accepted %+v", cfg)
		}
	}
}
