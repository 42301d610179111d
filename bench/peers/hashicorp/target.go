package hashicorp

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peerutil"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

func init() {
	bench.Register("hashicorp", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		return New(ctx, "hashicorp", false, cfg)
	})
	bench.Register("hashicorp-tuned", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		return New(ctx, "hashicorp-tuned", true, cfg)
	})
}

// Limits.
const (
	maxNodes = 9
	// leaderWait bounds how long one operation waits for a leader.
	leaderWait = 10 * time.Second
	// maxRetries bounds definite-failure retries of one operation.
	maxRetries = 100
	// barrierTimeout bounds how long a barrier waits to be enqueued.
	barrierTimeout = 5 * time.Second
)

// Target is an in-process hashicorp/raft cluster.
type Target struct {
	name  string
	fsync bool
	tuned bool
	model *bench.ModelDisk // option model-fsync, or nil
	nodes []*node

	leader        atomic.Pointer[node] // last node seen as leader; a hint
	syncs         atomic.Uint64
	entries       entryCounter
	leaderChanges atomic.Uint64
	snapshots     atomic.Uint64 // FSM snapshots raft asked for, every node

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a cluster and returns once it has a leader.
func New(ctx context.Context, name string, tuned bool, cfg bench.TargetConfig) (*Target, error) {
	kind, model, err := parseOptions(cfg)
	if err != nil {
		return nil, err
	}
	t := &Target{name: name, fsync: cfg.Fsync, tuned: tuned, model: model, stop: make(chan struct{})}
	if err := t.start(cfg, tuned, kind); err != nil {
		t.Close()
		return nil, err
	}
	if _, err := t.waitLeader(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: no leader elected: %w", name, err)
	}
	if err := peerutil.RegisterMetrics(cfg.Registerer, name, t.Stats); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func parseOptions(cfg bench.TargetConfig) (transportKind string, model *bench.ModelDisk, err error) {
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return "", nil, fmt.Errorf("hashicorp: nodes must be in 1..%d, got %d", maxNodes, cfg.Nodes)
	}
	if cfg.Dir == "" {
		return "", nil, errors.New("hashicorp: TargetConfig.Dir is empty")
	}
	if cfg.ElectionTimeout < 0 || (cfg.ElectionTimeout > 0 && cfg.ElectionTimeout < 10*time.Millisecond) {
		return "", nil, fmt.Errorf("hashicorp: election timeout %v: want 0 (default) or at least 10ms", cfg.ElectionTimeout)
	}
	transportKind = "inmem"
	for k, v := range cfg.Options {
		switch k {
		case "transport":
			if v != "inmem" && v != "tcp" {
				return "", nil, fmt.Errorf("hashicorp: option transport=%q: want inmem or tcp", v)
			}
			transportKind = v
		case bench.ModelFsyncOption:
			if model, err = bench.NewModelDisk("hashicorp", v, cfg.Fsync); err != nil {
				return "", nil, err
			}
		default:
			return "", nil, fmt.Errorf("hashicorp: unknown option %q (known: transport, %s)", k, bench.ModelFsyncOption)
		}
	}
	return transportKind, model, nil
}

// start opens every node's storage, bootstraps the same configuration on
// each (the documented way to start a fixed cluster) and starts raft.
func (t *Target) start(cfg bench.TargetConfig, tuned bool, kind string) error {
	logger := hclogger(cfg.Logger)
	transports, err := newTransports(cfg.Nodes, kind)
	if err != nil {
		return err
	}
	var servers []raft.Server
	for i, tr := range transports {
		n := &node{id: raft.ServerID(fmt.Sprintf("n%d", i+1)), addr: tr.LocalAddr(), trans: tr}
		t.nodes = append(t.nodes, n)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: n.id, Address: n.addr})
	}
	for i, n := range t.nodes {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i+1))
		w, snaps, err := openStorage(dir, cfg.Fsync, t.model, &t.syncs, &t.entries, logger)
		if err != nil {
			return err
		}
		n.log, n.snaps = w, snaps
		n.conf = raftConfig(n.id, tuned, logger, cfg.ElectionTimeout)
		conf := raft.Configuration{Servers: servers}
		if err := raft.BootstrapCluster(n.conf, w, w, snaps, n.trans, conf); err != nil {
			return fmt.Errorf("hashicorp: bootstrap %s: %w", n.id, err)
		}
		if err := t.startLife(n); err != nil {
			return err
		}
	}
	return nil
}

// startLife starts raft on n's storage with a fresh FSM, which raft
// fills from the latest snapshot and the log.
func (t *Target) startLife(n *node) error {
	l := &life{store: kv.NewStore(), down: make(chan struct{})}
	var f raft.FSM = &fsm{store: l.store, snapshots: &t.snapshots}
	if t.tuned {
		f = &batchingFSM{fsm{store: l.store, snapshots: &t.snapshots}}
	}
	var err error
	if l.r, err = raft.NewRaft(n.conf, f, n.log, n.log, n.snaps, n.trans); err != nil {
		return fmt.Errorf("hashicorp: start %s: %w", n.id, err)
	}
	n.cur.Store(l)
	t.wg.Add(1)
	go t.watchLeadership(n, l)
	return nil
}

// watchLeadership counts leadership acquisitions of one node's life.
func (t *Target) watchLeadership(n *node, l *life) {
	defer t.wg.Done()
	ch := l.r.LeaderCh()
	for {
		select {
		case isLeader := <-ch:
			if isLeader {
				t.leaderChanges.Add(1)
				t.leader.Store(n)
			}
		case <-t.stop:
			return
		}
	}
}

// Name implements bench.Target.
func (t *Target) Name() string { return t.name }

