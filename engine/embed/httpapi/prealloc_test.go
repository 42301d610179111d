package httpapi

import (
	"context"
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
		size := serveOneWrite(t, appendSegs)
		if preallocated := size >= wal.DefaultSegmentBytes; preallocated == appendSegs {
			t.Fatalf("append segments %v: the tail segment has %d bytes", appendSegs, size)
		}
	}
}

// serveOneWrite runs a one-node serve, writes a key and returns the size
// of its log's last segment file.
func serveOneWrite(t *testing.T, appendSegs bool) int64 {
	dir := t.TempDir()
	raft, web := freePorts(t, 1), freePorts(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	cfg := ServeConfig{Name: "n1", Peers: map[string]string{"n1": raft[0]}, Dir: dir, HTTPAddr: web[0],
		AppendSegments: appendSegs}
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
	segs, err := filepath.Glob(filepath.Join(dir, "log", "*"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	st, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
