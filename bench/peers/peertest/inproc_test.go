package peertest_test

import (
	"github.com/prometheus/client_golang/prometheus"

	"testing"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peertest"
)

// The in-process raftbench cluster passes the same fault checks as the
// peers: its stated ReadIndex contract holds by behaviour, and a killed
// leader restarts from its WAL and rejoins.
func startInproc(t *testing.T) bench.FaultTarget {
	return peertest.Start(t, peertest.Lookup(t, "inproc"), bench.TargetConfig{Nodes: 3, Fsync: true, ValueBytes: 16, Registerer: prometheus.NewRegistry()}).(bench.FaultTarget)
}

func TestInprocReadsNeedQuorum(t *testing.T) {
	tg := startInproc(t)
	defer tg.Close()
	if err := peertest.ReadsNeedQuorum(tg); err != nil {
		t.Error(err)
	}
}

func TestInprocKillRestart(t *testing.T) {
	tg := startInproc(t)
	defer tg.Close()
	peertest.KillRestart(t, tg)
}

// TestInprocLeaseReadsSkipTheQuorum: with lease-reads=true the target
// states the lease contract, and the behavioural check tells it from
// ReadIndex: a leader cut off from the others still answers reads while
// its lease holds (up to 80 ms with the defaults). A run on a stalled
// machine can miss the lease, so up to three attempts.
func TestInprocLeaseReadsSkipTheQuorum(t *testing.T) {
	tg := peertest.Start(t, peertest.Lookup(t, "inproc"), bench.TargetConfig{Nodes: 3, Fsync: true, ValueBytes: 16,
		Registerer: prometheus.NewRegistry(), Options: map[string]string{"lease-reads": "true"}}).(bench.FaultTarget)
	defer tg.Close()
	if c := bench.TargetContract(tg); c.Reads != bench.ReadsLease {
		t.Fatalf("contract reads %q, want %q", c.Reads, bench.ReadsLease)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		if err := peertest.ReadsNeedQuorum(tg); err != nil {
			t.Logf("attempt %d: %v (as the lease contract says)", attempt, err)
			return
		}
	}
	t.Error("a cut-off leader with lease reads never answered a read within its lease")
}
