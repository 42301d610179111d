package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	"github.com/raftbench/raftbench/wal"
)

// StateMachine is the replicated application. Apply and Restore are
// called only from the node's apply goroutine, in log order; Query is
// called from the apply goroutine too, after every entry up to the read's
// index has been applied. kv.Store satisfies it. A StateMachine that is
// also a driver.Prefetcher (kv.Store is) is handed each group of
// committed commands before they are applied, to load what they touch.
type StateMachine interface {
	// Apply executes a committed command and returns its result. It must
	// be deterministic: same commands in the same order, same results.
	Apply(cmd []byte) []byte
	// Query answers a read without changing state.
	Query(q []byte) []byte
	// Snapshot returns the whole state; Restore replaces it.
	Snapshot() []byte
	Restore([]byte) error
}

// A StateMachine that is also a driver.BlindResulter (BlindResult: the
// result a command has whatever the state, e.g. a KV write's ok) has such
// commands answered when their batch reaches the apply goroutine, before
// the commands logged ahead of them are applied (driver.SettleHooks).

// SnapshotViewer is an optional StateMachine extension for large states:
// SnapshotView captures the state cheaply on the apply goroutine and
// returns the encoder, which the node runs on a background goroutine
// beside Apply (so a snapshot does not stall applying while it sorts and
// encodes). encode must return what Snapshot would have returned at the
// capture. kv.Store implements it.
type SnapshotViewer interface {
	SnapshotView() (encode func() []byte)
}

// SnapshotAppender is SnapshotViewer whose encoder appends the state to
// a prefix (the session table), sized once: the node then holds one
// copy of the encoded state rather than two. kv.Store implements it.
type SnapshotAppender interface {
	SnapshotViewAppend() (appendTo func(prefix []byte) []byte)
}

// SnapshotStreamer is the StateMachine extension for states too large
// to hold encoded in memory: the capture is cheap (on the apply
// goroutine), then, on a background goroutine, size gives the encoding's
// exact size and writeTo streams it into the WAL's snapshot file (an
// encoding of the state at the capture that RestoreFrom accepts, not
// necessarily Snapshot's bytes: kv.Store streams its records unsorted);
// release drops a view that will not be written. RestoreFrom restores from a stream
// (the WAL's snapshot file, at a restart or after a leader's snapshot).
// Used when the node runs on its own WAL (Dir). kv.Store implements it.
type SnapshotStreamer interface {
	SnapshotViewStream() (size func() int64, writeTo func(io.Writer) (int64, error), release func())
	RestoreFrom(r io.Reader) error
}

// Config configures one Node.
type Config struct {
	// ID is this node's Raft ID; Voters lists every voter including ID.
	// A node joining a running cluster starts with the cluster's
	// bootstrap Voters (without itself): the log, or a snapshot, then
	// brings it to the configuration in force, which names it.
	ID     uint64
	Voters []uint64
	// Learners lists non-voting members at bootstrap (usually none).
	Learners []uint64

	// Dir is the WAL directory (ignored when Log is set).
	Dir string
	// Log, when set, is used instead of opening Dir (e.g. wal.NewMemLog).
	// The node closes it on Stop.
	Log wal.Log
	// WALOptions are passed to wal.Open. UnsafeNoFsync overrides its
	// fsync setting: benchmarks only, acknowledged writes can be lost.
	WALOptions    wal.Options
	UnsafeNoFsync bool

	Transport    transport.Transport
	StateMachine StateMachine

	// Clock defaults to the wall clock; TickInterval (default 10ms) is
	// the duration of one core tick.
	Clock        Clock
	TickInterval time.Duration
	// Engine carries the core's tuning. ID, Voters and restart state are
	// filled in by the node. Zero ElectionTicks means 10; PreVote,
	// CheckQuorum and LazyCommit are turned on unless DisablePreVote,
	// DisableCheckQuorum or DisableLazyCommit (a follower learns a commit
	// index with the next entries or heartbeat, unless it waits for it:
	// engine.Config.LazyCommit; the runtime's measurement is in
	// results/compare/NOTES.md, round 20).
	// Engine.LeaseReads answers reads from the leader's lease (thesis
	// §6.4.1); its clock is Clock (every TickInterval since the node
	// started, reported to the core each loop turn), and it is safe only
	// while no node's clock runs more than Engine.MaxClockDrift faster or
	// slower than another's.
	Engine             engine.Config
	DisablePreVote     bool
	DisableCheckQuorum bool
	DisableLazyCommit  bool

	// SnapshotEvery takes a snapshot (sessions + state machine) after
	// this many applied entries and compacts the log. Default 100000.
	SnapshotEvery uint64
	// SnapshotLogRatio also holds a snapshot back until the entry data
	// applied since the last one is this many times the last snapshot's
	// size, so snapshot work per write stays flat as the state grows
	// (default 4; negative: by SnapshotEvery alone). The log on disk is
	// then up to about this many times the state's size; in memory
	// ResidentLogRatio bounds it. Why 4 and not 1: at a million keys
	// snapshots four times rarer spent 6-7% of the time writing one
	// instead of 13-14%, with p99.9 19-20 ms against 25-39 and throughput
	// +6% (results/compare/NOTES.md, round 19).
	SnapshotLogRatio float64
	// ResidentLogRatio bounds the applied log the core keeps in memory
	// to about this many times the last snapshot's size (plus the last
	// KeepAppliedEntries applied entries): the rest stays
	// only in the node's log on disk (a restart replays it), and a
	// follower that needs it gets a snapshot (a fresh one if the latest
	// is older). So SnapshotLogRatio can make snapshots rarer without the
	// memory of a log as long as their interval. Default 1; negative: the
	// whole log since the last snapshot stays in memory.
	ResidentLogRatio float64
	// KeepAppliedEntries is how many of the latest applied entries a
	// drop keeps in memory (default driver.DefaultKeepAppliedEntries): a
	// follower at most that far behind still gets entries, not a
	// snapshot.
	KeepAppliedEntries uint64
	// SnapshotChunkBytes is the most snapshot data one message carries
	// when a leader streams a snapshot to a follower (default 1 MiB; the
	// TCP transport's frame limit must exceed it).
	// SnapshotChunksInFlight bounds the unacknowledged chunks per
	// follower (default 4).
	SnapshotChunkBytes     int
	SnapshotChunksInFlight int
	// ProposalBatchesInFlight, when positive, is how many proposal
	// batches a leader keeps appended but not yet committed before new
	// proposals wait for the oldest to commit (0, the default, or
	// negative: never wait). Requests that arrive one at a time (an
	// open loop at a steady rate) then share one batch per commit instead
	// of each crossing every replica's loop alone. A wait never outlasts
	// the commit it waits for, a tick of the clock, or 1,024 proposals
	// (1 MiB) queued. Off by default: a batch released by a commit reaches the
	// followers just after they began their next fsync, so under a full
	// pipeline the held proposals wait one flush cycle longer than they
	// would have in the followers' queues (results/compare/NOTES.md).
	ProposalBatchesInFlight int
	// NoYieldToClients turns off the leader's yield before a turn that
	// only client requests woke (see yieldsToClients in loop.go), so
	// every proposal takes the first loop turn it can: for A/B runs.
	NoYieldToClients bool
	// NoFollowerApplyYield turns off the yield of an apply goroutine with
	// nobody to answer (a follower's, usually) before each batch (see
	// applier.handle), so it applies as soon as it runs: for A/B runs.
	NoFollowerApplyYield bool
	// NoFollowerApplyAfterLinger turns off the wait of an apply goroutine
	// with nobody to answer (a follower's, usually) for its log to end a
	// linger before each batch (see applier.handle), so it applies while
	// the next group commit's writes are still on their way: for A/B runs.
	NoFollowerApplyAfterLinger bool
	// Limits. Requests beyond them fail fast with ErrBusy.
	MaxPendingProposals int // default 8192
	MaxPendingBytes     int // default 64 MiB (proposal payload bytes)
	MaxPendingReads     int // default 8192
	MaxInboxMessages    int // default 8192; inbound messages beyond it are dropped
	MaxSessions         int // dedup table size, default DefaultMaxSessions

	Registerer prometheus.Registerer
	Logger     *slog.Logger

	// Probe, when set, receives the time each log index reaches each
	// Stage on this node (critical-path attribution in benchmarks; see
	// Probe). Nil, the default, turns it off.
	Probe Probe
}

