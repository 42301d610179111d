package hashicorp

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// fsm adapts kv.Store to raft.FSM: one Apply per committed command.
type fsm struct {
	store     *kv.Store
	snapshots *atomic.Uint64 // the target's count of snapshots taken
}

func (f *fsm) Apply(l *raft.Log) interface{} {
	return f.store.Apply(l.Data)
}

// Snapshot only captures the store; raft calls Persist, which encodes
// it, on another goroutine beside Apply (the FSMSnapshot contract), as
// our engine does with the same store.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.snapshots.Add(1)
	return snapshot{view: f.store.Capture()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("hashicorp: read snapshot: %w", err)
	}
	return f.store.Restore(b)
}

// batchingFSM is the tuned target's FSM: raft hands it whole batches.
type batchingFSM struct {
	fsm
}

// ApplyBatch answers every log; only LogCommand entries reach the store
// (raft also passes LogConfiguration entries here).
func (f *batchingFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = f.store.Apply(l.Data)
		}
	}
	return out
}

// snapshot is a captured view of the store, encoded when persisted.
type snapshot struct {
	view *kv.View
}

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.view.Encode()); err != nil {
		sink.Cancel()
		return fmt.Errorf("hashicorp: write snapshot: %w", err)
	}
	return sink.Close()
}

// Release closes the view (raft calls it after Persist, and alone when
// it abandons a snapshot): an open view keeps the store from reusing
// value buffers.
func (s snapshot) Release() { s.view.Release() }
