package hashicorp

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/raftbench/raftbench/engine/kv"
)

// fsm adapts kv.Store to raft.FSM: one Apply per committed command.
type fsm struct {
	store *kv.Store
}

func (f *fsm) Apply(l *raft.Log) interface{} {
	return f.store.Apply(l.Data)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshot(f.store.Snapshot()), nil
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

// snapshot is an immutable copy of the store, taken under its lock.
type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("hashicorp: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
