package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Request is one client operation, in the KV state machine's terms
// (engine/embed/kv), so every target applies the same semantics.
type Request struct {
	Op    kv.Op
	Key   []byte
	Value []byte // write: new value; cas: the "to" value
	From  []byte // cas only
}

// Target is a system under load. Do is called concurrently by every
// worker; it returns the state machine's result (a missing key or a cas
// mismatch is a Result, not an error) or an error when the system could
// not say whether the operation happened.
type Target interface {
	Name() string
	Do(ctx context.Context, req Request) (kv.Result, error)
	// Stats returns cumulative counters; fields a target cannot know stay 0.
	Stats() TargetStats
	Close() error
}

// StateSizer is an optional Target extension: the memory its nodes'
// state machines hold, summed over the nodes (0 if it cannot tell).
// `raftbench run` records it in Summary.StateBytes at the end of the
// load, and with --memory-floor measures the machine's memory at that
// size.
type StateSizer interface {
	StateBytes() uint64
}

// TargetStats are cumulative counters a target reports, summed over its
// nodes. The driver takes differences between samples.
type TargetStats struct {
	Fsyncs        uint64 // fsync calls on log files
	FsyncEntries  uint64 // entries made durable by those fsyncs
	AppendMsgs    uint64 // AppendEntries messages sent
	AppendEntries uint64 // entries carried by them
	LeaderChanges uint64
	// Snapshots counts the snapshots the nodes took of their state (to
	// compact their logs; to a file or in memory), where the target
	// counts them (SnapshotsCounted); a run that takes none where
	// another system takes several does less work, which short runs
	// hide.
	Snapshots        uint64
	SnapshotsCounted bool
	// Log is where the target's log writers spend their time, summed
	// over its logs (zero where the target cannot see it).
	Log LogCycle
}

// LogCycle is a system's group commits (Flushes, summed over its logs)
// and the wall time its log writers spent on them: waiting with nothing
// queued, lingering for more records, writing and fsyncing. Over
// Flushes it is one group commit's cycle: a log that waits for records
// longer than it fsyncs is held by its writers' round trip, not by the
// disk. The in-process cluster (from wal.Stats) and the floor target
// report it, with fsync on.
type LogCycle struct {
	Flushes                                        uint64
	IdleNanos, LingerNanos, WriteNanos, FsyncNanos uint64
}

// TargetConfig says what cluster to build.
type TargetConfig struct {
	Nodes int
	// Dir is an empty directory the target may use for its data.
	Dir string
	// Fsync false turns fsync off everywhere (benchmarks only).
	Fsync      bool
	ValueBytes int
	// Registerer, when non-nil, receives the target's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Options carries target-specific settings (for example endpoints or
	// a binary path); unknown keys are an error.
	Options map[string]string
	// ElectionTimeout, when non-zero, is the base election timeout of
	// every node (each system here fires an election after a random time
	// between it and about twice it); zero keeps the target's documented
	// default. Failover comparisons set it so every system waits alike.
	ElectionTimeout time.Duration
}

// TimedTarget is a target that says which base election timeout its
// nodes run with, so results can show whether systems were compared
// with the same one.
type TimedTarget interface {
	Target
	ElectionTimeout() time.Duration
}

// ElectionTicks converts a base election timeout to ticks of tick: def
// when timeout is zero, otherwise timeout/tick, which must be a whole
// number of at least 2 (a heartbeat every tick must fit inside it).
func ElectionTicks(timeout, tick time.Duration, def int) (int, error) {
	if timeout == 0 {
		return def, nil
	}
	if timeout < 0 || timeout%tick != 0 || timeout/tick < 2 {
		return 0, fmt.Errorf("election timeout %v: must be a positive multiple of the %v tick, at least 2 ticks", timeout, tick)
	}
	return int(timeout / tick), nil
}

// Factory builds a target; it returns once the cluster has a leader.
type Factory func(ctx context.Context, cfg TargetConfig) (Target, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// Register makes a target available by name. It panics on a duplicate
// name, which is a programming error.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("bench: target %q registered twice", name))
	}
	registry[name] = f
}

// Lookup returns the factory for name, or an error listing known names.
func Lookup(name string) (Factory, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if f, ok := registry[name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("bench: unknown target %q (known: %v)", name, targetNamesLocked())
}

// TargetNames lists registered targets, sorted.
func TargetNames() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return targetNamesLocked()
}

func targetNamesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
