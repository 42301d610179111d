package httpapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftbench/raftbench/wal"
)

// TestServeWALPreallocate: a node `raftbench serve` runs writes its log
// into preallocated segments (a file of zeros of SegmentBytes and more
// holding the written key's entry), and into appended ones with
// --wal-append-segments.
func TestServeWALPreallocate(t *testing.T) {
	for _, appendSegs := range []bool{false, true} {
		size, _ := serveWrites(t, ServeConfig{AppendSegments: appendSegs}, 1)
		if preallocated := size >= wal.DefaultSegmentBytes; preallocated == appendSegs {
			t.Fatalf("append segments %v: the tail segment has %d bytes", appendSegs, size)
		}
	}
}

// TestServeWALMinSyncInterval: a node `raftbench serve
// --wal-min-sync-interval` runs spaces its log's commits: writes made
// one after another take at least the interval each after the first
// (one interval less: the clock starts after the first write).
func TestServeWALMinSyncInterval(t *testing.T) {
	const writes, interval = 6, 100 * time.Millisecond
	if _, took := serveWrites(t, ServeConfig{MinSyncInterval: interval}, writes); took < (writes-2)*interval {
		t.Fatalf("%d writes one after another took %v with commits %v apart", writes, took, interval)
	}
}

// serveWrites runs a one-node serve configured as base, writes keys
// one after another (n writes) and returns the size of its log's last
// segment file and how long the writes took.
func serveWrites(t *testing.T, base ServeConfig, n int) (int64, time.Duration) {
	dir := t.TempDir()
	raft, web := freePorts(t, 1), freePorts(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	cfg := base
	cfg.Name, cfg.Peers, cfg.Dir, cfg.HTTPAddr = "n1", map[string]string{"n1": raft[0]}, dir, web[0]
	go func() { errc <- Serve(runCtx, cfg) }()
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	procs := []*proc{{name: "n1", http: web[0], client: NewClient("http://"+web[0], nil)}}
	waitProcLeader(t, ctx, procs, nil)
	if err := retryDefinite(ctx, func() error { return procs[0].client.Put(ctx, "k", []byte("v"), Session{}) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 1; i < n; i++ {
		if err := procs[0].client.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"), Session{}); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	segs, err := filepath.Glob(filepath.Join(dir, "log", "*"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	st, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return st.Size(), took
}
