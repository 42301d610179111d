package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// TestInprocSettleBlindOption: by default the inproc cluster answers
// writes at their batch's start (the KV store's writes are blind);
// settle-blind=false answers every write after its apply; anything but
// a boolean is refused with a message naming the option.
func TestInprocSettleBlindOption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"settle-blind": "maybe"}}); err == nil || !strings.Contains(err.Error(), "settle-blind") {
		t.Fatalf("settle-blind=maybe: %v, want an error naming the option", err)
	}
	for _, settle := range []string{"true", "false"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"settle-blind": settle}})
		if err != nil {
			t.Fatal(err)
		}
		it := tg.(*inprocTarget)
		for i := range 5 {
			if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
				t.Fatalf("settle-blind=%s: write: %v %v", settle, r.Status, err)
			}
		}
		settled := it.c.Leader().Stats().Settled
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
		if (settled > 0) != (settle == "true") {
			t.Fatalf("settle-blind=%s: the leader settled %d writes", settle, settled)
		}
	}
}
