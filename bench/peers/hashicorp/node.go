package hashicorp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/segment"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Timeouts halved from the library defaults (1 s, 1 s, 500 ms) because
// every node is in one process or on loopback; kept well above the
// scheduling stalls of a loaded 2-core machine (and of -race) so a
// saturated run does not trigger spurious elections.
const (
	heartbeatTimeout   = 500 * time.Millisecond
	electionTimeout    = 500 * time.Millisecond
	leaderLeaseTimeout = 250 * time.Millisecond
)

// raftConfig returns the configuration a variant runs with; doc.go lists
// every field that differs from raft.DefaultConfig. A non-zero election
// sets HeartbeatTimeout and ElectionTimeout to it (a follower starts an
// election after a random time in [HeartbeatTimeout, 2*HeartbeatTimeout)
// without contact) and LeaderLeaseTimeout to half of it, the proportions
// of the defaults above.
func raftConfig(id raft.ServerID, tuned bool, logger hclog.Logger, election time.Duration) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.Logger = logger
	c.HeartbeatTimeout = heartbeatTimeout
	c.ElectionTimeout = electionTimeout
	c.LeaderLeaseTimeout = leaderLeaseTimeout
	if election > 0 {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = election, election, election/2
	}
	if tuned {
		c.MaxAppendEntries = 512
		c.BatchApplyCh = true
		c.TrailingLogs = 100_000
		c.SnapshotThreshold = 200_000
		c.NoLegacyTelemetry = true
	}
	return c
}

// node is one hashicorp/raft server and the files it owns.
type node struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	log   *wal.WAL
	snaps *raft.FileSnapshotStore
	trans transport
	conf  *raft.Config

	lifeMu sync.Mutex // serialises kill and restart
	cur    atomic.Pointer[life]
	down   atomic.Bool // killed and not restarted

	// readyTerm is the term in which this node, as leader, completed a
	// Barrier: from then on its FSM holds every entry of earlier terms.
	readyTerm atomic.Uint64
	barrierMu sync.Mutex // one barrier at a time per node
}

// life is one run of a server, from start or restart to kill: the
// raft.Raft and its in-memory FSM. A kill loses the FSM's state, as a
// crashed process does; the next life rebuilds it from the snapshot
// store and the log.
type life struct {
	r     *raft.Raft
	store *kv.Store
	down  chan struct{} // closed by Kill, before raft shuts down
}

// errKilled: the node was killed while the operation waited on it.
var errKilled = errors.New("hashicorp: node killed while the operation waited")

// await waits for f, or until l's node is killed: hashicorp/raft does not
// answer a VerifyLeader or Apply future that is still queued for its main
// loop when it shuts down, so waiting on f alone can block forever.
func (l *life) await(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-l.down:
		return errKilled
	}
}

// transport is what both raft transports we use provide.
type transport interface {
	raft.Transport
	Close() error
}

// storage opens the node's raft-wal (log + stable store) and snapshot
// store under dir.
func openStorage(dir string, fsync bool, model *bench.ModelDisk, syncs *atomic.Uint64, counter *entryCounter,
	logger hclog.Logger) (*wal.WAL, *raft.FileSnapshotStore, error) {
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("hashicorp: %w", err)
	}
	w, err := wal.Open(walDir,
		wal.WithSegmentFiler(segment.NewFiler(walDir, newSyncFS(fsync, model, syncs))),
		wal.WithMetricsCollector(counter),
		wal.WithLogger(logger.Named("wal")))
	if err != nil {
		return nil, nil, fmt.Errorf("hashicorp: open raft-wal in %s: %w", walDir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, logger.Named("snapshot"))
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("hashicorp: snapshot store in %s: %w", dir, err)
	}
	return w, snaps, nil
}

// newTransports builds one transport per node: in-memory ones connected
// all-to-all, or TCP ones on loopback ports chosen by the kernel.
func newTransports(n int, kind string) ([]transport, error) {
	out := make([]transport, 0, n)
	closeAll := func() {
		for _, t := range out {
			t.Close()
		}
	}
	for i := 0; i < n; i++ {
		switch kind {
		case "inmem":
			_, t := raft.NewInmemTransport("")
			out = append(out, t)
		case "tcp":
			t, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("hashicorp: tcp transport: %w", err)
			}
			out = append(out, t)
		default:
			return nil, fmt.Errorf("hashicorp: unknown transport %q (want inmem or tcp)", kind)
		}
	}
	if kind == "inmem" {
		for _, a := range out {
			for _, b := range out {
				if a != b {
					a.(*raft.InmemTransport).Connect(b.LocalAddr(), b)
				}
			}
		}
	}
	return out, nil
}

// hclogger routes the library's warnings and errors to logger (or nowhere).
func hclogger(logger *slog.Logger) hclog.Logger {
	if logger == nil {
		return hclog.NewNullLogger()
	}
	std := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	return hclog.FromStandardLogger(std, &hclog.LoggerOptions{Name: "hashicorp-raft", Level: hclog.Warn})
}
