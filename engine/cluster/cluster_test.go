package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/kv"
)

func startCluster(t *testing.T, n int, mod func(*Config)) *Cluster {
	t.Helper()
	cfg := Config{Nodes: n, Dir: t.TempDir(), Fsync: true}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := StartInProc(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func mustWrite(t *testing.T, c *Cluster, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Propose(ctx, kv.EncodeWrite([]byte(key), []byte(val)))
	if err != nil {
		t.Fatalf("write %s=%s: %v", key, val, err)
	}
	if r, err := kv.DecodeResult(res); err != nil || r.Status != kv.StatusOK {
		t.Fatalf("write %s: result %v %v", key, r, err)
	}
}

func mustRead(t *testing.T, c *Cluster, key string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Read(ctx, kv.EncodeRead([]byte(key)))
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	r, err := kv.DecodeResult(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Value), r.Status == kv.StatusOK
}

func TestElectWriteRead(t *testing.T) {
	c := startCluster(t, 3, nil)
	for i := 0; i < 20; i++ {
		mustWrite(t, c, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	for i := 0; i < 20; i++ {
		if v, ok := mustRead(t, c, fmt.Sprintf("k%d", i)); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q, %v", i, v, ok)
		}
	}
}
