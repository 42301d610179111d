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
