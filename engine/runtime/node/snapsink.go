package node

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// recvPattern names the temporary files incoming snapshots stream into,
// in the WAL directory. A crash leaves at most one; Start removes it
// (the transfer restarts from the leader: a partial file is never
// installed).
const recvPattern = "snapshot-recv-*.tmp"

// fileSink streams an incoming snapshot into a temporary file, so a
// follower holds at most one chunk of a transfer in memory until it is
// complete. Only then is it read back for the core to install (the WAL
// then replaces its snapshot file atomically).
type fileSink struct{ dir string }

// snapshotSink is the node's sink: a file in the WAL directory, or the
// driver's in-memory default when the node runs on a Log it was given.
func (n *Node) snapshotSink() driver.SnapshotSink {
	if n.cfg.Log != nil || n.cfg.Dir == "" {
		return nil
	}
	removeRecvLeftovers(n.cfg.Dir)
	return fileSink{dir: n.cfg.Dir}
}

func removeRecvLeftovers(dir string) {
	left, _ := filepath.Glob(filepath.Join(dir, recvPattern))
	for _, p := range left {
		_ = os.Remove(p)
	}
}

func (s fileSink) CreateSnapshot(meta raftpb.SnapshotMeta, total uint64) (driver.SnapshotWriter, error) {
	removeRecvLeftovers(s.dir) // an aborted transfer's file, if any
	f, err := os.CreateTemp(s.dir, recvPattern)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", meta.Index, err)
	}
	return &fileWriter{f: f, total: total}, nil
}

type fileWriter struct {
	f     *os.File
	total uint64
	n     uint64
}

func (w *fileWriter) Write(p []byte) error {
	if w.n+uint64(len(p)) > w.total {
		return fmt.Errorf("%s: %d bytes past the announced %d", w.f.Name(), w.n+uint64(len(p)), w.total)
	}
	if _, err := w.f.Write(p); err != nil {
		return err
	}
	w.n += uint64(len(p))
	return nil
}

// Finish reads the complete file back and removes it: the WAL's
// SaveSnapshot is the durable, atomic install.
func (w *fileWriter) Finish() ([]byte, error) {
	defer w.Abort()
	if w.n != w.total {
		return nil, fmt.Errorf("%s: %d of %d bytes", w.f.Name(), w.n, w.total)
	}
	b := make([]byte, w.total)
	if _, err := w.f.ReadAt(b, 0); err != nil && !(err == io.EOF && w.total == 0) {
		return nil, fmt.Errorf("%s: read back: %w", w.f.Name(), err)
	}
	return b, nil
}

func (w *fileWriter) Abort() {
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}
