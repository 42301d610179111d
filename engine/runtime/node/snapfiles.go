package node

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
)

// Snapshots live in the WAL's snapshot file, not in memory, when the node
// runs on its own WAL (Dir):
//
//   - its own snapshots are streamed into the file by a background
//     goroutine (SnapshotStreamer) and the core is handed only their
//     metadata;
//   - a leader streams chunks to followers from the file (fileSource);
//   - a follower writes incoming chunks straight into a new snapshot
//     file (fileSink), which the WAL installs when the core's Ready says
//     so, and the apply goroutine restores from the file, streaming;
//   - a restart restores from the file, streaming.
//
// A node given a Log (the simulator's and tests' MemLog) keeps snapshots
// in memory as before.

// snapshotFiles is the WAL's file-based snapshot API (wal.WAL).
type snapshotFiles interface {
	CreateSnapshot(meta raftpb.SnapshotMeta, size uint64) (*wal.SnapshotFile, error)
	OpenSnapshot() (*wal.SnapshotData, error)
}

// coreSnapshot is what the core keeps of a stored snapshot to send to
// lagging followers: only the metadata when the data is in the file.
func (n *Node) coreSnapshot(meta raftpb.SnapshotMeta, data []byte) raftpb.Snapshot {
	if n.snapFiles != nil {
		return raftpb.Snapshot{Meta: meta}
	}
	return raftpb.Snapshot{Meta: meta, Data: data}
}

// streamSnapshot writes sessions and the state machine's view into a new
// snapshot file and installs it unless a newer one was stored meanwhile
// (then saved is false). Runs on the background snapshot goroutine.
func (n *Node) streamSnapshot(meta raftpb.SnapshotMeta, sess []byte, size func() int64,
	writeTo func(io.Writer) (int64, error), release func()) (saved bool, bytes uint64, err error) {
	total := uint64(len(sess)) + uint64(size())
	f, err := n.snapFiles.CreateSnapshot(meta, total)
	if err != nil {
		release()
		return false, 0, err
	}
	if _, err = f.Write(sess); err != nil {
		release()
	} else {
		_, err = writeTo(f)
	}
	if err == nil {
		err = f.Finish()
	}
	if err != nil {
		f.Abort()
		return false, 0, err
	}
	n.snapMu.Lock()
	defer n.snapMu.Unlock()
	if meta.Index <= n.savedSnap {
		f.Abort()
		return false, 0, nil
	}
	if err := f.Install(); err != nil {
		if errors.Is(err, wal.ErrCompacted) {
			return false, 0, nil
		}
		return false, 0, err
	}
	n.savedSnap = meta.Index
	return true, total, nil
}

// installReceived installs the snapshot file a follower received for
// meta (staged by fileSink); false if there is none for meta.
func (n *Node) installReceived(meta raftpb.SnapshotMeta) (bool, error) {
	f := n.received
	if f == nil || f.Meta().Index != meta.Index || f.Meta().Term != meta.Term {
		return false, nil
	}
	n.received = nil
	n.snapMu.Lock()
	defer n.snapMu.Unlock()
	if meta.Index <= n.savedSnap {
		f.Abort()
		return true, nil
	}
	if err := f.Install(); err != nil {
		return true, err
	}
	n.savedSnap = meta.Index
	return true, nil
}

// openStoredFor is the Applier's OpenSnapshot: set only on the node's
// own WAL (newApplier runs after snapFiles is set).
func (n *Node) openStoredFor() func(raftpb.SnapshotMeta) (raftpb.SnapshotMeta, io.ReadCloser, uint64, error) {
	if n.snapFiles == nil {
		return nil
	}
	return n.openStored
}

// openStored opens the stored snapshot's data for a restore of meta's
// snapshot (or a newer one stored since, which is as good: committed
// state further on).
func (n *Node) openStored(meta raftpb.SnapshotMeta) (raftpb.SnapshotMeta, io.ReadCloser, uint64, error) {
	d, err := n.snapFiles.OpenSnapshot()
	if err != nil {
		return meta, nil, 0, err
	}
	if d.Meta.Index < meta.Index || d.Meta.Index == meta.Index && d.Meta.Term != meta.Term {
		d.Close()
		return meta, nil, 0, fmt.Errorf("snapshot %d (term %d) is not stored: the stored one is %d (term %d)",
			meta.Index, meta.Term, d.Meta.Index, d.Meta.Term)
	}
	return d.Meta, struct {
		io.Reader
		io.Closer
	}{d.Reader(), d}, uint64(d.Size()), nil
}

// fileSource serves a leader's snapshot chunks from the stored file.
type fileSource struct{ n *Node }

func (s fileSource) OpenSnapshot(snap *raftpb.Snapshot) (driver.SnapshotReader, error) {
	d, err := s.n.snapFiles.OpenSnapshot()
	if err != nil {
		return nil, err
	}
	if d.Meta.Index != snap.Meta.Index || d.Meta.Term != snap.Meta.Term {
		d.Close()
		// A newer one is stored; the core sends that one next time.
		return nil, fmt.Errorf("snapshot %d is no longer stored (now %d)", snap.Meta.Index, d.Meta.Index)
	}
	return d, nil
}

// fileSink streams an incoming snapshot into a new WAL snapshot file, so
// a follower holds one chunk of a transfer in memory. Finish completes
// and fsyncs it and hands the core the snapshot without data; the WAL
// installs the file when the core's Ready carries it (walStorage), and
// the apply goroutine restores from it. A crash mid-transfer leaves the
// old snapshot (the WAL removes unfinished files when it opens).
type fileSink struct{ n *Node }

func (s fileSink) CreateSnapshot(meta raftpb.SnapshotMeta, total uint64) (driver.SnapshotWriter, error) {
	f, err := s.n.snapFiles.CreateSnapshot(meta, total)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", meta.Index, err)
	}
	return &fileWriter{n: s.n, f: f}, nil
}

type fileWriter struct {
	n *Node
	f *wal.SnapshotFile
}

func (w *fileWriter) Write(p []byte) error {
	_, err := w.f.Write(p)
	return err
}

func (w *fileWriter) Finish() ([]byte, error) {
	if err := w.f.Finish(); err != nil {
		return nil, err
	}
	if w.n.received != nil {
		w.n.received.Abort() // an earlier one the core never asked to install
	}
	w.n.received = w.f
	return nil, nil
}

func (w *fileWriter) Abort() { w.f.Abort() }
