package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// BenchmarkInProcPropose: 3 nodes, fsync on, 64 concurrent proposers of
// 128-byte values (b.N proposals in total).
func BenchmarkInProcPropose(b *testing.B) {
	c, err := StartInProc(context.Background(), Config{Nodes: 3, Dir: b.TempDir(), Fsync: os.Getenv("NOFSYNC") == ""})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	val := make([]byte, 128)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	var ctr atomic.Uint64
	before := c.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := ctr.Add(1)
			key := []byte("key-" + strconv.FormatUint(k%4096, 10))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.Propose(ctx, kv.EncodeWrite(key, val))
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportStats(b, before, c)
}

func reportStats(b *testing.B, before node.Stats, c *Cluster) {
	s := c.Stats()
	if d := s.Fsyncs - before.Fsyncs; d > 0 {
		b.ReportMetric(float64(s.FsyncEntries-before.FsyncEntries)/float64(d), "entries/fsync")
	}
	if d := s.AppendMsgs - before.AppendMsgs; d > 0 {
		b.ReportMetric(float64(s.AppendEntries-before.AppendEntries)/float64(d), "entries/MsgApp")
	}
}

// TestMeasureThroughput is a quick in-process throughput figure (closed
// loop, CLIENTS writers) for checking a change by hand; it runs only with
// RAFTBENCH_MEASURE=<seconds>.
func TestMeasureThroughput(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("RAFTBENCH_MEASURE"))
	if secs <= 0 {
		t.Skip("set RAFTBENCH_MEASURE=<seconds> to measure")
	}
	clients, _ := strconv.Atoi(os.Getenv("CLIENTS"))
	if clients <= 0 {
		clients = 64
	}
	cfg := Config{Nodes: 3, Dir: t.TempDir(), Fsync: os.Getenv("NOFSYNC") == ""}
	cfg.Engine.MaxInflightMsgs, _ = strconv.Atoi(os.Getenv("INFLIGHT"))
	if se, _ := strconv.ParseUint(os.Getenv("SNAPEVERY"), 10, 64); se > 0 {
		cfg.NodeConfig = func(nc *node.Config) { nc.SnapshotEvery = se }
	}
	c, err := StartInProc(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	val := make([]byte, 128)
	run := func(d time.Duration, h *hdrhistogram.Histogram) uint64 {
		var ops atomic.Uint64
		var mu sync.Mutex
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				local := hdrhistogram.New(1, 10_000_000, 3)
				for i := 0; time.Now().Before(deadline); i++ {
					key := []byte(fmt.Sprintf("k%d-%d", w, i%400))
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.Propose(ctx, kv.EncodeWrite(key, val))
					cancel()
					if err != nil {
						t.Errorf("propose: %v", err)
						return
					}
					local.RecordValue(time.Since(start).Microseconds())
					ops.Add(1)
				}
				if h != nil {
					mu.Lock()
					h.Merge(local)
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		return ops.Load()
	}
	run(2*time.Second, nil)
	before := c.Stats()
	cpu0 := cpuTime()
	h := hdrhistogram.New(1, 10_000_000, 3)
	d := time.Duration(secs) * time.Second
	ops := run(d, h)
	cpu := cpuTime() - cpu0
	s := c.Stats()
	t.Logf("max=%.1fms p999=%.1fms fsync=%.2fms cpu/op=%.1fµs clients=%d ops/s=%.0f entries/fsync=%.1f fsyncs/s=%.0f entries/MsgApp=%.1f MsgApps/s=%.0f p50=%.2fms p99=%.2fms",
		float64(h.Max())/1000, float64(h.ValueAtQuantile(99.9))/1000,
		float64(s.FsyncNanos-before.FsyncNanos)/1e6/float64(max(1, s.Fsyncs-before.Fsyncs)),
		float64(cpu.Microseconds())/float64(ops), clients, float64(ops)/d.Seconds(),
		float64(s.FsyncEntries-before.FsyncEntries)/float64(max(1, s.Fsyncs-before.Fsyncs)),
		float64(s.Fsyncs-before.Fsyncs)/d.Seconds(),
		float64(s.AppendEntries-before.AppendEntries)/float64(max(1, s.AppendMsgs-before.AppendMsgs)),
		float64(s.AppendMsgs-before.AppendMsgs)/d.Seconds(),
		float64(h.ValueAtQuantile(50))/1000, float64(h.ValueAtQuantile(99))/1000)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
