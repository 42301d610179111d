//go:build unix

package ui_test

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/ui"
)

// BenchmarkLiveSample is the view's whole cost per sample of a 3-node
// cluster: every node's Status (one trip through its loop), counters,
// one Prometheus gather per node, the frame, and its JSON for one open
// stream. The live view takes two samples a second, so the CPU share it
// costs is 2 × ns/op per second.
func BenchmarkLiveSample(b *testing.B) {
	reg := prometheus.NewRegistry()
	c, err := cluster.StartInProc(context.Background(), cluster.Config{Nodes: 3, Dir: b.TempDir(), Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	if _, err := c.WaitLeader(context.Background()); err != nil {
		b.Fatal(err)
	}
	l, err := ui.NewLive(ui.LiveConfig{Sources: ui.ClusterSources(c, reg)})
	if err != nil {
		b.Fatal(err)
	}
	// The idle cluster's own CPU (ticks, heartbeats) over one second,
	// subtracted from the loop's, leaves the view's CPU per sample.
	idleStart, cpuStart := time.Now(), processCPU()
	time.Sleep(time.Second)
	idleRate := float64(processCPU()-cpuStart) / float64(time.Since(idleStart))
	b.ReportAllocs()
	start, cpu0 := time.Now(), processCPU()
	n := 0
	for b.Loop() {
		ui.SampleOnce(l)
		f, _ := l.Frame()
		if _, err := json.Marshal(f); err != nil {
			b.Fatal(err)
		}
		n++
	}
	viewCPU := float64(processCPU()-cpu0) - idleRate*float64(time.Since(start))
	b.ReportMetric(viewCPU/float64(n), "cpu-ns/op")
}

// processCPU is this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
