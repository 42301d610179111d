package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
	"github.com/raftbench/raftbench/engine/runtime/localports"
	"github.com/raftbench/raftbench/ui"
)

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := localports.Pick(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// TestServeViewShowsWholeCluster runs three serve nodes (TCP transport,
// real WALs) with their views, and asks one node's view for the
// cluster: every node appears, read through the others' /ui/api/node,
// with one leader.
func TestServeViewShowsWholeCluster(t *testing.T) {
	raft, web := freeAddrs(t, 3), freeAddrs(t, 3)
	peers := map[string]string{}
	var urls [][2]string
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		peers[name] = raft[i]
		urls = append(urls, [2]string{name, "http://" + web[i]})
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		cfg := httpapi.ServeConfig{Name: name, Peers: peers, Dir: t.TempDir(), HTTPAddr: web[i],
			TickInterval: 10 * time.Millisecond, Extra: ui.ForServe(name, urls, nil)}
		go func() { errs <- httpapi.Serve(ctx, cfg) }()
	}
	defer func() {
		cancel()
		for range 3 {
			if err := <-errs; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	var f ui.Frame
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get("http://" + web[2] + "/ui/api/live")
		if err != nil {
			continue
		}
		f = ui.Frame{}
		err = json.NewDecoder(resp.Body).Decode(&f)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(f.Nodes) != 3 || f.Leader == "" {
			continue
		}
		reachable, followers := 0, 0
		for _, n := range f.Nodes {
			if n.Reachable {
				reachable++
			}
			if n.Status["role"] == "follower" {
				followers++
			}
		}
		if reachable == 3 && followers == 2 {
			t.Logf("n3's view: leader %s in term %d", f.Leader, f.Term)
			return
		}
	}
	t.Fatalf("n3's view never showed three reachable nodes with one leader and two followers: %+v", f)
}
