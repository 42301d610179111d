package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

// TestServeOverNATS runs three Serve nodes whose Raft traffic goes only
// through an embedded NATS broker, writes through followers, restarts
// the broker, and checks every acknowledged write on every node and the
// transport's metrics.
func TestServeOverNATS(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	web := freePorts(t, 3)
	peers := map[string]string{"n1": "", "n2": "", "n3": ""}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 3)
	procs := make([]*proc, 3)
	for i := range procs {
		name := fmt.Sprintf("n%d", i+1)
		procs[i] = &proc{name: name, http: web[i], client: NewClient("http://"+web[i], nil)}
		cfg := ServeConfig{Name: name, Peers: peers, Dir: filepath.Join(dir, name), HTTPAddr: web[i],
			Transport: "nats", NATSURL: srv.URL(), Cluster: "serve-test", UnsafeNoFsync: true}
		go func() { errc <- Serve(runCtx, cfg) }()
	}
	defer func() {
		stop()
		for range procs {
			if err := <-errc; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}()
	waitProcLeader(t, ctx, procs, nil)
	acked := map[string]string{}
	put := func(p *proc, k, v string) {
		t.Helper()
		if err := retryDefinite(ctx, func() error { return p.client.Put(ctx, k, []byte(v), Session{}) }); err != nil {
			t.Fatalf("%s: put %s: %v", p.name, k, err)
		}
		acked[k] = v
	}
	for i := range 20 {
		put(procs[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitProcLeader(t, ctx, procs, nil)
	for i := 20; i < 40; i++ {
		put(procs[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	for _, p := range procs {
		for k, v := range acked {
			var got []byte
			err := retryDefinite(ctx, func() (err error) { got, err = p.client.Get(ctx, k); return err })
			if err != nil || string(got) != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q, %v", p.name, k, v, got, err)
			}
		}
	}
	resp, err := http.Get("http://" + web[0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"raftbench_transport_reconnects_total{node=\"1\"} ", "raftbench_transport_writes_total{node=\"1\"}",
		`raftbench_transport_messages_sent_total{node="1",type="MsgApp`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), `raftbench_transport_reconnects_total{node="1"} 0`) {
		t.Error("broker restart not counted as a reconnect")
	}
}

// TestServeNATSBadBroker: a malformed URL or bad cluster name is refused
// by Validate; an unreachable broker fails Serve at once with a clear error.
func TestServeNATSBadBroker(t *testing.T) {
	base := ServeConfig{Name: "n1", Peers: map[string]string{"n1": "", "n2": ""}, Dir: t.TempDir(),
		HTTPAddr: "127.0.0.1:0", Transport: "nats", NATSURL: "nats://127.0.0.1:4222", Cluster: "c"}
	for _, tc := range []struct {
		tweak func(*ServeConfig)
		want  string
	}{
		{func(c *ServeConfig) { c.NATSURL = "http://x:1" }, "--nats-url"},
		{func(c *ServeConfig) { c.NATSURL = "" }, "--nats-url"},
		{func(c *ServeConfig) { c.Cluster = "a.b" }, "--cluster"},
		{func(c *ServeConfig) { c.Cluster = "" }, "--cluster"},
		{func(c *ServeConfig) { c.Transport = "udp" }, "--transport"},
		{func(c *ServeConfig) { c.Transport = "tcp" }, "--nats-url and --cluster need --transport nats"},
		{func(c *ServeConfig) { c.Name = "n9" }, "not one of the --peers"},
	} {
		cfg := base
		tc.tweak(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", cfg, err, tc.want)
		}
	}
	cfg := base
	cfg.NATSURL = "nats://127.0.0.1:1"
	start := time.Now()
	err := Serve(context.Background(), cfg)
	if !errors.Is(err, natstr.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable broker: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	if _, err := ParsePeerNames("n1, n2=ignored,,n3"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePeerNames("n1,n1"); err == nil {
		t.Fatal("duplicate name accepted")
	}
}

// TestThreeProcessNATSCluster is TestThreeProcessTCPCluster over a NATS
// bus: three `raftbench serve --transport nats` processes whose only
// connection is the broker (embedded in this test process). The broker
// is restarted and the leader is killed with SIGKILL and restarted on its
// data directory, under a concurrent read/write/cas load through every
// node; every acknowledged write stays readable on every node and the
// load's history is linearizable.
func TestThreeProcessNATSCluster(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs kill -9 semantics")
	}
	bin := buildBinary(t)
	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	web := freePorts(t, 3)
	procs := startServeProcs(t, bin, dir, web, func(string) []string {
		return []string{"--transport", "nats", "--nats-url", srv.URL(), "--cluster", "procs", "--peers", "n1,n2,n3"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	waitProcLeader(t, ctx, procs, nil)
	// Clients read, write and cas through every node for the whole
	// scenario; their history must be linearizable at the end.
	var clients []*Client
	for _, p := range procs {
		clients = append(clients, p.client)
	}
	load := startHistoryLoad(ctx, clients, 6)
	acked := map[string]string{}
	put := func(p *proc, k, v string) {
		t.Helper()
		if err := retryDefinite(ctx, func() error { return p.client.Put(ctx, k, []byte(v), Session{}) }); err != nil {
			t.Fatalf("%s: put %s: %v", p.name, k, err)
		}
		acked[k] = v
	}
	for i := range 20 {
		put(procs[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	// Broker restart: unavailable, then recovers.
	srv.Stop()
	time.Sleep(500 * time.Millisecond)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	leader := waitProcLeader(t, ctx, procs, nil)
	for i := 20; i < 30; i++ {
		put(procs[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	// kill -9 the leader; the others elect a new one over the bus.
	procs[leader].kill()
	var survivors []*proc
	for i, p := range procs {
		if i != leader {
			survivors = append(survivors, p)
		}
	}
	waitProcLeader(t, ctx, survivors, procs[leader])
	for i := 30; i < 40; i++ {
		put(survivors[i%2], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	procs[leader].start(t, bin)
	waitFor(t, ctx, "restarted node to catch up", func() bool {
		st, err := procs[leader].client.Status(ctx)
		return err == nil && st.Leader != 0 && st.Applied >= 40
	})
	time.Sleep(500 * time.Millisecond) // some load on the whole cluster again
	load.finish(t, 20)
	for _, p := range procs {
		for k, v := range acked {
			var got []byte
			err := retryDefinite(ctx, func() (err error) { got, err = p.client.Get(ctx, k); return err })
			if err != nil || string(got) != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q, %v", p.name, k, v, got, err)
			}
		}
	}
}
