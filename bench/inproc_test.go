package bench

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

func TestInprocTargetSmoke(t *testing.T) {
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tg.Close(); err != nil {
			t.Error(err)
		}
	}()
	cfg := shortConfig()
	cfg.Clients = 8
	sum, err := Run(ctx, cfg, tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ops == 0 || sum.Errors != 0 || sum.Results.OK == 0 {
		t.Fatalf("ops %d errors %d %v results %+v", sum.Ops, sum.Errors, sum.ErrorsByKind, sum.Results)
	}
	if sum.EntriesPerFsync == nil || *sum.EntriesPerFsync <= 0 || sum.FsyncsPerSec == nil {
		t.Errorf("fsync figures missing: %v %v", sum.EntriesPerFsync, sum.FsyncsPerSec)
	}
	// The WALs' cycle, summed over the nodes and averaged per group
	// commit over the measured window.
	if l := tg.Stats().Log; l.Flushes == 0 || l.FsyncNanos == 0 || l.WriteNanos == 0 {
		t.Errorf("log cycle %+v", l)
	}
	if c := sum.LogCycleUs; c == nil || c.Fsync <= 0 || c.Write <= 0 {
		t.Errorf("summary's log cycle %+v", c)
	}
	// Every node applied the writes: three stores' memory, each more
	// than an empty store's.
	empty := kv.NewStore().MemoryBytes()
	if n := tg.(StateSizer).StateBytes(); n <= 3*empty {
		t.Errorf("StateBytes %d after %d writes, want more than 3 empty stores' %d", n, sum.Results.OK, 3*empty)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) == 0 {
		t.Errorf("in-process nodes registered no metrics (%v)", err)
	}
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"x": "y"}}); err == nil {
		t.Error("inproc accepted an unknown option")
	}
}

// TestInprocTransports: the inproc target over TCP on loopback and over
// an embedded NATS broker serves the same load without errors and counts
// what its transports carried; bad transport options are refused.
func TestInprocTransports(t *testing.T) {
	for _, tr := range []string{TransportTCP, TransportNATS} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: false,
				Options: map[string]string{"transport": tr}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := tg.Close(); err != nil {
					t.Error(err)
				}
			}()
			if tg.Name() != "inproc-"+tr {
				t.Errorf("name %q", tg.Name())
			}
			cfg := shortConfig()
			cfg.Clients = 8
			sum, err := Run(ctx, cfg, tg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Ops == 0 || sum.Errors != 0 {
				t.Fatalf("ops %d errors %d %v", sum.Ops, sum.Errors, sum.ErrorsByKind)
			}
			s := tg.(*inprocTarget).TransportStats()
			if s.Sent == 0 || s.BytesSent == 0 || s.Writes == 0 {
				t.Fatalf("transport stats %+v", s)
			}
		})
	}
	ctx := context.Background()
	for _, opts := range []map[string]string{
		{"transport": "udp"},
		{"nats-url": "nats://127.0.0.1:4222"},
		{"transport": "nats", "nats-url": "nats://127.0.0.1:1"},
	} {
		if tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: opts}); err == nil {
			tg.Close()
			t.Errorf("options %v accepted", opts)
		}
	}
}
