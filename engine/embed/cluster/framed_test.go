package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

func framedWrite(k, v string) []byte {
	c := kv.Command{Op: kv.OpWrite, Key: []byte(k), Value: []byte(v)}
	return kv.AppendCommand(make([]byte, node.ProposalHeaderLen, node.ProposalHeaderLen+kv.EncodedLen(c)), c)
}

// Writes proposed framed (the entry allocated once, by the caller) apply
// exactly like Propose's, also when the leader is killed under them and
// their retries go to the next leader (which copy the command: the old
// leader's log may still hold the framed buffer).
func TestProposeFramedAcrossLeaderChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartInProc(ctx, Config{Nodes: 3, Dir: t.TempDir(), Fsync: false})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	if _, err := c.ProposeFramed(ctx, make([]byte, node.ProposalHeaderLen-1)); !errors.Is(err, node.ErrBadRequest) {
		t.Fatalf("framed shorter than the header room: %v, want ErrBadRequest", err)
	}
	if _, err := c.ProposeFramed(ctx, make([]byte, node.ProposalHeaderLen)); !errors.Is(err, node.ErrBadRequest) {
		t.Fatalf("framed empty command: %v, want ErrBadRequest", err)
	}

	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	acked := make([][]bool, writers)
	for w := range writers {
		acked[w] = make([]bool, perWriter)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				res, err := c.ProposeFramed(ctx, framedWrite(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)))
				if err != nil {
					continue // indefinite or refused during the change: not acknowledged
				}
				if r, err := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
					t.Errorf("write w%d-%d: %v %v", w, i, r, err)
					return
				}
				acked[w][i] = true
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Kill(c.Leader().ID()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	n := 0
	for w := range writers {
		for i := range perWriter {
			if !acked[w][i] {
				continue
			}
			n++
			res, err := c.Read(ctx, kv.EncodeRead([]byte(fmt.Sprintf("w%d-%d", w, i))))
			if err != nil {
				t.Fatalf("read w%d-%d: %v", w, i, err)
			}
			if r, _ := kv.DecodeResult(res); r.Status != kv.StatusOK || string(r.Value) != fmt.Sprintf("v%d", i) {
				t.Fatalf("acknowledged write w%d-%d reads %v %q", w, i, r.Status, r.Value)
			}
		}
	}
	if n < writers*perWriter/2 {
		t.Fatalf("only %d of %d writes acknowledged", n, writers*perWriter)
	}
	t.Logf("%d of %d framed writes acknowledged across the leader change, all readable", n, writers*perWriter)
}
