package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Entry data layout for a client command, the same as the runtime's
// (engine/runtime/node): 0x01 | client id u64 LE | seq u64 LE | kv command. The
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

// stateMachine is a node's KV store behind the session layer, plus the
// voters as of the applied index (what a snapshot's Meta.Voters must
// say). It is lost on a crash and rebuilt from the latest snapshot and
// by re-applying the log.
type stateMachine struct {
	store    *kv.Store
	sessions map[uint64]*session // iterated only through sortedClients
	voters   []uint64            // sorted
}

func newStateMachine(voters []uint64) *stateMachine {
	return &stateMachine{store: kv.NewStore(), sessions: make(map[uint64]*session), voters: slices.Clone(voters)}
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

// applyConf applies a committed membership change to the voter list (the
// configuration as of the applied index, for snapshots).
func (sm *stateMachine) applyConf(data []byte) (engine.ConfChange, error) {
	cc, err := engine.DecodeConfChange(data)
	if err != nil {
		return cc, err
	}
	i, found := slices.BinarySearch(sm.voters, cc.Node)
	switch {
	case cc.Type == engine.AddVoter && !found:
		sm.voters = slices.Insert(sm.voters, i, cc.Node)
	case cc.Type == engine.RemoveVoter && found:
		sm.voters = slices.Delete(sm.voters, i, i+1)
	}
	return cc, nil
}

// Snapshot data layout (all integers u64 little endian unless noted):
//
//	"RBSM1" | nvoters | voters... | nsessions |
//	  per session, by client id: client | seq | index | term | len(result) | result |
//	kv.Store snapshot (rest)
const smSnapshotMagic = "RBSM1"

// Limits on decoded snapshot sizes, so corrupt data cannot allocate wildly.
const (
	maxSnapVoters   = 64
	maxSnapSessions = 1 << 16
	maxResultBytes  = 1 << 20
)

var errBadSnapshot = errors.New("sim: malformed state machine snapshot")

// encode returns the whole state: equal states give equal bytes.
func (sm *stateMachine) encode() []byte {
	b := append([]byte(nil), smSnapshotMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(sm.voters)))
	for _, v := range sm.voters {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	clients := make([]uint64, 0, len(sm.sessions))
	for c := range sm.sessions {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(clients)))
	for _, c := range clients {
		ss := sm.sessions[c]
		for _, x := range []uint64{c, ss.seq, ss.index, ss.term, uint64(len(ss.result))} {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		b = append(b, ss.result...)
	}
	return append(b, sm.store.Snapshot()...)
}

// hash is a digest of the whole state (FNV-1a of encode).
func (sm *stateMachine) hash() uint64 {
	h := uint64(14695981039346656037)
	for _, c := range sm.encode() {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// restore replaces the state with a snapshot's.
func (sm *stateMachine) restore(data []byte) error {
	if len(data) < len(smSnapshotMagic) || string(data[:len(smSnapshotMagic)]) != smSnapshotMagic {
		return fmt.Errorf("%w: magic", errBadSnapshot)
	}
	r := data[len(smSnapshotMagic):]
	next := func() (uint64, bool) {
		if len(r) < 8 {
			return 0, false
		}
		v := binary.LittleEndian.Uint64(r)
		r = r[8:]
		return v, true
	}
	nv, ok := next()
	if !ok || nv > maxSnapVoters {
		return fmt.Errorf("%w: voter count", errBadSnapshot)
	}
	voters := make([]uint64, nv)
	for i := range voters {
		if voters[i], ok = next(); !ok {
			return fmt.Errorf("%w: voter %d", errBadSnapshot, i)
		}
	}
	ns, ok := next()
	if !ok || ns > maxSnapSessions {
		return fmt.Errorf("%w: session count", errBadSnapshot)
	}
	sessions := make(map[uint64]*session, ns)
	for i := uint64(0); i < ns; i++ {
		var f [5]uint64
		for j := range f {
			if f[j], ok = next(); !ok {
				return fmt.Errorf("%w: session %d", errBadSnapshot, i)
			}
		}
		if f[4] > maxResultBytes || f[4] > uint64(len(r)) {
			return fmt.Errorf("%w: session %d result length %d", errBadSnapshot, i, f[4])
		}
		sessions[f[0]] = &session{seq: f[1], index: f[2], term: f[3], result: slices.Clone(r[:f[4]])}
		r = r[f[4]:]
	}
	store := kv.NewStore()
	if err := store.Restore(r); err != nil {
		return fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	sm.store, sm.sessions, sm.voters = store, sessions, voters
	return nil
}
