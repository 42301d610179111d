package peertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Scenario shape: Smoke runs Workers goroutines of Rounds rounds each, and
// every round replicates WritesPerRound commands (one write, three cas).
const (
	Workers        = 8
	Rounds         = 5
	WritesPerRound = 4
)

// Time bounds: a cluster must elect a leader within startWait, one
// operation must answer within opWait.
const (
	startWait = 15 * time.Second
	opWait    = 10 * time.Second
)

// Lookup returns the registered factory for name, failing t if none is.
func Lookup(t testing.TB, name string) bench.Factory {
	t.Helper()
	f, err := bench.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Start builds a cluster with f. An empty cfg.Dir becomes a t.TempDir()
// and a nil cfg.Registerer a fresh registry, on which the five peer
// counters must then be registered.
func Start(t testing.TB, f bench.Factory, cfg bench.TargetConfig) bench.Target {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	var reg *prometheus.Registry
	if cfg.Registerer == nil {
		reg = prometheus.NewRegistry()
		cfg.Registerer = reg
	}
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	tg, err := f(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reg != nil {
		checkMetrics(t, reg)
	}
	return tg
}

// checkMetrics expects the five peer counters, one series each.
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

// Do runs one request that must get a definite answer with status want.
func Do(t testing.TB, tg bench.Target, req bench.Request, want kv.Status) kv.Result {
	t.Helper()
	res, err := call(tg, req)
	if err != nil {
		t.Errorf("%v %q: %v", req.Op, req.Key, err)
		return res
	}
	checkStatus(t, req, res, want)
	return res
}

// try runs one request of a smoke round. An error is only logged and
// abandons the round: an election can make an outcome unknown, which is a
// correct answer. A wrong status fails t. ok reports status want.
func try(t testing.TB, tg bench.Target, req bench.Request, want kv.Status) (kv.Result, bool) {
	t.Helper()
	res, err := call(tg, req)
	if err != nil {
		t.Logf("%v %q: %v (round abandoned)", req.Op, req.Key, err)
		return res, false
	}
	return res, checkStatus(t, req, res, want)
}

// call runs one request, bounded by opWait.
func call(tg bench.Target, req bench.Request) (kv.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opWait)
	defer cancel()
	return tg.Do(ctx, req)
}

func checkStatus(t testing.TB, req bench.Request, res kv.Result, want kv.Status) bool {
	t.Helper()
	if res.Status != want {
		t.Errorf("%v %q: status %v, want %v", req.Op, req.Key, res.Status, want)
		return false
	}
	return true
}
