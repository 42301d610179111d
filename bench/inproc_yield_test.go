package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// TestInprocYieldToClientsOption: yield-to-clients takes a boolean
// (anything else is refused with a message naming the option), and the
// cluster serves writes with the leader's yield on and off.
func TestInprocYieldToClientsOption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"yield-to-clients": "sometimes"}}); err == nil || !strings.Contains(err.Error(), "yield-to-clients") {
		t.Fatalf("yield-to-clients=sometimes: %v, want an error naming the option", err)
	}
	for _, yield := range []string{"true", "false"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"yield-to-clients": yield}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
				t.Fatalf("yield-to-clients=%s: write: %v %v", yield, r.Status, err)
			}
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInprocFollowerApplyYieldOption: follower-apply-yield takes a boolean
// and reaches the nodes: with it on (the default) the followers' apply
// goroutines yield before their batches, with it off none does.
func TestInprocFollowerApplyYieldOption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"follower-apply-yield": "often"}}); err == nil || !strings.Contains(err.Error(), "follower-apply-yield") {
		t.Fatalf("follower-apply-yield=often: %v, want an error naming the option", err)
	}
	for _, yield := range []string{"true", "false"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"follower-apply-yield": yield}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
				t.Fatalf("follower-apply-yield=%s: write: %v %v", yield, r.Status, err)
			}
		}
		c := tg.(*inprocTarget).c
		var yields uint64
		deadline := time.Now().Add(5 * time.Second)
		for {
			yields = 0
			for _, id := range c.IDs() {
				if n := c.Node(id); n != nil {
					yields += n.Stats().ApplyYields
				}
			}
			// The followers apply the last writes a little after the
			// leader answered them: wait for a yield when one is due.
			if yields > 0 || yield == "false" || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if (yields > 0) != (yield == "true") {
			t.Fatalf("follower-apply-yield=%s: %d batches applied after a yield", yield, yields)
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInprocLazyCommitOption: lazy-commit takes a boolean and reaches the
// nodes. One write at a time, the leader sends each follower one MsgApp
// per write with it on (the commit index rides on the next one) and two
// with it off (the entry, then its commit in a message of its own).
func TestInprocLazyCommitOption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"lazy-commit": "mostly"}}); err == nil || !strings.Contains(err.Error(), "lazy-commit") {
		t.Fatalf("lazy-commit=mostly: %v, want an error naming the option", err)
	}
	const writes = 40
	for _, lazy := range []string{"true", "false"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"lazy-commit": lazy}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte("first"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // heartbeats settle the first write's commit
		before := tg.(*inprocTarget).c.Stats()
		for i := range writes {
			if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
				t.Fatalf("lazy-commit=%s: write: %v %v", lazy, r.Status, err)
			}
		}
		after := tg.(*inprocTarget).c.Stats()
		msgs, ents := after.AppendMsgs-before.AppendMsgs, after.AppendEntries-before.AppendEntries
		// 2 followers: lazy 2 MsgApps per write, eager 3-4 (a follower
		// whose ack completed the commit is told it in a message of its own;
		// the other too unless the next write came first).
		perWrite := float64(msgs) / writes
		if ents < 2*writes || (lazy == "true") != (perWrite < 2.5) {
			t.Fatalf("lazy-commit=%s: %d MsgApps (%.1f per write) carrying %d entries for %d writes", lazy, msgs, perWrite, ents, writes)
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
