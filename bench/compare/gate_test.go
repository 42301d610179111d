package compare

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// staleTarget is a deliberately broken system: writes and cas go to a
// leader store, but reads are served locally by a "follower" store that
// applies the leader's writes lagBehind writes late, like a peer adapter
// reading from a follower without ReadIndex. It claims ReadIndex reads
// anyway (claimReads), so only the history check can catch it, or states
// the truth (local reads) to be caught by its contract.
type staleTarget struct {
	fakeTarget
	mu         sync.Mutex
	follower   *kv.Store
	backlog    [][]byte
	lagBehind  int
	claimReads string
}

func (s *staleTarget) Do(ctx context.Context, req bench.Request) (kv.Result, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cmd []byte
	switch req.Op {
	case kv.OpRead:
		return kv.DecodeResult(s.follower.Query(kv.EncodeRead(req.Key)))
	case kv.OpWrite:
		cmd = kv.EncodeWrite(req.Key, req.Value)
	default:
		cmd = kv.EncodeCas(req.Key, req.From, req.Value, false)
	}
	s.writes.Add(1)
	res := s.store.Apply(cmd)
	s.backlog = append(s.backlog, cmd)
	for len(s.backlog) > s.lagBehind {
		s.follower.Apply(s.backlog[0])
		s.backlog = s.backlog[1:]
	}
	return kv.DecodeResult(res)
}

func (s *staleTarget) Contract() bench.Contract {
	return bench.RaftContract(true, s.claimReads, "")
}

func gateConfig(t *testing.T, open func(system string) bench.Target) (Config, string) {
	out := t.TempDir()
	load := bench.DefaultRunConfig()
	p, err := bench.LookupWorkload("a")
	if err != nil {
		t.Fatal(err)
	}
	p.Apply(&load)
	load.Warmup, load.Duration, load.Keys, load.ValueBytes = 50*time.Millisecond, 600*time.Millisecond, 1000, 16
	return Config{
		Systems: []string{"good", "stale", "local"}, Clients: []int{8}, Repeat: 1, Nodes: 3, Fsync: true,
		Load: load, DataDir: t.TempDir(), Out: out, CheckTimeout: 10 * time.Second,
		Open: func(ctx context.Context, system string, tc bench.TargetConfig) (bench.Target, error) {
			return open(system), nil
		},
	}, out
}

// TestGateMarksAStaleReaderNotLinearizable: the broken system is the
// fastest, yet it is marked not linearizable, gets no ratio and is listed
// after the correct one; a system that states local reads is marked as
// having another contract.
func TestGateMarksAStaleReaderNotLinearizable(t *testing.T) {
	cfg, out := gateConfig(t, func(system string) bench.Target {
		switch system {
		case "stale":
			return &staleTarget{fakeTarget: fakeTarget{name: system, delay: 50 * time.Microsecond, store: kv.NewStore()},
				follower: kv.NewStore(), lagBehind: 20, claimReads: bench.ReadsReadIndex}
		case "local":
			// Lag 0: its reads happen to be fresh, but it states local reads.
			return &staleTarget{fakeTarget: fakeTarget{name: system, delay: 50 * time.Microsecond, store: kv.NewStore()},
				follower: kv.NewStore(), lagBehind: 0, claimReads: bench.ReadsLocal}
		}
		return &fakeTarget{name: system, delay: 500 * time.Microsecond, store: kv.NewStore()}
	})
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	var order []string
	for _, r := range res.Rows {
		rows[r.System] = r
		order = append(order, r.System)
	}
	good, stale, local := rows["good"], rows["stale"], rows["local"]
	if good.Linearizable != "linearizable" || good.Gate != "" || good.CheckedOps == 0 {
		t.Errorf("correct system: %+v", good)
	}
	if stale.Linearizable != "not-linearizable" || stale.Gate != GateNotLinearizable || stale.VsBestOther != 0 {
		t.Errorf("stale reader: %+v", stale)
	}
	if stale.OpsMedian <= good.OpsMedian {
		t.Logf("note: the stale system was not faster here (%.0f vs %.0f ops/s)", stale.OpsMedian, good.OpsMedian)
	}
	if local.Gate != GateContract || local.VsBestOther != 0 || !strings.Contains(local.Contract, "local reads") {
		t.Errorf("local-read system: %+v", local)
	}
	if order[0] != "good" {
		t.Errorf("rows in order %v: a gated row is listed above the ranked one", order)
	}
	if res.ReferenceContract != "quorum-fsync, readindex reads" {
		t.Errorf("reference contract %q", res.ReferenceContract)
	}
	md, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**stale (NOT LINEARIZABLE)**", "not ranked: not linearizable", "not ranked: contract differs (quorum-fsync, local reads vs quorum-fsync, readindex reads)", "porcupine view", "| good | 8 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
	var vis string
	for _, r := range res.Runs {
		if r.System == "stale" && r.Check != nil {
			vis = r.Check.Visualization
		}
	}
	if st, err := os.Stat(filepath.Join(out, vis)); vis == "" || err != nil || st.Size() == 0 {
		t.Errorf("no porcupine visualization of the bad key (%q, %v)", vis, err)
	}
	// Re-summarising keeps the verdicts.
	again, err := Redraw(out)
	if err != nil || again.Rows[len(again.Rows)-1].Gate == "" {
		t.Fatalf("Redraw: %v, rows %+v", err, again.Rows)
	}
}

func TestReferenceContractIsTheMostCommon(t *testing.T) {
	ri := bench.RaftContract(true, bench.ReadsReadIndex, "")
	lease := bench.RaftContract(true, bench.ReadsLease, "")
	nofsync := bench.RaftContract(false, bench.ReadsReadIndex, "")
	for _, c := range []struct {
		contracts map[string]bench.Contract
		want      string
	}{
		{map[string]bench.Contract{"a": lease, "b": lease, "c": ri}, lease.Class()},
		{map[string]bench.Contract{"a": lease, "b": ri}, ri.Class()},   // tie: the stronger reads
		{map[string]bench.Contract{"a": nofsync, "b": ri}, ri.Class()}, // tie: quorum fsync
		{map[string]bench.Contract{"a": {}, "b": {}, "c": nofsync}, nofsync.Class()},
	} {
		if got := referenceClass([]string{"a", "b", "c"}, c.contracts); got != c.want {
			t.Errorf("referenceClass(%v) = %q, want %q", c.contracts, got, c.want)
		}
	}
}

func TestNoCheckLeavesEveryRowUnranked(t *testing.T) {
	cfg, _ := gateConfig(t, func(system string) bench.Target {
		return &fakeTarget{name: system, delay: 200 * time.Microsecond, store: kv.NewStore()}
	})
	cfg.Systems, cfg.NoCheck = []string{"x", "y"}, true
	cfg.Load.Duration = 200 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if r.Gate != GateUnchecked || r.VsBestOther != 0 {
			t.Errorf("row without a check: %+v", r)
		}
	}
}
