package driver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Entry data layout for a client command (every proposal a runtime makes):
//
//	+------+---------------+-----------+---------+
//	| 0x01 | client id u64 | seq u64   | command |
//	+------+---------------+-----------+---------+
//	  1 B    8 B little-endian  8 B LE    rest
//
// The header lets every replica deduplicate retried or duplicated
// requests identically (thesis §6.3).
const (
	entryKindSession = 0x01
	// HeaderLen is the size of the session header before the command.
	HeaderLen = 17
)

// AppendHeader appends a session header to b.
func AppendHeader(b []byte, clientID, seq uint64) []byte {
	b = append(b, entryKindSession)
	b = binary.LittleEndian.AppendUint64(b, clientID)
	return binary.LittleEndian.AppendUint64(b, seq)
}

// ParseEntry splits entry data into its session and command.
func ParseEntry(data []byte) (clientID, seq uint64, cmd []byte, err error) {
	if len(data) < HeaderLen || data[0] != entryKindSession {
		return 0, 0, nil, fmt.Errorf("%w: entry data of %d bytes has no session header", ErrMalformedEntry, len(data))
	}
	return binary.LittleEndian.Uint64(data[1:]), binary.LittleEndian.Uint64(data[9:]), data[HeaderLen:], nil
}

// ErrMalformedEntry: a committed normal entry without a session header.
// Every replica skips it the same way.
var ErrMalformedEntry = errors.New("driver: malformed entry")

// Session dedup parameters. windowBits recent sequence numbers per client
// are remembered exactly (so out-of-order arrival within the window is
// fine); resultSlots of their results are kept for retries.
const (
	windowBits  = 64
	resultSlots = 4
	// DefaultMaxSessions bounds the dedup table.
	DefaultMaxSessions = 10000
)

type cachedResult struct {
	seq uint64
	res []byte
}

// session is one client's dedup state. Sessions form a list ordered by
// the log index that last touched them, so eviction is by applied order:
// deterministic on every replica, never by wall time.
type session struct {
	id        uint64
	maxSeq    uint64
	window    uint64 // bit i set: seq maxSeq-i was applied
	lastIndex uint64
	results   [resultSlots]cachedResult
	prev      *session
	next      *session
}

// sessionTable is owned by the Applier.
type sessionTable struct {
	max int
	// forgetEarly is the BugSessionWindowShort switch.
	forgetEarly bool
	// evictions counts sessions dropped because the table was full.
	evictions uint64
	m         map[uint64]*session
	head      *session // least recently applied
	tail      *session // most recently applied
}

func newSessionTable(max int) *sessionTable {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &sessionTable{max: max, m: make(map[uint64]*session)}
}

// verdict is what the table says about a request about to be applied.
type verdict uint8

const (
	verdictApply     verdict = iota // new: apply it
	verdictDuplicate                // applied before; result (may be nil if evicted)
	verdictStale                    // older than the window: unknown, not applied
)

// check classifies (clientID, seq) without changing the table.
func (t *sessionTable) check(clientID, seq uint64) (verdict, []byte) {
	s := t.m[clientID]
	if s == nil || seq > s.maxSeq {
		return verdictApply, nil
	}
	d := s.maxSeq - seq
	if d >= windowBits {
		return verdictStale, nil
	}
	if bugsBuild && t.forgetEarly && d == 1 {
		// The bug: the seq just below the newest is already forgotten
		// (the window is one seq too short at its young end).
		return verdictApply, nil
	}
	if s.window&(1<<d) == 0 {
		return verdictApply, nil
	}
	if r := s.results[seq%resultSlots]; r.seq == seq && r.res != nil {
		return verdictDuplicate, r.res
	}
	return verdictDuplicate, nil
}

// record notes that (clientID, seq) was applied at index with result res.
func (t *sessionTable) record(clientID, seq, index uint64, res []byte) {
	s := t.m[clientID]
	if s == nil {
		s = &session{id: clientID}
		t.m[clientID] = s
	} else {
		t.unlink(s)
	}
	switch {
	case seq > s.maxSeq:
		shift := seq - s.maxSeq
		if shift >= windowBits {
			s.window = 0
		} else {
			s.window <<= shift
		}
		s.window |= 1
		s.maxSeq = seq
	default:
		s.window |= 1 << (s.maxSeq - seq)
	}
	if res == nil {
		res = []byte{}
	}
	s.results[seq%resultSlots] = cachedResult{seq: seq, res: res}
	s.lastIndex = index
	t.pushBack(s)
	for len(t.m) > t.max {
		old := t.head
		t.unlink(old)
		delete(t.m, old.id)
		t.evictions++
	}
}

