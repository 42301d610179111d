package raftpb

import "fmt"

// MessageType names a Raft message.
type MessageType uint8

const (
	// MsgApp is AppendEntries (Raft §5.3). Index/LogTerm identify the entry
	// preceding Entries; Commit is the leader's commit index.
	MsgApp MessageType = iota + 1
	// MsgAppResp answers MsgApp. On success Index is the highest index the
	// follower has persisted that matches the leader. On Reject, Index is
	// the rejected MsgApp's Index, RejectHint the follower's conflict
	// index and LogTerm the term at RejectHint (fast backtracking, §5.3).
	MsgAppResp
	// MsgVote asks for a vote (§5.2); Index/LogTerm describe the
	// candidate's last entry (§5.4.1).
	MsgVote
	MsgVoteResp
	// MsgPreVote asks whether a vote would be granted at Term without
	// anyone changing their term (thesis §9.6).
	MsgPreVote
	MsgPreVoteResp
	// MsgHeartbeat carries the leader's commit index and, for ReadIndex,
	// a Context echoed in the response.
	MsgHeartbeat
	MsgHeartbeatResp
	// MsgProp carries proposals a follower forwards to the leader.
	MsgProp
	// MsgReadIndex asks the leader for a read index (thesis §6.4);
	// MsgReadIndexResp carries it back in Index, with the same Context.
	MsgReadIndex
	MsgReadIndexResp
	// MsgSnap sends a snapshot to a follower too far behind the log.
	MsgSnap
	// MsgTimeoutNow tells the target of a leadership transfer to start an
	// election at once (thesis §3.10).
	MsgTimeoutNow
	// MsgTransferLeader asks the leader to transfer leadership to From.
	MsgTransferLeader
	// MsgSnapChunk carries one bounded piece of a snapshot a leader
	// streams to a follower (see SnapChunk for how its fields are used).
	// The driver sends and receives it; the core never sees it.
	MsgSnapChunk
	// MsgSnapChunkResp answers MsgSnapChunk: Snapshot.Meta names the
	// transfer, Index is the offset up to which the follower holds every
	// byte, Reject says the chunk was refused (wrong offset, size or
	// checksum) and the leader must resend from Index.
	MsgSnapChunkResp

	msgTypeEnd // sentinel: one past the last valid type
)

var messageTypeNames = [...]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp",
	MsgVote: "MsgVote", MsgVoteResp: "MsgVoteResp",
	MsgPreVote: "MsgPreVote", MsgPreVoteResp: "MsgPreVoteResp",
	MsgHeartbeat: "MsgHeartbeat", MsgHeartbeatResp: "MsgHeartbeatResp",
	MsgProp: "MsgProp", MsgReadIndex: "MsgReadIndex", MsgReadIndexResp: "MsgReadIndexResp",
	MsgSnap: "MsgSnap", MsgTimeoutNow: "MsgTimeoutNow", MsgTransferLeader: "MsgTransferLeader",
	MsgSnapChunk: "MsgSnapChunk", MsgSnapChunkResp: "MsgSnapChunkResp",
}

// Valid reports whether t is a known message type.
func (t MessageType) Valid() bool { return t >= MsgApp && t < msgTypeEnd }

func (t MessageType) String() string {
	if t.Valid() {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// AllMessageTypes lists every valid type, for metrics labels and tests.
func AllMessageTypes() []MessageType {
	out := make([]MessageType, 0, int(msgTypeEnd)-1)
	for t := MsgApp; t < msgTypeEnd; t++ {
		out = append(out, t)
	}
	return out
}

// IsResponse reports whether t answers another message.
func (t MessageType) IsResponse() bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp, MsgReadIndexResp, MsgSnapChunkResp:
		return true
	}
	return false
}

// Message is one Raft message between two nodes. Node IDs are non-zero;
// zero means "none".
type Message struct {
	Type       MessageType
	To         uint64
	From       uint64
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Commit     uint64
	Reject     bool
	RejectHint uint64
	Entries    []Entry
	Context    []byte
	Snapshot   *Snapshot
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %d->%d t%d idx=%d lt=%d c=%d", m.Type, m.From, m.To, m.Term, m.Index, m.LogTerm, m.Commit)
	if m.Reject {
		s += fmt.Sprintf(" reject hint=%d", m.RejectHint)
	}
	if len(m.Entries) > 0 {
		s += fmt.Sprintf(" ents=[%d..%d]", m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
	}
	if m.Snapshot != nil {
		s += fmt.Sprintf(" snap=%d/%d", m.Snapshot.Meta.Index, m.Snapshot.Meta.Term)
	}
	return s
}

// PayloadBytes is the number of entry data bytes m carries; used for
// flow-control accounting.
func (m *Message) PayloadBytes() uint64 {
	var n uint64
	for i := range m.Entries {
		n += uint64(len(m.Entries[i].Data))
	}
	return n
}
