package raftpb

import "fmt"

// EntryType says how an entry's Data is interpreted.
type EntryType uint8

const (
	// EntryNormal carries a client command for the state machine.
	EntryNormal EntryType = 0
	// EntryNoop is appended by a new leader at the start of its term
	// (Raft thesis §6.4); it has no data and is not applied.
	EntryNoop EntryType = 1
	// EntryConfChange carries an encoded membership change.
	EntryConfChange EntryType = 2
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "normal"
	case EntryNoop:
		return "noop"
	case EntryConfChange:
		return "confchange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one Raft log entry. Once an Entry has been handed out (in a
// Ready, a Message or a WAL read) its Data must never be modified.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is the state a node must persist before it acts on it:
// current term and vote (Raft §5.1, Figure 2) and the commit index.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether hs is the zero value.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// SnapshotMeta identifies a snapshot: the last log index and term it
// covers and the configuration in force at that point (voters, joint
// state, learners, addresses), which a node restarting from it must use.
type SnapshotMeta struct {
	Index uint64
	Term  uint64
	ConfState
}

// Snapshot is a state machine image covering the log up to Meta.Index.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s covers nothing.
func (s *Snapshot) IsEmpty() bool { return s == nil || s.Meta.Index == 0 }
