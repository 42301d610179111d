package etcd

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	reg := prometheus.NewRegistry()
	tg, err := f(ctx, bench.TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: fsync, ValueBytes: 16, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, reg)
	return tg.(*Target)
}

// checkMetrics expects the five peer counters.
func checkMetrics(t testing.TB, reg *prometheus.Registry) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil || len(fams) != 5 {
		t.Fatalf("gathered %d metric families (%v), want 5", len(fams), err)
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "raftbench_peer_") || len(f.GetMetric()) != 1 {
			t.Errorf("metric family %s with %d metrics", f.GetName(), len(f.GetMetric()))
		}
	}
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

// try runs one request; an error is logged, not failed, because under
// a loaded machine an election can make a write's outcome unknown, which
// is a correct answer. A wrong status is a failure.
func try(t *testing.T, tg bench.Target, req bench.Request, want kv.Status) (kv.Result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tg.Do(ctx, req)
	if err != nil {
		t.Logf("%v %q: %v (round abandoned)", req.Op, req.Key, err)
		return res, false
	}
	if res.Status != want {
		t.Errorf("%v %q: status %v, want %v", req.Op, req.Key, res.Status, want)
		return res, false
	}
	return res, true
}

// round checks the lin-kv answers on one fresh key; false if abandoned.
func round(t *testing.T, tg bench.Target, key, v1, v2 []byte) bool {
	steps := []struct {
		req  bench.Request
		want kv.Status
		val  []byte
	}{
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusNotFound, nil},
		{bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusNotFound, nil},
		{bench.Request{Op: kv.OpWrite, Key: key, Value: v1}, kv.StatusOK, nil},
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK, v1},
		{bench.Request{Op: kv.OpCas, Key: key, From: v2, Value: v1}, kv.StatusMismatch, nil},
		{bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusOK, nil},
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK, v2},
	}
	for _, st := range steps {
		got, ok := try(t, tg, st.req, st.want)
		if !ok {
			return false
		}
		if st.val != nil && !bytes.Equal(got.Value, st.val) {
			t.Errorf("read %s = %q, want %q", key, got.Value, st.val)
		}
	}
	return true
}

// exercise runs rounds on distinct keys from several goroutines; most
// rounds must complete.
func exercise(t *testing.T, tg bench.Target, workers, rounds int) {
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				key := []byte(fmt.Sprintf("k-%d-%d", w, r))
				if round(t, tg, key, []byte(fmt.Sprint("v1-", r)), []byte(fmt.Sprint("v2-", r))) {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if total := int64(workers * rounds); done.Load()*4 < total*3 {
		t.Errorf("%d of %d rounds completed, want at least 3/4", done.Load(), total)
	}
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
