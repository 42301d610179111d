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
	nodes []*node

	leader        atomic.Pointer[node] // last node seen as leader; a hint
	syncs         atomic.Uint64
	entries       entryCounter
	leaderChanges atomic.Uint64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a cluster and returns once it has a leader.
func New(ctx context.Context, name string, tuned bool, cfg bench.TargetConfig) (*Target, error) {
	kind, err := parseOptions(cfg)
	if err != nil {
		return nil, err
	}
	t := &Target{name: name, fsync: cfg.Fsync, stop: make(chan struct{})}
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

func parseOptions(cfg bench.TargetConfig) (transportKind string, err error) {
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return "", fmt.Errorf("hashicorp: nodes must be in 1..%d, got %d", maxNodes, cfg.Nodes)
	}
	if cfg.Dir == "" {
		return "", errors.New("hashicorp: TargetConfig.Dir is empty")
	}
	transportKind = "inmem"
	for k, v := range cfg.Options {
		switch k {
		case "transport":
			if v != "inmem" && v != "tcp" {
				return "", fmt.Errorf("hashicorp: option transport=%q: want inmem or tcp", v)
			}
			transportKind = v
		default:
			return "", fmt.Errorf("hashicorp: unknown option %q (known: transport)", k)
		}
	}
	return transportKind, nil
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
		n := &node{id: raft.ServerID(fmt.Sprintf("n%d", i+1)), addr: tr.LocalAddr(), trans: tr, store: kv.NewStore()}
		t.nodes = append(t.nodes, n)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: n.id, Address: n.addr})
	}
	for i, n := range t.nodes {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i+1))
		w, snaps, err := openStorage(dir, cfg.Fsync, &t.syncs, &t.entries, logger)
		if err != nil {
			return err
		}
		n.log = w
		rc := raftConfig(n.id, tuned, logger)
		var f raft.FSM = &fsm{store: n.store}
		if tuned {
			f = &batchingFSM{fsm{store: n.store}}
		}
		conf := raft.Configuration{Servers: servers}
		if err := raft.BootstrapCluster(rc, w, w, snaps, n.trans, conf); err != nil {
			return fmt.Errorf("hashicorp: bootstrap %s: %w", n.id, err)
		}
		if n.r, err = raft.NewRaft(rc, f, w, w, snaps, n.trans); err != nil {
			return fmt.Errorf("hashicorp: start %s: %w", n.id, err)
		}
		t.wg.Add(1)
		go t.watchLeadership(n)
	}
	return nil
}

// watchLeadership counts leadership acquisitions of one node.
func (t *Target) watchLeadership(n *node) {
	defer t.wg.Done()
	ch := n.r.LeaderCh()
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

// Stats implements bench.Target.
func (t *Target) Stats() bench.TargetStats {
	s := bench.TargetStats{LeaderChanges: t.leaderChanges.Load()}
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
			if n.r != nil {
				if err := n.r.Shutdown().Error(); err != nil {
					errs = append(errs, fmt.Errorf("shutdown %s: %w", n.id, err))
				}
			}
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
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// Contract: raft-wal fsyncs (when on) before the leader counts an entry and
// before a follower acks it; ApplyFuture answers after the leader's FSM
// applied it; reads as ReadIndex (package doc).
func (t *Target) Contract() bench.Contract {
	return bench.RaftContract(t.fsync, bench.ReadsReadIndex, "Barrier once per leader term, then VerifyLeader (heartbeat quorum) per read, served on the leader")
}

var _ bench.ContractTarget = (*Target)(nil)

// The hashicorp target can isolate a node on the in-memory transport (its
// links to and from every other node cut, as a partition would) but not
// kill and restart one.
var _ bench.FaultTarget = (*Target)(nil)

// Leader returns the node that leads in the highest term.
func (t *Target) Leader() (uint64, uint64) {
	var id, term uint64
	for i, n := range t.nodes {
		if n.r.State() == raft.Leader && n.r.CurrentTerm() > term {
			id, term = uint64(i+1), n.r.CurrentTerm()
		}
	}
	return id, term
}

// Kill is not supported.
func (t *Target) Kill(id uint64) error {
	return errors.New(t.name + " target: kill is not supported (nodes cannot be restarted here); use partition")
}

// Restart is not supported.
func (t *Target) Restart(id uint64) error { return t.Kill(id) }

// Isolate cuts node id (1-based, as Leader numbers them) off from the others.
func (t *Target) Isolate(id uint64) error {
	if id < 1 || id > uint64(len(t.nodes)) {
		return fmt.Errorf("%s target: no node %d", t.name, id)
	}
	iso, ok := t.nodes[id-1].trans.(*raft.InmemTransport)
	if !ok {
		return fmt.Errorf("%s target: partitions need the inmem transport", t.name)
	}
	iso.DisconnectAll()
	for _, n := range t.nodes {
		if it, ok := n.trans.(*raft.InmemTransport); ok && it != iso {
			it.Disconnect(iso.LocalAddr())
		}
	}
	return nil
}

// Heal reconnects every pair of nodes.
func (t *Target) Heal() error {
	for _, a := range t.nodes {
		for _, b := range t.nodes {
			if a != b {
				if at, ok := a.trans.(*raft.InmemTransport); ok {
					at.Connect(b.trans.LocalAddr(), b.trans)
				}
			}
		}
	}
	return nil
}
