package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

func TestClusterAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := StartInProc(ctx, Config{Nodes: 3, Dir: t.TempDir(), Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	write := func(k, v string) {
		t.Helper()
		res, err := c.Propose(ctx, kv.EncodeWrite([]byte(k), []byte(v)))
		if r, _ := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
			t.Fatalf("write %s: %v %v", k, r.Status, err)
		}
	}
	read := func(k string) string {
		t.Helper()
		res, err := c.Read(ctx, kv.EncodeRead([]byte(k)))
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		r, _ := kv.DecodeResult(res)
		return string(r.Value)
	}
	for i := 0; i < 10; i++ {
		write(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	leader := c.Leader().ID()
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	if c.Node(leader) != nil || c.Kill(leader) == nil {
		t.Fatal("killed node still listed as running")
	}
	write("after", "kill") // routed to the new leader
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if c.Restart(leader) == nil {
		t.Fatal("restarting a running node succeeded")
	}
	for i := 0; i < 10; i++ {
		if got := read(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q", i, got)
		}
	}
	if got := read("after"); got != "kill" {
		t.Fatalf("after = %q", got)
	}
	s := c.Stats()
	if s.AppendMsgs == 0 || s.AppendEntries < 11 || s.LeaderChanges == 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := StartInProc(ctx, Config{Nodes: 0, Dir: t.TempDir()}); err == nil {
		t.Fatal("0 nodes accepted")
	}
}

// TestSettledWritesAreReadable: writes are answered once committed,
// before they are applied (kv writes are blind), and a read begun after
// the answer always sees the write — on the runtime, with fsync, under
// concurrency so batches carry many writes.
func TestSettledWritesAreReadable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartInProc(ctx, Config{Nodes: 3, Dir: t.TempDir(), Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	const clients, rounds = 16, 30
	errs := make(chan error, clients)
	for g := 0; g < clients; g++ {
		go func() {
			key := []byte(fmt.Sprintf("key-%d", g))
			for i := 0; i < rounds; i++ {
				val := []byte(fmt.Sprintf("v%d", i))
				res, err := c.Propose(ctx, kv.EncodeWrite(key, val))
				if r, _ := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
					errs <- fmt.Errorf("write %s=%s: %v %v", key, val, r.Status, err)
					return
				}
				res, err = c.Read(ctx, kv.EncodeRead(key))
				if r, _ := kv.DecodeResult(res); err != nil || string(r.Value) != string(val) {
					errs <- fmt.Errorf("read %s after writing %s: %q %v", key, val, r.Value, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < clients; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Leader().Stats(); s.Settled == 0 {
		t.Fatalf("no write was answered before applying (stats %+v)", s)
	}
}
