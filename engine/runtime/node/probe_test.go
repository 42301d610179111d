package node_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// stageProbe keeps, per node and stage, the highest index reported and
// the indexes reported one by one (queued, returned) with their times.
type stageProbe struct {
	mu   sync.Mutex
	high map[[2]uint64]uint64
	one  map[[2]uint64]map[uint64]time.Time
}

func (p *stageProbe) Mark(id uint64, s node.Stage, first, last uint64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]uint64{id, uint64(s)}
	p.high[k] = max(p.high[k], last)
	if first != 0 {
		if first != last {
			panic("per-index stage reported a range")
		}
		if p.one[k] == nil {
			p.one[k] = map[uint64]time.Time{}
		}
		p.one[k][first] = at
	}
}

// TestProbeReportsEveryStage: with a Probe set, every acknowledged write
// is reported at every stage on the leader and on both followers (acks
// under the follower's id), and the per-index stages name the write's
// own index.
func TestProbeReportsEveryStage(t *testing.T) {
	p := &stageProbe{high: map[[2]uint64]uint64{}, one: map[[2]uint64]map[uint64]time.Time{}}
	c := startCluster(t, 3, func(cfg *Config) { cfg.NodeConfig = func(nc *node.Config) { nc.Probe = p } })
	for i := range 20 {
		mustWrite(t, c, "k"+strconv.Itoa(i), "v")
	}
	lead := c.Leader().ID()
	// A commit needs only a majority: one follower's ack and either the
	// leader's own write or the other follower's ack. Give the third
	// report of the last write (its ack, or the leader's own fsync
	// reported to the core) time to arrive.
	waitFor(t, "every replica's report of the last write", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		var last uint64
		for idx := range p.one[[2]uint64{lead, uint64(node.StageReturned)}] {
			last = max(last, idx)
		}
		if p.high[[2]uint64{lead, uint64(node.StageReleased)}] < last {
			return false
		}
		for _, id := range c.IDs() {
			if id != lead && p.high[[2]uint64{id, uint64(node.StageAckStepped)}] < last {
				return false
			}
		}
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	queued := p.one[[2]uint64{lead, uint64(node.StageQueued)}]
	returned := p.one[[2]uint64{lead, uint64(node.StageReturned)}]
	if len(queued) < 20 || len(returned) < 20 {
		t.Fatalf("leader %d reported %d queued and %d returned proposals, want 20 each", lead, len(queued), len(returned))
	}
	answered := p.one[[2]uint64{lead, uint64(node.StageAnswered)}]
	var last uint64
	for idx, at := range returned {
		q, ok := queued[idx]
		if !ok || at.Before(q) {
			t.Fatalf("index %d returned at %v, queued at %v (reported %v)", idx, at, q, ok)
		}
		if a, ok := answered[idx]; !ok || a.Before(q) || at.Before(a) {
			t.Fatalf("index %d answered at %v (reported %v), queued at %v, returned at %v", idx, a, ok, q, at)
		}
		last = max(last, idx)
	}
	for _, s := range []node.Stage{node.StageProposed, node.StageHanded, node.StageDurable, node.StageReleased, node.StageCommitted} {
		if got := p.high[[2]uint64{lead, uint64(s)}]; got < last {
			t.Errorf("leader: stage %v reached index %d, want >= %d", s, got, last)
		}
	}
	for _, id := range c.IDs() {
		if id == lead {
			continue
		}
		for _, s := range []node.Stage{node.StageReceived, node.StageStepped, node.StageHanded, node.StageDurable, node.StageAckReceived, node.StageAckStepped} {
			if got := p.high[[2]uint64{id, uint64(s)}]; got < last {
				t.Errorf("follower %d: stage %v reached index %d, want >= %d", id, s, got, last)
			}
		}
		if got := p.high[[2]uint64{id, uint64(node.StageProposed)}]; got != 0 {
			t.Errorf("follower %d reported proposals up to %d", id, got)
		}
	}
}

// readStageProbe is a stageProbe that also takes the ReadIndex rounds'
// stages (node.ReadProbe), per node and round.
type readStageProbe struct {
	stageProbe
	rounds map[[2]uint64]*[node.NumReadStages]time.Time
}

func (p *readStageProbe) MarkRead(id, round uint64, s node.ReadStage, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]uint64{id, round}
	if p.rounds[k] == nil {
		p.rounds[k] = new([node.NumReadStages]time.Time)
	}
	if p.rounds[k][s].IsZero() {
		p.rounds[k][s] = at
	}
}

// TestReadProbeReportsEveryStage: with a Probe that also implements
// ReadProbe, every read is reported on the node that served it at every
// read stage, in path order, and a Probe without it still gets the
// write stages alone.
func TestReadProbeReportsEveryStage(t *testing.T) {
	p := &readStageProbe{stageProbe: stageProbe{high: map[[2]uint64]uint64{}, one: map[[2]uint64]map[uint64]time.Time{}},
		rounds: map[[2]uint64]*[node.NumReadStages]time.Time{}}
	c := startCluster(t, 3, func(cfg *Config) { cfg.NodeConfig = func(nc *node.Config) { nc.Probe = p } })
	mustWrite(t, c, "k", "v")
	const reads = 10
	for range reads {
		if v, ok := mustRead(t, c, "k"); !ok || v != "v" {
			t.Fatalf("read k = %q, %v", v, ok)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	complete := 0
	for k, st := range p.rounds {
		for s := node.ReadQueued; s < node.NumReadStages; s++ {
			if st[s].IsZero() {
				t.Fatalf("node %d round %d: no %v stage (stages %v)", k[0], k[1], s, st)
			}
			if s > node.ReadQueued && st[s].Before(st[s-1]) {
				t.Errorf("node %d round %d: %v at %v before %v at %v", k[0], k[1], s, st[s], s-1, st[s-1])
			}
		}
		complete++
	}
	if complete < reads {
		t.Errorf("%d complete read rounds reported, want one per read (%d)", complete, reads)
	}
	if p.high[[2]uint64{c.Leader().ID(), uint64(node.StageReturned)}] == 0 {
		t.Error("the write's stages were not reported beside the reads'")
	}
}
