package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	raftpb "go.etcd.io/raft/v3/raftpb"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/peers/peerutil"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

func init() {
	bench.Register("etcd", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		return New(ctx, cfg)
	})
	// Deliberately broken, to see compare's correctness gate at work:
	// `raftbench compare --systems raftbench,etcd,etcd-follower-reads`.
	bench.Register("etcd-follower-reads", func(ctx context.Context, cfg bench.TargetConfig) (bench.Target, error) {
		opts := map[string]string{"reads": ReadsFollowerLocal}
		for k, v := range cfg.Options {
			if k != bench.ModelFsyncOption {
				return nil, fmt.Errorf("etcd-follower-reads: unknown option %q (the only one is %s)", k, bench.ModelFsyncOption)
			}
			opts[k] = v
		}
		cfg.Options = opts
		return New(ctx, cfg)
	})
}

const (
	maxNodes = 9
	// leaderWait bounds how long one operation waits for a leader.
	leaderWait = 10 * time.Second
	// applyWait bounds how long a proposal waits to be applied.
	applyWait = 10 * time.Second
	// maxRetries bounds definite-failure retries of one operation.
	maxRetries = 100
)

var (
	errClosed         = errors.New("etcd: target closed")
	errLeadershipLost = errors.New("etcd: leadership lost before the proposal applied; outcome unknown")
	errReadRetry      = errors.New("etcd: read index request lost")
)

// Target is an in-process etcd-io/raft cluster.
type Target struct {
	fsync        bool
	model        *bench.ModelDisk // option model-fsync, or nil
	electionTick int
	nodes        []*node
	isolated     atomic.Uint64 // node cut off by Isolate (0: none)
	// followerReads: Options["reads"] = ReadsFollowerLocal (deliberately
	// unsafe): reads served from a follower's state without ReadIndex.
	followerReads bool
	nextFollower  atomic.Uint64
	seq           atomic.Uint64 // request ids

	fsyncs, fsyncEntries   atomic.Uint64
	appendMsgs, appendEnts atomic.Uint64
	leaderChanges          atomic.Uint64
	snapshots              atomic.Uint64 // maybeSnapshot's, every node

	logger    raft.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	stop      chan struct{}
	failOnce  sync.Once
	failErr   atomic.Pointer[error]
	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a cluster and returns once it has a leader.
func New(ctx context.Context, cfg bench.TargetConfig) (*Target, error) {
	model, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	t := &Target{fsync: cfg.Fsync, model: model, followerReads: cfg.Options["reads"] == ReadsFollowerLocal, stop: make(chan struct{})}
	if t.electionTick, err = bench.ElectionTicks(cfg.ElectionTimeout, tickInterval, electionTick); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if err := t.start(cfg); err != nil {
		t.Close()
		return nil, err
	}
	if _, err := t.waitLeader(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("etcd: no leader elected: %w", err)
	}
	if err := peerutil.RegisterMetrics(cfg.Registerer, "etcd", t.Stats); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// checkConfig refuses a bad configuration and returns the modelled disk
// the options ask for (nil: real fsyncs).
func checkConfig(cfg bench.TargetConfig) (*bench.ModelDisk, error) {
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return nil, fmt.Errorf("etcd: nodes must be in 1..%d, got %d", maxNodes, cfg.Nodes)
	}
	if cfg.Dir == "" {
		return nil, errors.New("etcd: TargetConfig.Dir is empty")
	}
	var model *bench.ModelDisk
	for k, v := range cfg.Options {
		switch k {
		case "reads":
			if v != "readindex" && v != ReadsFollowerLocal {
				return nil, fmt.Errorf("etcd: option reads=%q (want readindex, or %s: deliberately unsafe)", v, ReadsFollowerLocal)
			}
		case bench.ModelFsyncOption:
			m, err := bench.NewModelDisk("etcd", v, cfg.Fsync)
			if err != nil {
				return nil, err
			}
			model = m
		default:
			return nil, fmt.Errorf("etcd: unknown option %q (known: reads, %s)", k, bench.ModelFsyncOption)
		}
	}
	return model, nil
}

func (t *Target) start(cfg bench.TargetConfig) error {
	t.logger = raftLogger(cfg.Logger)
	peers := make([]raft.Peer, cfg.Nodes)
	for i := range peers {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
	}
	for i := range cfg.Nodes {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		lf, err := openLogFile(filepath.Join(dir, "raft.log"), cfg.Fsync, t.model)
		if err != nil {
			return err
		}
		t.nodes = append(t.nodes, &node{
			id: uint64(i + 1), t: t, storage: raft.NewMemoryStorage(), log: lf,
			inbox: make(chan *raftpb.Message, inboxCap), waits: newWaitRegistry(),
		})
	}
	for _, n := range t.nodes {
		n.start(t.ctx, raft.StartNode(n.raftConfig(t.logger), peers), kv.NewStore())
	}
	return nil
}

// send delivers a Ready's messages (from the node whose raft.Node is
// rn) to the peers' inboxes; a message to a node that is down is lost.
func (t *Target) send(from *node, rn raft.Node, msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if m.GetType() == raftpb.MsgApp {
			t.appendMsgs.Add(1)
			t.appendEnts.Add(uint64(len(m.GetEntries())))
		}
		if to < 1 || to > uint64(len(t.nodes)) {
			continue // not a member; raft never addresses one
		}
		if iso := t.isolated.Load(); (iso != 0 && (iso == to || iso == from.id)) || t.nodes[to-1].cur.Load() == nil {
			rn.ReportUnreachable(to) // a partition or a dead peer: the message is lost
			if m.GetType() == raftpb.MsgSnap {
				rn.ReportSnapshot(to, raft.SnapshotFailure)
			}
			continue
		}
		select {
		case t.nodes[to-1].inbox <- m:
			if m.GetType() == raftpb.MsgSnap {
				rn.ReportSnapshot(to, raft.SnapshotFinish)
			}
		default:
			rn.ReportUnreachable(to)
			if m.GetType() == raftpb.MsgSnap {
				rn.ReportSnapshot(to, raft.SnapshotFailure)
			}
		}
	}
}

