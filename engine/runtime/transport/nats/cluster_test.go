package nats_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

// TestClusterSurvivesBrokerRestart: a 3-node cluster whose nodes reach
// each other only through an embedded NATS server elects a leader and
// commits; the broker is stopped (the cluster becomes unavailable) and
// restarted on the same port (the cluster recovers); a follower is
// killed and restarted on its WAL; every acknowledged write is then
// readable with its value.
func TestClusterSurvivesBrokerRestart(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var (
		mu  sync.Mutex
		trs []*natstr.Transport
	)
	build := natstr.Factory(natstr.Config{URL: srv.URL(), Cluster: "survive",
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: false,
		Transport: func(id uint64, peers []uint64) (transport.Transport, error) {
			tr, err := build(id, peers)
			if err == nil {
				mu.Lock()
				trs = append(trs, tr.(*natstr.Transport))
				mu.Unlock()
			}
			return tr, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	acked := map[string]string{}
	write := func(key, val string, d time.Duration) error {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		res, err := c.Propose(wctx, kv.EncodeWrite([]byte(key), []byte(val)))
		if err != nil {
			return err
		}
		if r, err := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
			return fmt.Errorf("write %s: %v %v", key, r, err)
		}
		acked[key] = val
		return nil
	}
	for i := range 50 {
		if err := write(fmt.Sprintf("before-%d", i), fmt.Sprint("v", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	srv.Stop()
	// Unavailable while the broker is away: writes time out or fail, and
	// none of them may be acknowledged.
	outage := time.Now()
	unacked := 0
	for i := 0; time.Since(outage) < 1500*time.Millisecond; i++ {
		if err := write(fmt.Sprintf("outage-%d", i), "x", 200*time.Millisecond); err == nil {
			t.Fatalf("write %d acknowledged %v into a broker outage", i, time.Since(outage))
		}
		unacked++
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for i := 0; ; i++ {
		err := write("after-restart", "first", time.Second)
		if err == nil {
			break
		}
		if time.Since(restarted) > 30*time.Second {
			t.Fatalf("no write succeeded within 30 s of the broker's restart: %v", err)
		}
	}
	t.Logf("%d writes refused during the outage; first write %v after the broker came back", unacked, time.Since(restarted))

	// A follower killed and restarted from its WAL rejoins over the bus.
	leader := c.Leader()
	if leader == nil {
		t.Fatal("no leader")
	}
	follower := uint64(1)
	if leader.ID() == 1 {
		follower = 2
	}
	if err := c.Kill(follower); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := write(fmt.Sprintf("one-down-%d", i), fmt.Sprint("w", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := write(fmt.Sprintf("after-%d", i), fmt.Sprint("u", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range acked {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := c.Read(rctx, kv.EncodeRead([]byte(key)))
		cancel()
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		r, err := kv.DecodeResult(res)
		if err != nil || string(r.Value) != want {
			t.Fatalf("read %s = %q (%v), want %q", key, r.Value, err, want)
		}
	}
	// Reconnects that must have happened: the leader's and the surviving
	// follower's transports lived through the outage and carried every
	// write since. The killed follower's old transport may have died before
	// it noticed the broker's return, and its new one connected afresh, so
	// at least 2. A transport may count its reconnect a little after the
	// writes succeed: wait for the count rather than sample it once.
	const wantReconnects = 2
	var reconnects, garbage uint64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		reconnects, garbage = 0, 0
		mu.Lock()
		for _, tr := range trs {
			s := tr.Stats()
			reconnects += s.Reconnects
			garbage += s.DroppedBy[transport.DropMalformed]
		}
		mu.Unlock()
		if reconnects >= wantReconnects || time.Now().After(deadline) {
			break
		}
	}
	if reconnects < wantReconnects {
		t.Errorf("%d reconnects counted across %d transports, want >= %d", reconnects, len(trs), wantReconnects)
	}
	if garbage != 0 {
		t.Errorf("%d malformed payloads between honest nodes", garbage)
	}
}
