package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// faultyFake is a fake cluster whose leader can be killed: requests fail
// as unavailable until electAfter has passed, then node 2 leads in term 2.
type faultyFake struct {
	*fakeTarget
	electAfter time.Duration
	mu         sync.Mutex
	killedAt   time.Time
	killed     uint64
	restarted  bool
}

func (f *faultyFake) Leader() (uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.killedAt.IsZero():
		return 1, 1
	case time.Since(f.killedAt) < f.electAfter:
		return 0, 0
	}
	return 2, 2
}

func (f *faultyFake) Kill(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killedAt, f.killed = time.Now(), id
	return nil
}

func (f *faultyFake) Restart(id uint64) error {
	f.mu.Lock()
	f.restarted = true
	f.mu.Unlock()
	return nil
}
func (f *faultyFake) Isolate(id uint64) error { return f.Kill(id) }
func (f *faultyFake) Heal() error             { return f.Restart(0) }

func (f *faultyFake) Do(ctx context.Context, req Request) (kv.Result, error) {
	if id, _ := f.Leader(); id == 0 {
		time.Sleep(time.Millisecond)
		return kv.Result{}, ErrUnavailable
	}
	return f.fakeTarget.Do(ctx, req)
}

func TestFailoverMeasuresTheGap(t *testing.T) {
	f := &faultyFake{fakeTarget: newFake(), electAfter: 300 * time.Millisecond}
	cfg := FailoverConfig{Run: shortConfig(), Fault: FaultKill, At: 400 * time.Millisecond, For: 600 * time.Millisecond}
	cfg.Run.Duration = 1500 * time.Millisecond
	res, err := Failover(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.killed != 1 || !f.restarted || res.OldLeader != 1 || res.NewLeader != 2 {
		t.Fatalf("killed %d restarted %v, result %+v", f.killed, f.restarted, res)
	}
	// The poll can run late on a busy machine; the clients' side cannot
	// see a write before the election.
	if res.NewLeaderMs < 300 || res.NewLeaderMs > 800 {
		t.Errorf("new leader after %.1f ms, want about 300", res.NewLeaderMs)
	}
	if res.FirstWriteMs < 300 || res.FirstWriteMs > 500 {
		t.Errorf("first write after %.1f ms, want about 300", res.FirstWriteMs)
	}
	if res.Failed == 0 || res.Unknown != 0 {
		t.Errorf("failed %d unknown %d during the fault", res.Failed, res.Unknown)
	}
	if len(res.Phases) != 3 || res.Phases[0].Ops == 0 || res.Phases[2].Ops == 0 || res.Phases[1].Errors["unavailable"] != res.Failed {
		t.Errorf("phases %+v", res.Phases)
	}
	var total uint64
	for _, p := range res.Phases {
		total += p.Ops
	}
	if total != res.Summary.Ops {
		t.Errorf("phases hold %d ops, the summary %d", total, res.Summary.Ops)
	}
	gap := false
	for _, p := range res.Timeline {
		if p.T >= 0.1 && p.T < 0.2 && p.OpsPerSec == 0 && p.Errors > 0 {
			gap = true
		}
	}
	if !gap || len(res.Timeline) < 14 {
		t.Errorf("timeline shows no gap: %+v", res.Timeline)
	}
	bad := cfg
	bad.Fault = "reboot"
	if _, err := Failover(context.Background(), bad, f, nil); err == nil {
		t.Error("unknown fault accepted")
	}
}
