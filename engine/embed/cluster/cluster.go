package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	"github.com/raftbench/raftbench/wal"
)

// Config describes an in-process cluster.
type Config struct {
	// Nodes is the cluster size (1..MaxNodes); node IDs are 1..Nodes.
	Nodes int
	// Dir holds one WAL directory per node, Dir/n<id>.
	Dir string
	// Fsync false sets node.Config.UnsafeNoFsync (benchmarks only).
	Fsync bool
	// Registerer receives every node's and WAL's metrics (label node).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// TickInterval and Engine are passed to every node (zero: defaults).
	TickInterval time.Duration
	Engine       engine.Config
	// Network configures the in-memory transport (latency, loss).
	Network transport.MemOptions
	// Transport, when set, builds each node incarnation's transport
	// instead of an endpoint of the in-memory network (which then
	// carries nothing): e.g. TCP on loopback or the NATS transport. The
	// node closes it when it stops; a restart asks for a new one.
	Transport func(id uint64, voters []uint64) (transport.Transport, error)
	// NewStateMachine builds a node's state machine; default kv.NewStore.
	NewStateMachine func(id uint64) node.StateMachine
	// Snapshot policy and streaming, passed to every node (zero:
	// node defaults): SnapshotEvery applied entries between snapshots,
	// SnapshotChunkBytes per streamed chunk, SnapshotChunksInFlight
	// unacknowledged chunks per follower.
	SnapshotEvery          uint64
	SnapshotLogRatio       float64
	ResidentLogRatio       float64
	SnapshotChunkBytes     int
	SnapshotChunksInFlight int
	// NodeConfig, when set, may adjust each node's config before start
	// (limits, snapshot interval, clock).
	NodeConfig func(*node.Config)
}

// MaxNodes bounds Config.Nodes.
const MaxNodes = 9

// Cluster is N nodes in one process over an in-memory network.
type Cluster struct {
	cfg    Config
	net    *transport.MemNetwork
	voters []uint64

	mu    sync.RWMutex
	nodes map[uint64]*node.Node // nil entry: killed
	// running is the running nodes in voter order, replaced (under mu)
	// whenever nodes changes: Leader reads it without the lock, since
	// every request calls Leader and a read lock taken by every client
	// goroutine is a cache line they all write.
	running atomic.Pointer[[]*node.Node]
	sms     map[uint64]node.StateMachine
	retired node.Stats // counters of stopped node incarnations

	slots sync.Pool // *session: one outstanding request each
}

// session is one client session (thesis §6.3) with at most one
// outstanding request, so retries are exactly-once.
type session struct {
	id, next uint64
}

