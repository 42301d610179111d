package report

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// fakeTarget applies requests to a kv.Store directly: a run in a
// fraction of a second that still fills every figure a report shows.
type fakeTarget struct {
	writes atomic.Uint64
	mu     sync.Mutex
	store  *kv.Store
	buf    []byte
}

func newFake() *fakeTarget { return &fakeTarget{store: kv.NewStore()} }

func (f *fakeTarget) Name() string { return "fake" }

func (f *fakeTarget) Do(ctx context.Context, req bench.Request) (kv.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = kv.AppendCommand(f.buf[:0], kv.Command{Op: req.Op, Key: req.Key, Value: req.Value, From: req.From})
	if req.Op == kv.OpRead {
		return kv.DecodeResult(f.store.Query(f.buf))
	}
	f.writes.Add(1)
	return kv.DecodeResult(f.store.Apply(f.buf))
}

// Stats pretends every write was made durable by its own fsync, carried
// by two AppendEntries messages.
func (f *fakeTarget) Stats() bench.TargetStats {
	w := f.writes.Load()
	return bench.TargetStats{Fsyncs: w, FsyncEntries: w, AppendMsgs: w, AppendEntries: 2 * w}
}

func (f *fakeTarget) Close() error { return nil }

// shortConfig is a fast closed-loop run for tests.
func shortConfig() bench.RunConfig {
	cfg := bench.DefaultRunConfig()
	cfg.Clients = 4
	cfg.Keys = 100
	cfg.Warmup = 100 * time.Millisecond
	cfg.Duration = 400 * time.Millisecond
	return cfg
}

// syntheticRun is a made-up system for sweeps: it keeps up to 5,000
// ops/s with p99 growing slowly, then falls behind.
func syntheticRun(ctx context.Context, cfg bench.RunConfig) (*bench.Summary, string, error) {
	rate := cfg.Rate
	s := &bench.Summary{Target: "synthetic", Nodes: 3, Mode: "open", Rate: rate, ValueBytes: 128, Fsync: true}
	s.ThroughputOps = math.Min(rate, 5000)
	s.Ops = uint64(s.ThroughputOps * 10)
	s.LatencyMs = bench.Latency{P50: rate / 2000, P99: rate / 1000}
	if rate > 5000 {
		s.LatencyMs.P99 = 500
	}
	s.ServiceLatencyMs = &bench.Latency{P99: 1}
	return s, "rate-" + strconv.Itoa(int(rate)), nil
}
