package sim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/raftbench/raftbench/engine/kv"
)

// Entry data layout for a client command, the same as the runtime's
// (engine/node): 0x01 | client id u64 LE | seq u64 LE | kv command. The
// header lets every replica deduplicate a retried (client, seq)
// identically (Raft thesis §6.3).
const (
	entryKindSession = 0x01
	sessionHeaderLen = 17
)

var errNoSession = errors.New("sim: entry has no session header")

func encodeEntry(clientID, seq uint64, cmd []byte) []byte {
	b := make([]byte, 0, sessionHeaderLen+len(cmd))
	b = append(b, entryKindSession)
	b = binary.LittleEndian.AppendUint64(b, clientID)
	b = binary.LittleEndian.AppendUint64(b, seq)
	return append(b, cmd...)
}

func decodeEntry(data []byte) (clientID, seq uint64, cmd []byte, err error) {
	if len(data) < sessionHeaderLen || data[0] != entryKindSession {
		return 0, 0, nil, fmt.Errorf("%w (%d bytes)", errNoSession, len(data))
	}
	return binary.LittleEndian.Uint64(data[1:]), binary.LittleEndian.Uint64(data[9:]), data[sessionHeaderLen:], nil
}

// session is one client's dedup state. Clients have one operation
// outstanding at a time and increase seq, so the last seq and its result
// are enough: an older seq is a stale retry and is skipped.
type session struct {
	seq    uint64
	result []byte
	index  uint64 // log index where seq took effect
	term   uint64
}

// stateMachine is a node's KV store behind the session layer. It is lost
// on a crash and rebuilt by re-applying the log.
type stateMachine struct {
	store    *kv.Store
	sessions map[uint64]*session // looked up only, never iterated
}

func newStateMachine() *stateMachine {
	return &stateMachine{store: kv.NewStore(), sessions: make(map[uint64]*session)}
}

// applyOutcome says what applying one entry did.
type applyOutcome uint8

const (
	applyFresh applyOutcome = iota + 1 // took effect now
	applyDup                           // same seq as the last applied: cached result
	applyStale                         // older seq: skipped
)

// apply applies a client entry at (index, term) once per (client, seq).
func (sm *stateMachine) apply(index, term uint64, data []byte) (client, seq uint64, s *session, out applyOutcome, err error) {
	client, seq, cmd, err := decodeEntry(data)
	if err != nil {
		return 0, 0, nil, 0, err
	}
	s = sm.sessions[client]
	if s == nil {
		s = &session{}
		sm.sessions[client] = s
	}
	switch {
	case seq == s.seq && s.index != 0:
		return client, seq, s, applyDup, nil
	case seq < s.seq:
		return client, seq, s, applyStale, nil
	}
	s.seq, s.index, s.term = seq, index, term
	s.result = sm.store.Apply(cmd)
	return client, seq, s, applyFresh, nil
}
