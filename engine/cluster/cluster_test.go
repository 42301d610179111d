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