// ElectionTimeout implements bench.TimedTarget: the base after which a
// follower without contact starts an election.
func (t *Target) ElectionTimeout() time.Duration { return t.nodes[0].conf.HeartbeatTimeout }

// Stats implements bench.Target.
func (t *Target) Stats() bench.TargetStats {
	s := bench.TargetStats{LeaderChanges: t.leaderChanges.Load(), Snapshots: t.snapshots.Load(), SnapshotsCounted: true}
	if t.fsync {
		s.Fsyncs = t.syncs.Load()
		s.FsyncEntries = t.entries.entries.Load()
	}
	return s
}

// Close shuts every node down and closes its files and transport.
func (t *Target) Close() error {
	t.closeOnce.Do(func() {
		close(t.stop)
		var errs []error
		for _, n := range t.nodes {
			n.lifeMu.Lock()
			if l := n.cur.Load(); l != nil && !n.down.Load() {
				if err := l.r.Shutdown().Error(); err != nil {
					errs = append(errs, fmt.Errorf("shutdown %s: %w", n.id, err))
				}
			}
			n.lifeMu.Unlock()
		}
		t.wg.Wait()
		for _, n := range t.nodes {
			if n.log != nil {
				if err := n.log.Close(); err != nil {
					errs = append(errs, fmt.Errorf("close wal %s: %w", n.id, err))
				}
			}
			if err := n.trans.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close transport %s: %w", n.id, err))
			}
		}
		if t.model != nil {
			t.model.Close()
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// Contract: raft-wal fsyncs (when on) before the leader counts an entry and
// before a follower acks it; ApplyFuture answers after the leader's FSM
// applied it; reads as ReadIndex (package doc).
func (t *Target) Contract() bench.Contract {
	c := bench.RaftContract(t.fsync, bench.ReadsReadIndex, "Barrier once per leader term, then VerifyLeader (heartbeat quorum) per read, served on the leader; "+
		"VerifyLeader also counts replies to appends already in flight when the read began, so its confirmation can predate the read by one round trip (safe while followers refuse votes as long as they hear from a leader)")
	if t.model != nil {
		c = t.model.Contract(c)
	}
	return c
}

var _ bench.ContractTarget = (*Target)(nil)

// The hashicorp target can isolate, kill and restart a node on the
// in-memory transport.
var _ bench.FaultTarget = (*Target)(nil)

// Leader returns the node that leads in the highest term.
func (t *Target) Leader() (uint64, uint64) {
	var id, term uint64
	for i, n := range t.nodes {
		r := n.cur.Load().r
		if r.State() == raft.Leader && r.CurrentTerm() > term {
			id, term = uint64(i+1), r.CurrentTerm()
		}
	}
	return id, term
}

// Kill crashes node id (1-based): its links are cut (peers' requests to
// it fail at once, as to a dead process's port), raft is shut down and
// its FSM's state is lost; its raft-wal and snapshot store stay for
// Restart. In-memory transport only.
func (t *Target) Kill(id uint64) error {
	n, iso, err := t.inmemNode(id)
	if err != nil {
		return err
	}
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.down.Load() {
		return fmt.Errorf("%s target: node %d is already down", t.name, id)
	}
	n.down.Store(true)
	t.cut(iso)
	l := n.cur.Load()
	close(l.down)
	if err := l.r.Shutdown().Error(); err != nil {
		return fmt.Errorf("%s target: shut down node %d: %w", t.name, id, err)
	}
	return nil
}

// Restart brings a killed node back as a restarting process would:
// raft.NewRaft over the same raft-wal and snapshot store with a fresh FSM
// (restored from the latest snapshot; later entries are applied again as
// raft learns they are committed), and its links restored.
func (t *Target) Restart(id uint64) error {
	n, iso, err := t.inmemNode(id)
	if err != nil {
		return err
	}
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if !n.down.Load() {
		return fmt.Errorf("%s target: node %d is running", t.name, id)
	}
	if err := t.startLife(n); err != nil {
		return err
	}
	n.down.Store(false)
	for _, o := range t.nodes {
		if ot, ok := o.trans.(*raft.InmemTransport); ok && ot != iso {
			ot.Connect(iso.LocalAddr(), iso)
			iso.Connect(ot.LocalAddr(), ot)
		}
	}
	return nil
}

// Isolate cuts node id (1-based, as Leader numbers them) off from the others.
func (t *Target) Isolate(id uint64) error {
	_, iso, err := t.inmemNode(id)
	if err != nil {
		return err
	}
	t.cut(iso)
	return nil
}

func (t *Target) inmemNode(id uint64) (*node, *raft.InmemTransport, error) {
	if id < 1 || id > uint64(len(t.nodes)) {
		return nil, nil, fmt.Errorf("%s target: no node %d", t.name, id)
	}
	n := t.nodes[id-1]
	iso, ok := n.trans.(*raft.InmemTransport)
	if !ok {
		return nil, nil, fmt.Errorf("%s target: partitions and kills need the inmem transport", t.name)
	}
	return n, iso, nil
}

// cut disconnects iso from every other node, both ways.
func (t *Target) cut(iso *raft.InmemTransport) {
	iso.DisconnectAll()
	for _, n := range t.nodes {
		if it, ok := n.trans.(*raft.InmemTransport); ok && it != iso {
			it.Disconnect(iso.LocalAddr())
		}
	}
}

// Heal reconnects every pair of running nodes.
func (t *Target) Heal() error {
	for _, a := range t.nodes {
		for _, b := range t.nodes {
			if a != b && !a.down.Load() && !b.down.Load() {
				if at, ok := a.trans.(*raft.InmemTransport); ok {
					at.Connect(b.trans.LocalAddr(), b.trans)
				}
			}
		}
	}
	return nil
}
