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