func (t *sessionTable) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		t.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		t.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (t *sessionTable) pushBack(s *session) {
	s.prev = t.tail
	if t.tail != nil {
		t.tail.next = s
	} else {
		t.head = s
	}
	t.tail = s
}

// Snapshot layout (the Data of a raftpb.Snapshot a driver takes):
//
//	"RBNS1" | uvarint n | n sessions, least recently applied first | SM snapshot
//	session: id u64 | maxSeq u64 | window u64 | lastIndex u64 |
//	         uvarint k | k x (seq u64 | uvarint len | bytes)
const snapMagic = "RBNS1"

// maxSnapSessions bounds what a snapshot may claim, so a corrupt one
// cannot make Restore allocate wildly.
const maxSnapSessions = 1 << 24

func (t *sessionTable) appendSnapshot(b []byte) []byte {
	b = append(b, snapMagic...)
	b = binary.AppendUvarint(b, uint64(len(t.m)))
	for s := t.head; s != nil; s = s.next {
		b = binary.LittleEndian.AppendUint64(b, s.id)
		b = binary.LittleEndian.AppendUint64(b, s.maxSeq)
		b = binary.LittleEndian.AppendUint64(b, s.window)
		b = binary.LittleEndian.AppendUint64(b, s.lastIndex)
		k := 0
		for _, r := range s.results {
			if r.res != nil {
				k++
			}
		}
		b = binary.AppendUvarint(b, uint64(k))
		for _, r := range s.results {
			if r.res != nil {
				b = binary.LittleEndian.AppendUint64(b, r.seq)
				b = binary.AppendUvarint(b, uint64(len(r.res)))
				b = append(b, r.res...)
			}
		}
	}
	return b
}

// ErrBadSnapshot: snapshot data that does not parse.
var ErrBadSnapshot = errors.New("driver: malformed snapshot")

// restoreSnapshot replaces the table from b and returns the rest of b
// (the state machine's snapshot).
func (t *sessionTable) restoreSnapshot(b []byte) ([]byte, error) {
	br := bytes.NewReader(b)
	if err := t.restoreSnapshotFrom(br); err != nil {
		return nil, err
	}
	return b[len(b)-br.Len():], nil
}

// byteReader is what the session table reads a snapshot from.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// restoreSnapshotFrom replaces the table with the one read from r,
// which is left at the state machine's snapshot. On an error the table
// is unchanged.
func (t *sessionTable) restoreSnapshotFrom(br byteReader) error {
	var magic [len(snapMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != snapMagic {
		return fmt.Errorf("%w: bad magic", ErrBadSnapshot)
	}
	r := reader{r: br}
	n := r.uvarint()
	if n > maxSnapSessions {
		return fmt.Errorf("%w: %d sessions", ErrBadSnapshot, n)
	}
	nt := newSessionTable(t.max)
	nt.forgetEarly, nt.evictions = t.forgetEarly, t.evictions
	for i := uint64(0); i < n && r.err == nil; i++ {
		s := &session{id: r.u64(), maxSeq: r.u64(), window: r.u64(), lastIndex: r.u64()}
		k := r.uvarint()
		if k > resultSlots {
			return fmt.Errorf("%w: session %d has %d results", ErrBadSnapshot, s.id, k)
		}
		for j := uint64(0); j < k && r.err == nil; j++ {
			seq := r.u64()
			res := r.bytes()
			s.results[seq%resultSlots] = cachedResult{seq: seq, res: res}
		}
		if _, dup := nt.m[s.id]; dup && r.err == nil {
			return fmt.Errorf("%w: duplicate session %d", ErrBadSnapshot, s.id)
		}
		nt.m[s.id] = s
		nt.pushBack(s)
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, r.err)
	}
	*t = *nt
	return nil
}

// reader decodes the session table from a stream; the first error
// sticks and later reads return zero values.
type reader struct {
	r   byteReader
	b   [8]byte
	err error
}

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if _, err := io.ReadFull(r.r, r.b[:]); err != nil {
		r.err = errors.New("truncated")
		return 0
	}
	return binary.LittleEndian.Uint64(r.b[:])
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.err = errors.New("bad varint")
		return 0
	}
	return v
}

// bytes reads a length-prefixed field into a new slice that grows only
// as data arrives, so a corrupt length cannot allocate wildly.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	var b bytes.Buffer
	if k, err := io.CopyN(&b, r.r, int64(min(n, 1<<62))); err != nil || uint64(k) != n {
		r.err = errors.New("truncated bytes")
		return nil
	}
	return append([]byte{}, b.Bytes()...)
}
