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
