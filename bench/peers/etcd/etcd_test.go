package etcd

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/kv"
)

func start(t testing.TB, fsync bool) *Target {
	t.Helper()
	f, err := bench.Lookup("etcd")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tg, err := f(ctx, bench.TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: fsync, ValueBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	return tg.(*Target)
}

func do(t testing.TB, tg bench.Target, req bench.Request, want kv.Status) kv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tg.Do(ctx, req)
	if err != nil {
		t.Errorf("%v %q: %v", req.Op, req.Key, err)
		return res
	}
	if res.Status != want {
		t.Errorf("%v %q: status %v, want %v", req.Op, req.Key, res.Status, want)
	}
	return res
}

// exercise runs the lin-kv operations on distinct keys from several
// goroutines and checks every status and value.
func exercise(t *testing.T, tg bench.Target, workers, rounds int) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				key := []byte(fmt.Sprintf("k-%d-%d", w, r))
				v1, v2 := []byte(fmt.Sprintf("v1-%d", r)), []byte(fmt.Sprintf("v2-%d", r))
				do(t, tg, bench.Request{Op: kv.OpRead, Key: key}, kv.StatusNotFound)
				do(t, tg, bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusNotFound)
				do(t, tg, bench.Request{Op: kv.OpWrite, Key: key, Value: v1}, kv.StatusOK)
				if got := do(t, tg, bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK); !bytes.Equal(got.Value, v1) {
					t.Errorf("read %s = %q, want %q", key, got.Value, v1)
				}
				do(t, tg, bench.Request{Op: kv.OpCas, Key: key, From: v2, Value: v1}, kv.StatusMismatch)
				do(t, tg, bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusOK)
				if got := do(t, tg, bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK); !bytes.Equal(got.Value, v2) {
					t.Errorf("read %s = %q, want %q", key, got.Value, v2)
				}
			}
		}()
	}
	wg.Wait()
}

func TestSmoke(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		t.Run(fmt.Sprintf("fsync=%v", fsync), func(t *testing.T) {
			tg := start(t, fsync)
			exercise(t, tg, 8, 5)
			st := tg.Stats()
			if st.LeaderChanges < 1 || st.AppendMsgs == 0 || st.AppendEntries < 8*5*4 {
				t.Errorf("stats %+v: want a leader and appends carrying every write", st)
			}
			if fsync && (st.Fsyncs == 0 || st.FsyncEntries < st.Fsyncs/3) {
				t.Errorf("fsync on: stats %+v", st)
			}
			if !fsync && st.Fsyncs != 0 {
				t.Errorf("fsync off: Fsyncs = %d, want 0", st.Fsyncs)
			}
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := tg.Do(context.Background(), bench.Request{Op: kv.OpRead, Key: []byte("x")}); err == nil {
				t.Error("Do after Close succeeded")
			}
		})
	}
}

// TestLeaderStopKeepsAcknowledgedWrites stops the leader's raft node and
// checks that the new leader serves every write the old one acknowledged.
func TestLeaderStopKeepsAcknowledgedWrites(t *testing.T) {
	tg := start(t, true)
	defer tg.Close()
	for i := 0; i < 20; i++ {
		do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte(fmt.Sprint("a", i)), Value: []byte("x")}, kv.StatusOK)
	}
	old, err := tg.waitLeader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	old.rn.Stop() // its inbox fills and drops, like a dead peer's socket
	old.isLeader.Store(false)
	for i := 0; i < 20; i++ {
		if got := do(t, tg, bench.Request{Op: kv.OpRead, Key: []byte(fmt.Sprint("a", i))}, kv.StatusOK); string(got.Value) != "x" {
			t.Errorf("a%d = %q after failover", i, got.Value)
		}
	}
	do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte("after"), Value: []byte("y")}, kv.StatusOK)
	now, err := tg.waitLeader(context.Background())
	if err != nil || now == old {
		t.Fatalf("new leader %v (old %v): %v", now, old, err)
	}
	if tg.Stats().LeaderChanges < 2 {
		t.Errorf("LeaderChanges = %d, want >= 2", tg.Stats().LeaderChanges)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []bench.TargetConfig{
		{Nodes: 0, Dir: t.TempDir()},
		{Nodes: 3},
		{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"transport": "tcp"}},
	} {
		if tg, err := New(context.Background(), cfg); err == nil {
			tg.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// BenchmarkWrite64 prints write throughput at 64 concurrent clients; a
// sanity figure for reports, never an assertion.
func BenchmarkWrite64(b *testing.B) {
	tg := start(b, true)
	defer tg.Close()
	var seq atomic.Uint64
	val := bytes.Repeat([]byte("v"), 128)
	b.SetParallelism((64 + 1) / 2)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := []byte(fmt.Sprintf("key-%08d", seq.Add(1)%100000))
			if _, err := tg.Do(context.Background(), bench.Request{Op: kv.OpWrite, Key: key, Value: val}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(t0).Seconds()
	st := tg.Stats()
	b.ReportMetric(float64(b.N)/el, "ops/s")
	b.ReportMetric(float64(st.Fsyncs)/el, "fsyncs/s")
	b.ReportMetric(float64(st.FsyncEntries)/float64(max(st.Fsyncs, 1)), "entries/fsync")
}