// fail records the first fatal node error; Do reports it from then on.
func (t *Target) fail(err error) {
	t.failOnce.Do(func() { t.failErr.Store(&err) })
}

func (t *Target) failed() error {
	if p := t.failErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Name implements bench.Target.
func (t *Target) Name() string { return "etcd" }

// ElectionTimeout implements bench.TimedTarget.
func (t *Target) ElectionTimeout() time.Duration { return time.Duration(t.electionTick) * tickInterval }

// Stats implements bench.Target.
func (t *Target) Stats() bench.TargetStats {
	return bench.TargetStats{
		Fsyncs:        t.fsyncs.Load(),
		FsyncEntries:  t.fsyncEntries.Load(),
		AppendMsgs:    t.appendMsgs.Load(),
		AppendEntries: t.appendEnts.Load(),
		LeaderChanges: t.leaderChanges.Load(),
		Snapshots:     t.snapshots.Load(), SnapshotsCounted: true,
	}
}

// Close stops every node and closes its log file.
func (t *Target) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		close(t.stop)
		for _, n := range t.nodes {
			n.lifeMu.Lock()
			if l := n.cur.Load(); l != nil {
				l.rn.Stop()
				l.wg.Wait()
			}
			n.lifeMu.Unlock()
		}
		var errs []error
		for _, n := range t.nodes {
			n.waits.answerAll(result{err: errClosed})
			if err := n.log.close(); err != nil {
				errs = append(errs, fmt.Errorf("etcd: close log of node %d: %w", n.id, err))
			}
		}
		if err := t.failed(); err != nil {
			errs = append(errs, err)
		}
		if t.model != nil {
			t.model.Close()
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// raftLogger routes the library's log to logger, or discards it.
func raftLogger(logger *slog.Logger) raft.Logger {
	if logger == nil {
		return &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}
	}
	return &raft.DefaultLogger{Logger: slog.NewLogLogger(logger.Handler(), slog.LevelInfo)}
}

// Contract: the classic Ready loop persists (fdatasync, when on) before
// sending and applying, so an entry is answered only once durable on the
// leader and a quorum; reads by ReadIndex (ReadOnlySafe).
func (t *Target) Contract() bench.Contract {
	c := bench.RaftContract(t.fsync, bench.ReadsReadIndex, "node.ReadIndex (ReadOnlySafe: heartbeat quorum), one in flight per node shared by the readers waiting, answered once applied >= it")
	if t.followerReads {
		c = bench.RaftContract(t.fsync, bench.ReadsLocal, "deliberately unsafe: a follower answers from its own state, no ReadIndex")
	}
	if t.model != nil {
		c = t.model.Contract(c)
	}
	return c
}

// ReadsFollowerLocal is the value of Options["reads"] that makes the
// target deliberately unsafe: reads are answered by a follower from its
// own state, without ReadIndex, so they can miss acknowledged writes. It
// exists to prove that compare's correctness gate catches such a system.
const ReadsFollowerLocal = "follower-local"

var _ bench.ContractTarget = (*Target)(nil)

// The etcd target can isolate a node (its messages in and out dropped, as
// a partition would) and kill and restart one (see Kill).
var _ bench.FaultTarget = (*Target)(nil)

// Leader returns the running node that leads in the highest term, by
// raft.Status.
func (t *Target) Leader() (uint64, uint64) {
	var id, term uint64
	for _, n := range t.nodes {
		l := n.cur.Load()
		if l == nil {
			continue
		}
		st := l.rn.Status()
		if st.RaftState == raft.StateLeader && st.GetTerm() > term {
			id, term = n.id, st.GetTerm()
		}
	}
	return id, term
}

// errKilled answers the proposals waiting on a node that was killed:
// their entries may or may not survive.
var errKilled = errors.New("etcd: node killed before the proposal applied; outcome unknown")

// Kill crashes node id: its raft.Node stops, its in-memory state machine
// and read state are lost, messages to it are dropped, and its waiting
// proposals end with an unknown outcome. What it made durable (the log
// file, mirrored in its MemoryStorage) survives for Restart.
func (t *Target) Kill(id uint64) error {
	n, err := t.node(id)
	if err != nil {
		return err
	}
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	l := n.cur.Swap(nil)
	if l == nil {
		return fmt.Errorf("etcd target: node %d is already down", id)
	}
	n.isLeader.Store(false)
	close(l.down)
	l.rn.Stop()
	l.wg.Wait()
	n.waits.answerAll(result{err: errKilled})
	return nil
}

// Restart brings a killed node back as a process restarting from its
// durable state would (raft.RestartNode over the same storage): its state
// machine is rebuilt from the last snapshot, and the committed entries
// after it are applied again as raft hands them out (Config.Applied is
// the snapshot's index). Messages that were in its inbox are lost.
func (t *Target) Restart(id uint64) error {
	n, err := t.node(id)
	if err != nil {
		return err
	}
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.cur.Load() != nil {
		return fmt.Errorf("etcd target: node %d is running", id)
	}
	for len(n.inbox) > 0 {
		<-n.inbox
	}
	store := kv.NewStore()
	snap, err := n.storage.Snapshot()
	if err != nil {
		return fmt.Errorf("etcd target: node %d snapshot: %w", id, err)
	}
	n.confState, n.snapIndex, n.appliedIx = nil, 0, 0
	if !raft.IsEmptySnap(snap) {
		if err := store.Restore(snap.GetData()); err != nil {
			return fmt.Errorf("etcd target: node %d restore: %w", id, err)
		}
		md := snap.GetMetadata()
		n.confState, n.snapIndex, n.appliedIx = md.GetConfState(), md.GetIndex(), md.GetIndex()
	}
	cfg := n.raftConfig(t.logger)
	cfg.Applied = n.appliedIx
	n.start(t.ctx, raft.RestartNode(cfg), store)
	return nil
}

func (t *Target) node(id uint64) (*node, error) {
	if id < 1 || id > uint64(len(t.nodes)) {
		return nil, fmt.Errorf("etcd target: no node %d", id)
	}
	return t.nodes[id-1], nil
}

// Isolate drops every message to and from node id until Heal.
func (t *Target) Isolate(id uint64) error {
	if _, err := t.node(id); err != nil {
		return err
	}
	t.isolated.Store(id)
	return nil
}

// Heal ends the isolation.
func (t *Target) Heal() error { t.isolated.Store(0); return nil }
