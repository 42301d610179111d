package nats_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

// TestBrokerRestartLinearizable is the broker-restart fault for bus
// clusters: concurrent clients read, write and cas three keys on a
// 3-node cluster over an embedded NATS broker while the broker is
// stopped and restarted several times, once on a clean bus and once with
// 10% of messages lost (Config.LossRate); each history (timeouts kept as
// indeterminate) must be linearizable (chaos/check), and the cluster must
// have made progress after the last restart.
func TestBrokerRestartLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{{"restarts", 0}, {"restarts+loss10%", 0.1}} {
		t.Run(tc.name, func(t *testing.T) { brokerRestartLinearizable(t, tc.loss) })
	}
}

// brokerRestartLinearizable runs the scenario with loss: the fraction of
// messages every node's transport drops (message loss on the bus).
func brokerRestartLinearizable(t *testing.T, loss float64) {
	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	build := natstr.Factory(natstr.Config{URL: srv.URL(), Cluster: "lin", LossRate: loss,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		trMu sync.Mutex
		trs  []*natstr.Transport
	)
	c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: false,
		Transport: func(id uint64, peers []uint64) (transport.Transport, error) {
			tr, err := build(id, peers)
			if err == nil {
				trMu.Lock()
				trs = append(trs, tr.(*natstr.Transport))
				trMu.Unlock()
			}
			return tr, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	epoch := time.Now()
	now := func() int64 { return int64(time.Since(epoch)) }
	var (
		mu      sync.Mutex
		history []check.Op
		events  []check.Event
	)
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(client), 7))
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				op := check.Op{Client: client, Key: "k" + strconv.Itoa(rng.IntN(3))}
				var cmd []byte
				switch r := rng.IntN(10); {
				case r < 4:
					op.Kind = check.Read
				case r < 8:
					op.Kind, op.Value = check.Write, strconv.Itoa(rng.IntN(5))
					cmd = kv.EncodeWrite([]byte(op.Key), []byte(op.Value))
				default:
					op.Kind, op.From, op.Value = check.Cas, strconv.Itoa(rng.IntN(5)), strconv.Itoa(rng.IntN(5))
					cmd = kv.EncodeCas([]byte(op.Key), []byte(op.From), []byte(op.Value), false)
				}
				octx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				op.Call = now()
				var res []byte
				var err error
				if op.Kind == check.Read {
					res, err = c.Read(octx, kv.EncodeRead([]byte(op.Key)))
				} else {
					res, err = c.Propose(octx, cmd)
				}
				op.Return = now()
				cancel()
				switch {
				case err == nil:
					r, derr := kv.DecodeResult(res)
					if derr != nil {
						t.Errorf("bad result: %v", derr)
						return
					}
					op.Outcome = check.OK
					switch r.Status {
					case kv.StatusOK:
						if op.Kind == check.Read {
							op.Value = string(r.Value)
						}
					case kv.StatusNotFound:
						op.Missing = true
					case kv.StatusMismatch:
						op.Mismatch = true
					default:
						t.Errorf("status %v", r.Status)
						return
					}
				case node.Definite(err):
					op.Outcome, op.Note = check.Fail, err.Error()
				default:
					op.Outcome, op.Note = check.Info, err.Error()
				}
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	okSince := func(t0 int64) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, op := range history {
			if op.Outcome == check.OK && op.Kind != check.Read && op.Call > t0 {
				n++
			}
		}
		return n
	}
	for round := range 3 {
		time.Sleep(400 * time.Millisecond)
		start := now()
		srv.Stop()
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		events = append(events, check.Event{Start: start, End: now(), Tag: "nemesis", Description: "broker down"})
	}
	restarted := now()
	deadline := time.Now().Add(20 * time.Second)
	for okSince(restarted) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d acknowledged writes in 20 s after the last broker restart", okSince(restarted))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopLoad)
	wg.Wait()

	counts := map[check.Outcome]int{}
	for _, op := range history {
		counts[op.Outcome]++
	}
	res := check.Check(history, check.Options{Timeout: 30 * time.Second, Events: events})
	t.Logf("%d ops (ok %d, fail %d, info %d), %d broker outages: %s", len(history), counts[check.OK], counts[check.Fail], counts[check.Info], len(events), res.Linearizable)
	if !res.OK() {
		path := t.TempDir() + "/lin.html"
		res.WriteVisualization(path)
		t.Fatalf("history not linearizable (key %s, err %v); visualization %s", res.BadKey, res.Err, path)
	}
	trMu.Lock()
	var lost uint64
	for _, tr := range trs {
		lost += tr.Stats().DroppedBy[transport.DropRandom]
	}
	trMu.Unlock()
	if (loss > 0) != (lost > 0) {
		t.Fatalf("loss rate %v but %d messages lost", loss, lost)
	}
	t.Logf("%d messages lost on purpose", lost)
	if counts[check.OK] < 100 {
		t.Fatalf("only %d ok operations", counts[check.OK])
	}
}
