package peertest

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// Partition checks a target's bench.FaultTarget partition: with its
// leader isolated another node leads in a higher term within 10 s and
// serves a write, and after Heal every acknowledged write reads back.
func Partition(t *testing.T, tg bench.FaultTarget) {
	Do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte("p0"), Value: []byte("x")}, kv.StatusOK)
	old, oldTerm := tg.Leader()
	if old == 0 {
		t.Fatal("no leader")
	}
	if err := tg.Isolate(old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if id, term := tg.Leader(); id != 0 && id != old && term > oldTerm {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader 10 s after isolating node %d", old)
		}
		time.Sleep(time.Millisecond)
	}
	// A write routed to the old leader may fail or be left unknown; the
	// same write again (it is idempotent) must succeed on the new one.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, err := tg.Do(ctx, bench.Request{Op: kv.OpWrite, Key: []byte("p1"), Value: []byte("y")})
		cancel()
		if err == nil && res.Status == kv.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded with node %d isolated: %v", old, err)
		}
	}
	if err := tg.Heal(); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"p0": "x", "p1": "y"} {
		if got := Do(t, tg, bench.Request{Op: kv.OpRead, Key: []byte(k)}, kv.StatusOK); string(got.Value) != v {
			t.Errorf("%s = %q after the partition healed, want %q", k, got.Value, v)
		}
	}
	if err := tg.Kill(old); err == nil {
		t.Log("kill supported")
		_ = tg.Restart(old)
	}
}
