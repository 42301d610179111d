package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/chaos/explore"
	"github.com/raftbench/raftbench/chaos/harness"
	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/ui"
)

// runView is `run --ui ADDR`: the live view of the inproc target's
// cluster, with the load generator's own throughput and latency.
type runView struct {
	live *ui.Live
	srv  *ui.Server
	stop func()
}

func startRunView(addr string, t bench.Target, g prometheus.Gatherer) (*runView, error) {
	ct, ok := t.(interface{ Cluster() *cluster.Cluster })
	if !ok {
		return nil, usageError("--ui needs --target inproc (the view reads the nodes of this process)")
	}
	live, stop, err := ui.StartLive(context.Background(), strings.Join(os.Args[1:], " "), ui.ClusterSources(ct.Cluster(), g))
	if err != nil {
		return nil, err
	}
	h := ui.New(ui.Config{Live: live})
	srv, err := ui.Listen(addr, h)
	if err != nil {
		stop()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "live view at %s\n", srv.URL())
	return &runView{live: live, srv: srv, stop: stop}, nil
}

// Progress feeds each second of the run to the view's charts.
func (v *runView) Progress(s bench.IntervalStats) {
	if s.Drain {
		return
	}
	v.live.Load(time.Now(), s.OpsPerSec, s.P50, s.P99)
}

func (v *runView) close() {
	v.srv.Close()
	v.stop()
}

// withView adds the view to a run's progress sink (nil: none).
func withView(sink bench.ProgressSink, v *runView) bench.ProgressSink {
	if sink == nil {
		return v
	}
	return sinks{sink, v}
}

// faultMarker puts every fault a failover run injects on the view's
// timeline before it is applied.
type faultMarker struct {
	bench.FaultTarget
	live *ui.Live
}

func markFaults(t bench.FaultTarget, v *runView) bench.FaultTarget {
	return faultMarker{FaultTarget: t, live: v.live}
}

func (m faultMarker) Kill(id uint64) error {
	m.live.Mark("fault", fmt.Sprintf("kill n%d", id))
	return m.FaultTarget.Kill(id)
}

func (m faultMarker) Restart(id uint64) error {
	m.live.Mark("fault", fmt.Sprintf("restart n%d", id))
	return m.FaultTarget.Restart(id)
}

func (m faultMarker) Isolate(id uint64) error {
	m.live.Mark("fault", fmt.Sprintf("isolate n%d from the others", id))
	return m.FaultTarget.Isolate(id)
}

func (m faultMarker) Heal() error {
	m.live.Mark("fault", "heal the partition")
	return m.FaultTarget.Heal()
}

// sinks fans one progress report out to several sinks.
type sinks []bench.ProgressSink

func (ss sinks) Progress(s bench.IntervalStats) {
	for _, x := range ss {
		x.Progress(s)
	}
}

// chaosView is `chaos --ui ADDR`: the history as it is recorded.
func startChaosView(addr string, cfg *harness.Config) (*ui.Chaos, *ui.Server, error) {
	c := ui.NewChaos(strings.Join(os.Args[1:], " "))
	srv, err := ui.Listen(addr, ui.New(ui.Config{Chaos: c}))
	if err != nil {
		return nil, nil, err
	}
	cfg.Observer = c
	fmt.Fprintf(os.Stderr, "chaos view at %schaos\n", srv.URL())
	return c, srv, nil
}

// waitInterrupt keeps a finished run's view up until Ctrl-C.
func waitInterrupt(url string) {
	fmt.Fprintf(os.Stderr, "view stays at %s until interrupted (Ctrl-C)\n", url)
	ctx, stop := signalContext()
	defer stop()
	<-ctx.Done()
}

// uiRegistry returns the registry the view reads and the one the target
// registers on: reg itself when it is a registry, a fresh one otherwise.
func uiRegistry(reg prometheus.Registerer) (prometheus.Gatherer, prometheus.Registerer) {
	if r, ok := reg.(*prometheus.Registry); ok {
		return r, r
	}
	r := prometheus.NewRegistry()
	return r, r
}

// serveCounterexample is `explore --replay FILE --ui ADDR`: the steps
// replayed on this build, in the file's documented format, as a replay
// view, until Ctrl-C.
func serveCounterexample(addr, file string, cx *explore.Counterexample) error {
	rec, err := ui.RecordCounterexample(cx, "explore --replay "+file)
	if err != nil {
		return err
	}
	replays := ui.NewReplays()
	replays.Add(rec)
	srv, err := ui.Listen(addr, ui.New(ui.Config{Replays: replays}))
	if err != nil {
		return err
	}
	defer srv.Close()
	waitInterrupt(srv.URL() + "sim?seed=0")
	return nil
}