// StartInProc starts the cluster and returns once a leader is elected
// and known to every node.
func StartInProc(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("cluster: Nodes must be in [1, %d], got %d", MaxNodes, cfg.Nodes)
	}
	if cfg.Dir == "" {
		return nil, errors.New("cluster: Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewStateMachine == nil {
		cfg.NewStateMachine = func(uint64) node.StateMachine { return kv.NewStore() }
	}
	// Senders deliver straight into the receiver's inbox (the node's
	// handler only queues): no transport goroutine hop per message.
	cfg.Network.Direct = true
	c := &Cluster{cfg: cfg, net: transport.NewMemNetwork(cfg.Network),
		nodes: map[uint64]*node.Node{}, sms: map[uint64]node.StateMachine{}}
	c.slots.New = func() any { return &session{id: randomID(), next: 1} }
	for id := uint64(1); id <= uint64(cfg.Nodes); id++ {
		c.voters = append(c.voters, id)
	}
	for _, id := range c.voters {
		if err := c.start(id); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitAgreed(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func randomID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cluster: crypto/rand: " + err.Error())
	}
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// NodeDir returns node id's WAL directory.
func (c *Cluster) NodeDir(id uint64) string {
	return filepath.Join(c.cfg.Dir, "n"+strconv.FormatUint(id, 10))
}

func (c *Cluster) start(id uint64) error {
	dir := c.NodeDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	var tr transport.Transport = c.net.Endpoint(id)
	if c.cfg.Transport != nil {
		var err error
		if tr, err = c.cfg.Transport(id, c.IDs()); err != nil {
			return fmt.Errorf("cluster: transport of node %d: %w", id, err)
		}
	}
	sm := c.cfg.NewStateMachine(id)
	ncfg := node.Config{
		ID: id, Voters: c.voters, Dir: dir, UnsafeNoFsync: !c.cfg.Fsync,
		Transport: tr, StateMachine: sm,
		TickInterval: c.cfg.TickInterval, Engine: c.cfg.Engine,
		Registerer: c.cfg.Registerer, Logger: c.cfg.Logger,
		SnapshotEvery: c.cfg.SnapshotEvery, SnapshotLogRatio: c.cfg.SnapshotLogRatio, ResidentLogRatio: c.cfg.ResidentLogRatio, SnapshotChunkBytes: c.cfg.SnapshotChunkBytes,
		SnapshotChunksInFlight: c.cfg.SnapshotChunksInFlight,
	}
	if c.cfg.NodeConfig != nil {
		c.cfg.NodeConfig(&ncfg)
	}
	n, err := node.Start(ncfg)
	if err != nil {
		if c.cfg.Transport != nil {
			tr.Close()
		}
		return fmt.Errorf("cluster: start node %d: %w", id, err)
	}
	c.mu.Lock()
	c.nodes[id], c.sms[id] = n, sm
	c.publishRunning()
	c.mu.Unlock()
	return nil
}

// publishRunning replaces running from nodes; c.mu must be held.
func (c *Cluster) publishRunning() {
	running := make([]*node.Node, 0, len(c.voters))
	for _, id := range c.voters {
		if n := c.nodes[id]; n != nil {
			running = append(running, n)
		}
	}
	c.running.Store(&running)
}

// Network returns the in-memory network, for partitions in tests.
func (c *Cluster) Network() *transport.MemNetwork { return c.net }

// IDs returns the node IDs 1..N.
func (c *Cluster) IDs() []uint64 { return append([]uint64(nil), c.voters...) }

// Node returns node id, or nil if it is killed or unknown.
func (c *Cluster) Node(id uint64) *node.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nodes[id]
}

// StateMachine returns the state machine of node id's current incarnation.
func (c *Cluster) StateMachine(id uint64) node.StateMachine {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sms[id]
}

// Leader returns the running node that believes it leads in the highest
// term, or nil.
func (c *Cluster) Leader() *node.Node {
	running := c.running.Load()
	if running == nil {
		return nil
	}
	var best *node.Node
	for _, n := range *running {
		if n.IsLeader() && (best == nil || n.Term() > best.Term()) {
			best = n
		}
	}
	return best
}

// WaitLeader polls until some node leads or ctx expires.
func (c *Cluster) WaitLeader(ctx context.Context) (*node.Node, error) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if l := c.Leader(); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: no leader elected: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// waitAgreed waits until a leader is elected and every node knows it, so
// requests to any node can be served (or forwarded) at once.
func (c *Cluster) waitAgreed(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if l := c.Leader(); l != nil {
			agreed := true
			for _, id := range c.voters {
				if n := c.Node(id); n != nil && n.Leader() != l.ID() {
					agreed = false
				}
			}
			if agreed {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: no leader known to every node: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Kill stops node id (cleanly: its WAL is closed); Restart brings it back.
func (c *Cluster) Kill(id uint64) error {
	c.mu.Lock()
	n := c.nodes[id]
	c.nodes[id] = nil
	c.publishRunning()
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("cluster: node %d is not running", id)
	}
	st := n.Stats()
	err := n.Stop()
	c.mu.Lock()
	c.retired = addStats(c.retired, st)
	c.mu.Unlock()
	return err
}

// Restart starts node id again from its directory.
func (c *Cluster) Restart(id uint64) error {
	if c.Node(id) != nil {
		return fmt.Errorf("cluster: node %d is running", id)
	}
	if id == 0 || id > uint64(len(c.voters)) {
		return fmt.Errorf("cluster: unknown node %d", id)
	}
	return c.start(id)
}

// Stats sums every node's counters, including stopped incarnations.
func (c *Cluster) Stats() node.Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := c.retired
	for _, n := range c.nodes {
		if n != nil {
			s = addStats(s, n.Stats())
		}
	}
	return s
}

func addStats(a, b node.Stats) node.Stats {
	a.Fsyncs += b.Fsyncs
	a.FsyncEntries += b.FsyncEntries
	a.Flushes += b.Flushes
	a.FsyncNanos += b.FsyncNanos
	a.Lingers += b.Lingers
	a.LingersRunOut += b.LingersRunOut
	a.LingerNanos += b.LingerNanos
	a.WALIdleNanos += b.WALIdleNanos
	a.WALWriteNanos += b.WALWriteNanos
	a.AppendMsgs += b.AppendMsgs
	a.AppendEntries += b.AppendEntries
	a.LeaderChanges += b.LeaderChanges
	a.Proposals += b.Proposals
	a.Rejected += b.Rejected
	a.Busy += b.Busy
	a.Duplicates += b.Duplicates
	a.Dropped += b.Dropped
	a.Snapshots += b.Snapshots
	a.SnapshotSaving = a.SnapshotSaving || b.SnapshotSaving // any node
	return a
}

// Stop stops every node. Idempotent.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	nodes := make([]*node.Node, 0, len(c.nodes))
	for id, n := range c.nodes {
		if n != nil {
			nodes = append(nodes, n)
			c.nodes[id] = nil
		}
	}
	c.publishRunning()
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if err := n.Stop(); err != nil && !errors.Is(err, wal.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
