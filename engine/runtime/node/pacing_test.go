package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/transport"
)

// entriesPerAppend sends one write every millisecond from one goroutine
// (requests arriving one at a time, as an open loop sends them) over a
// network whose 20 ms latency keeps batches in flight, and returns the
// leader's entries per AppendEntries message during that load.
func entriesPerAppend(t *testing.T, batchesInFlight int) float64 {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Fsync = false
		cfg.Network = transport.MemOptions{Latency: 20 * time.Millisecond}
		cfg.NodeConfig = func(nc *node.Config) { nc.ProposalBatchesInFlight = batchesInFlight }
	})
	mustWrite(t, c, "warm", "up")
	lead := c.Leader()
	before := lead.Stats()
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := lead.Propose(ctx, kv.EncodeWrite([]byte(fmt.Sprintf("k%d", i)), []byte("v"))); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}(i)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	after := lead.Stats()
	msgs, ents := after.AppendMsgs-before.AppendMsgs, after.AppendEntries-before.AppendEntries
	if msgs == 0 {
		t.Fatal("the leader sent no AppendEntries")
	}
	return float64(ents) / float64(msgs)
}

// TestHeldProposalsShareAppends: with batches in flight, proposals that
// arrive one at a time wait for a commit (or the next tick) and leave
// together; with waiting switched off each goes out by itself.
func TestHeldProposalsShareAppends(t *testing.T) {
	held := entriesPerAppend(t, 1)
	alone := entriesPerAppend(t, -1)
	t.Logf("entries per AppendEntries: %.2f held, %.2f never held", held, alone)
	if held < 3 {
		t.Errorf("held proposals: %.2f entries per AppendEntries, want >= 3", held)
	}
	if alone >= held {
		t.Errorf("never held: %.2f entries per AppendEntries, not below the held %.2f: the test shows nothing", alone, held)
	}
}

// TestHeldProposalsWaitAtMostATick: a leader whose batch never commits
// (cut off from both followers) still appends the next proposal within
// a tick or so, long before check-quorum would depose it.
func TestHeldProposalsWaitAtMostATick(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Engine = engine.Config{ElectionTicks: 100} // 1 s: check-quorum stays out of the way
		cfg.NodeConfig = func(nc *node.Config) { nc.ProposalBatchesInFlight = 1 }
	})
	mustWrite(t, c, "warm", "up")
	lead := c.Leader()
	c.Network().Isolate(lead.ID())
	defer c.Network().Heal()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	propose := func(key string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = lead.Propose(ctx, kv.EncodeWrite([]byte(key), []byte("v"))) // cannot commit while cut off
		}()
	}
	base := lead.Status().LastIndex
	propose("a")
	waitFor(t, "the first proposal appended", 2*time.Second, func() bool { return lead.Status().LastIndex >= base+1 })
	start := time.Now()
	propose("b")
	waitFor(t, "the second proposal appended", 2*time.Second, func() bool { return lead.Status().LastIndex >= base+2 })
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("the second proposal waited %v behind an uncommitted batch (want about a 10 ms tick)", d)
	}
	if lead.Status().Role != engine.Leader {
		t.Fatal("the leader stepped down during the test: it shows nothing")
	}
}

// TestYieldToClientsKeepsEveryWrite: with the leader's yield to clients
// on (the default) and off, concurrent writers and readers see every
// acknowledged write, and the replicas converge. It also logs the
// entries per AppendEntries of each (the yield's purpose; a timing
// figure, so not asserted).
func TestYieldToClientsKeepsEveryWrite(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoYieldToClients=%v", off), func(t *testing.T) {
			c := startCluster(t, 3, func(cfg *Config) {
				cfg.Fsync = false
				cfg.NodeConfig = func(nc *node.Config) { nc.NoYieldToClients = off }
			})
			mustWrite(t, c, "warm", "up")
			before := c.Leader().Stats()
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for r := 0; r < 4; r++ {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if got, ok := mustRead(t, c, "warm"); !ok || got != "up" {
							t.Errorf("read warm = %q (found %v), want up", got, ok)
							return
						}
					}
				}()
			}
			acked := writeConcurrently(t, c, "y", 32, 20)
			close(stop)
			readers.Wait()
			if len(acked) != 32*20 {
				t.Fatalf("%d writes acknowledged, want %d", len(acked), 32*20)
			}
			after := c.Leader().Stats()
			if msgs := after.AppendMsgs - before.AppendMsgs; msgs > 0 {
				t.Logf("entries per AppendEntries: %.2f", float64(after.AppendEntries-before.AppendEntries)/float64(msgs))
			}
			checkReadable(t, c, acked)
			waitConverged(t, c)
		})
	}
}