// Defaults.
const (
	DefaultTickInterval        = 10 * time.Millisecond
	DefaultSnapshotEvery       = 100000
	DefaultSnapshotLogRatio    = 4.0
	DefaultResidentLogRatio    = 1.0
	DefaultMaxPendingProposals = 8192
	DefaultMaxPendingBytes     = 64 << 20
	DefaultMaxPendingReads     = 8192
	DefaultMaxInboxMessages    = 8192
	// DefaultMaxSessions bounds the client session (dedup) table.
	DefaultMaxSessions = driver.DefaultMaxSessions
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("node: invalid config")

func (c Config) withDefaults() (Config, error) {
	bad := func(f string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(f, a...))
	}
	switch {
	case c.ID == 0:
		return bad("ID must be non-zero")
	case c.Transport == nil:
		return bad("Transport is required")
	case c.StateMachine == nil:
		return bad("StateMachine is required")
	case c.Log == nil && c.Dir == "":
		return bad("one of Dir and Log is required")
	case c.TickInterval < 0:
		return bad("negative TickInterval")
	case c.SnapshotChunkBytes < 0 || c.SnapshotChunksInFlight < 0:
		return bad("negative SnapshotChunkBytes %d or SnapshotChunksInFlight %d", c.SnapshotChunkBytes, c.SnapshotChunksInFlight)
	}
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = DefaultSnapshotEvery
	}
	switch {
	case c.SnapshotLogRatio == 0:
		c.SnapshotLogRatio = DefaultSnapshotLogRatio
	case c.SnapshotLogRatio < 0:
		c.SnapshotLogRatio = 0
	}
	switch {
	case c.ResidentLogRatio == 0:
		c.ResidentLogRatio = DefaultResidentLogRatio
	case c.ResidentLogRatio < 0:
		c.ResidentLogRatio = 0
	}
	setDefault(&c.SnapshotChunkBytes, driver.DefaultSnapshotChunkBytes)
	setDefault(&c.SnapshotChunksInFlight, driver.DefaultSnapshotChunksInFlight)
	setDefault(&c.MaxPendingProposals, DefaultMaxPendingProposals)
	setDefault(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setDefault(&c.MaxPendingReads, DefaultMaxPendingReads)
	setDefault(&c.MaxInboxMessages, DefaultMaxInboxMessages)
	setDefault(&c.MaxSessions, DefaultMaxSessions)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("node", c.ID)
	c.Engine.ID = c.ID
	c.Engine.Voters = c.Voters
	c.Engine.Learners = c.Learners
	c.Engine.PreVote = c.Engine.PreVote || !c.DisablePreVote
	c.Engine.CheckQuorum = c.Engine.CheckQuorum || !c.DisableCheckQuorum
	c.Engine.LazyCommit = c.Engine.LazyCommit || !c.DisableLazyCommit
	c.Engine = c.Engine.WithDefaults()
	return c, nil
}

func setDefault(p *int, d int) {
	if *p <= 0 {
		*p = d
	}
}
