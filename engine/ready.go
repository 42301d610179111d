package engine

import (
	"errors"
	"fmt"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Role is a node's role in its current term.
type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case PreCandidate:
		return "pre-candidate"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// SoftState is volatile state worth reporting: who leads and our role.
type SoftState struct {
	Lead uint64
	Role Role
}

// ReadState says a read with Context may be served once the local state
// machine has applied Index (thesis §6.4).
type ReadState struct {
	Index   uint64
	Context []byte
}

// Ready is one batch of work the core hands to its driver. The driver
// must, in this order of obligations:
//
//  1. send Messages now (they may overlap the local fsync, thesis §10.2.1);
//  2. persist Snapshot (if any), then HardState (if HardStateChanged) and
//     Entries (an Entries[0].Index at or below the last persisted index
//     replaces the persisted suffix from there);
//  3. call Core.Advance(rd) before asking for the next Ready (it may do so
//     while step 2 is still in flight);
//  4. once step 2 is durable, send MessagesAfterPersist and call
//     Core.Persisted with the last entry's index and term (or the
//     snapshot's, if there were no entries);
//  5. apply CommittedEntries in order, and serve ReadStates once applied
//     has reached their Index.
//
// Slices in a Ready are never modified by the core afterwards.
type Ready struct {
	// SoftState is non-nil when leader or role changed since the last Ready.
	SoftState *SoftState
	// HardState is the current hard state; HardStateChanged says whether
	// term or vote changed (the parts that must be durable before
	// MessagesAfterPersist leave). Commit alone changing does not set it.
	HardState        raftpb.HardState
	HardStateChanged bool
	// Snapshot, when non-nil, must be persisted and restored into the
	// state machine before CommittedEntries are applied.
	Snapshot *raftpb.Snapshot
	// Entries must be persisted, in order.
	Entries []raftpb.Entry
	// Messages may be sent at once.
	Messages []raftpb.Message
	// MessagesAfterPersist (vote grants, append acks) may leave only after
	// this Ready's Snapshot, HardState and Entries are durable.
	MessagesAfterPersist []raftpb.Message
	// CommittedEntries are committed (durable on a quorum, not
	// necessarily here yet) and were handed out in Entries of this or an
	// earlier Ready; apply in order.
	CommittedEntries []raftpb.Entry
	// ReadStates are confirmed read indexes.
	ReadStates []ReadState
}

// IsEmpty reports whether rd carries no work at all.
func (rd *Ready) IsEmpty() bool {
	return rd.SoftState == nil && !rd.HardStateChanged && rd.Snapshot == nil &&
		len(rd.Entries) == 0 && len(rd.Messages) == 0 && len(rd.MessagesAfterPersist) == 0 &&
		len(rd.CommittedEntries) == 0 && len(rd.ReadStates) == 0
}

// NotLeaderError is returned for a request that only a leader can serve.
// Leader is the last known leader, or 0 when none is known.
type NotLeaderError struct {
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return "engine: not leader (no leader known)"
	}
	return fmt.Sprintf("engine: not leader (leader is %d)", e.Leader)
}

// Errors returned by Core methods.
var (
	// ErrProposalBackpressure: the leader's uncommitted bytes exceed
	// Config.MaxUncommittedBytes; retry later.
	ErrProposalBackpressure = errors.New("engine: too many uncommitted bytes, proposal refused")
	// ErrTransferInProgress: proposals are refused while leadership is
	// being transferred.
	ErrTransferInProgress = errors.New("engine: leadership transfer in progress, proposal refused")
	// ErrStepWrongMessage: Step was given a message type that is not a
	// network message, or a message addressed to another node.
	ErrStepWrongMessage = errors.New("engine: message is not addressed to this node or has an invalid type")
	// ErrUnknownPeer: the node named (a transfer target) is not a member.
	// Step does not return it: messages are accepted from any sender
	// (thesis §4.1).
	ErrUnknownPeer = errors.New("engine: message from unknown peer")
	// ErrEmptyProposal: proposals must carry data.
	ErrEmptyProposal = errors.New("engine: empty proposal")
	// ErrBadSnapshot: the caller asked for a compaction beyond what the
	// given snapshot covers, or the snapshot is older than the log start.
	ErrBadSnapshot = errors.New("engine: snapshot does not fit the log")
)
