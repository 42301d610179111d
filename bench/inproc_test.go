package bench

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	mfs, err := reg.Gather()
	if err != nil || len(mfs) == 0 {
		t.Errorf("in-process nodes registered no metrics (%v)", err)
	}
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"x": "y"}}); err == nil {
		t.Error("inproc accepted an unknown option")
	}
}
