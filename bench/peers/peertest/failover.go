package peertest

import (
	"context"
	"fmt"
	"sync"
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
	writeUntilOK(t, tg, deadline, "p1", "y")
	if err := tg.Heal(); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"p0": "x", "p1": "y"} {
		if got := Do(t, tg, bench.Request{Op: kv.OpRead, Key: []byte(k)}, kv.StatusOK); string(got.Value) != v {
			t.Errorf("%s = %q after the partition healed, want %q", k, got.Value, v)
		}
	}
}

// KillRestart checks a target's bench.FaultTarget kill and restart: with
// its leader killed another node leads in a higher term and serves
// writes; the killed node restarts from its durable state, rejoins (it
// takes part in electing a leader while another node is cut off) and,
// once it leads, serves every write acknowledged before and after its
// crash from its rebuilt state machine.
func KillRestart(t *testing.T, tg bench.FaultTarget) {
	const keys = 20
	for i := 0; i < keys; i++ {
		Do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte(fmt.Sprint("k", i)), Value: []byte("before")}, kv.StatusOK)
	}
	old, oldTerm := tg.Leader()
	if old == 0 {
		t.Fatal("no leader")
	}
	// Load in flight across the kill: every operation must come back
	// (answered, failed or unknown), none may hang on the dead node.
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	for w := 0; w < 8; w++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				req := bench.Request{Op: kv.OpRead, Key: []byte(fmt.Sprint("k", i%keys))}
				if i%2 == 1 {
					req = bench.Request{Op: kv.OpWrite, Key: []byte(fmt.Sprint("load", w)), Value: []byte("v")}
				}
				tg.Do(ctx, req)
				cancel()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := tg.Kill(old); err != nil {
		t.Fatalf("kill %d: %v", old, err)
	}
	if err := tg.Kill(old); err == nil {
		t.Errorf("killing node %d twice succeeded", old)
	}
	deadline := time.Now().Add(20 * time.Second)
	waitLeader(t, tg, deadline, func(id, term uint64) bool { return id != old && term > oldTerm })
	writeUntilOK(t, tg, deadline, "k0", "after")
	close(stopLoad)
	loadDone := make(chan struct{})
	go func() { load.Wait(); close(loadDone) }()
	select {
	case <-loadDone:
	case <-time.After(15 * time.Second):
		t.Fatal("operations in flight at the kill never returned")
	}
	if err := tg.Restart(old); err != nil {
		t.Fatalf("restart %d: %v", old, err)
	}
	if err := tg.Restart(old); err == nil {
		t.Errorf("restarting running node %d succeeded", old)
	}
	// Move leadership by cutting the leader off until the restarted node
	// leads: every election now needs it (one of the two others is cut).
	for {
		id, term := tg.Leader()
		if id == old {
			break
		}
		if id != 0 {
			if err := tg.Isolate(id); err != nil {
				t.Fatal(err)
			}
			waitLeader(t, tg, deadline, func(nid, nterm uint64) bool { return nid != id && nterm > term })
			if err := tg.Heal(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted node %d never led", old)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < keys; i++ {
		want := "before"
		if i == 0 {
			want = "after"
		}
		if got := Do(t, tg, bench.Request{Op: kv.OpRead, Key: []byte(fmt.Sprint("k", i))}, kv.StatusOK); string(got.Value) != want {
			t.Errorf("k%d = %q on the restarted leader %d, want %q", i, got.Value, old, want)
		}
	}
}

// waitLeader polls tg.Leader until ok accepts it.
func waitLeader(t *testing.T, tg bench.FaultTarget, deadline time.Time, ok func(id, term uint64) bool) {
	t.Helper()
	for {
		if id, term := tg.Leader(); id != 0 && ok(id, term) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no acceptable leader before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}

// writeUntilOK repeats an idempotent write until it succeeds: a write
// routed to a node that just failed may fail or be left unknown.
func writeUntilOK(t *testing.T, tg bench.Target, deadline time.Time, key, value string) {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, err := tg.Do(ctx, bench.Request{Op: kv.OpWrite, Key: []byte(key), Value: []byte(value)})
		cancel()
		if err == nil && res.Status == kv.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("write %s never succeeded: %v", key, err)
		}
	}
}

// ReadsNeedQuorum waits readSettle after cutting the leader off, for
// messages already in flight to land, then gives reads readProbe: the
// two together stay well below every target's election timeout (100 ms
// or more), so no new leader can exist yet and an answer can only come
// from a node that served the read without hearing from a quorum.
const (
	readSettle = 30 * time.Millisecond
	readProbe  = 40 * time.Millisecond
)

// ReadsNeedQuorum checks the read contract "ReadIndex": a read is
// answered only after a quorum confirmed the leader's leadership. It
// isolates the leader and sends reads for readProbe; with ReadIndex they
// cannot be answered (no quorum hears the leader, and no other node leads
// yet), so an answer means the read skipped the quorum round (a local or
// lease read). Replies to messages sent before the cut may still arrive
// during readSettle; a system that counts such a reply (sent before the
// read began) as confirming the read passes only because of the settle
// time, which its contract must say. It returns what it saw; the
// partition is healed before it returns.
func ReadsNeedQuorum(tg bench.FaultTarget) error {
	ctx, cancel := context.WithTimeout(context.Background(), opWait)
	defer cancel()
	read := bench.Request{Op: kv.OpRead, Key: []byte("q0")}
	if _, err := tg.Do(ctx, bench.Request{Op: kv.OpWrite, Key: read.Key, Value: []byte("x")}); err != nil {
		return fmt.Errorf("write before the probe: %w", err)
	}
	if _, err := tg.Do(ctx, read); err != nil { // warms any per-term read state
		return fmt.Errorf("read before the probe: %w", err)
	}
	leader, _ := tg.Leader()
	if leader == 0 {
		return fmt.Errorf("no leader")
	}
	if err := tg.Isolate(leader); err != nil {
		return err
	}
	defer tg.Heal()
	time.Sleep(readSettle)
	probe, stop := context.WithTimeout(context.Background(), readProbe)
	defer stop()
	for probe.Err() == nil {
		if res, err := tg.Do(probe, read); err == nil {
			return fmt.Errorf("a read was answered (%q) %v after the leader %d was cut off: it did not wait for a quorum", res.Value, readProbe, leader)
		}
	}
	return nil
}
