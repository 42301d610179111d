package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// fakeTarget applies requests to a kv.Store directly. It can stall: a
// request that arrives inside [stallAt, stallAt+stallFor) waits until
// the stall ends, like a cluster that lost its leader for a while.
type fakeTarget struct {
	store    *kv.Store
	stallAt  time.Time
	stallFor time.Duration
	failEach int // every failEach-th request fails as unavailable (0 = never)
	// writeDelay: writes and cas take at least this long (reads do not).
	writeDelay time.Duration

	n      atomic.Uint64
	writes atomic.Uint64
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func newFake() *fakeTarget { return &fakeTarget{store: kv.NewStore()} }

func (f *fakeTarget) Name() string { return "fake" }

func (f *fakeTarget) Do(ctx context.Context, req Request) (kv.Result, error) {
	n := f.n.Add(1)
	if f.failEach > 0 && n%uint64(f.failEach) == 0 {
		return kv.Result{}, ErrUnavailable
	}
	if !f.stallAt.IsZero() {
		now := time.Now()
		if end := f.stallAt.Add(f.stallFor); !now.Before(f.stallAt) && now.Before(end) {
			select {
			case <-time.After(time.Until(end)):
			case <-ctx.Done():
				return kv.Result{}, ctx.Err()
			}
		}
	}
	if f.writeDelay > 0 && req.Op != kv.OpRead {
		time.Sleep(f.writeDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = kv.AppendCommand(f.buf[:0], kv.Command{Op: req.Op, Key: req.Key, Value: req.Value, From: req.From})
	var out []byte
	if req.Op == kv.OpRead {
		out = f.store.Query(f.buf)
	} else {
		out = f.store.Apply(f.buf)
		f.writes.Add(1)
	}
	return kv.DecodeResult(out)
}

// Stats pretends every write was made durable by its own fsync, carried
// by two AppendEntries messages.
func (f *fakeTarget) Stats() TargetStats {
	w := f.writes.Load()
	return TargetStats{Fsyncs: w, FsyncEntries: w, AppendMsgs: w, AppendEntries: 2 * w}
}

func (f *fakeTarget) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// shortConfig is a fast closed-loop run for tests.
func shortConfig() RunConfig {
	cfg := DefaultRunConfig()
	cfg.Clients = 4
	cfg.Keys = 100
	cfg.Warmup = 100 * time.Millisecond
	cfg.Duration = 400 * time.Millisecond
	return cfg
}
