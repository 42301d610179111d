package raftpb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary message codec.
//
// One encoded Message (the payload of one transport frame, or the base64
// body of one Maelstrom node-to-node message):
//
//	message  = version:u8 (=1)  type:u8  flags:u8
//	           to from term logTerm index commit rejectHint   (uvarint each)
//	           nEntries:uvarint  entry{nEntries}
//	           ctxLen:uvarint  ctx[ctxLen]
//	           [snapshot]                     (present iff flags&flagSnapshot)
//	entry    = dTerm:varint  dIndex:varint    (zigzag deltas from the previous
//	                                           entry; the first entry's are from
//	                                           the message's Term and Index)
//	           type:u8  dataLen:uvarint  data[dataLen]
//	snapshot = index term:uvarint  nVoters:uvarint voter{nVoters}:uvarint
//	           confLen:uvarint  conf[confLen]  (AppendConfExtension: joint,
//	                                           learners, addresses; empty if none)
//	           dataLen:uvarint  data[dataLen]
//
//	flags: bit 0 Reject, bit 1 Snapshot present; other bits must be zero.
//
// Why deltas: in a MsgApp the first entry is Index+1 at (usually) Term and
// the rest are consecutive, so term and index cost one byte each instead
// of up to ten. A 128-byte entry costs 133 bytes on the wire.
//
// Every varint must be in its shortest form, so each Message has exactly
// one encoding (the fuzz target checks decode(encode(decode(b))) == b).
// Zero-length byte fields decode as nil.

// codecVersion is the first byte of every encoded message. Bump it (and
// keep decoding the old one) if the layout ever changes.
const codecVersion = 1

const (
	flagReject   = 1 << 0
	flagSnapshot = 1 << 1
	flagsKnown   = flagReject | flagSnapshot
)

// minEntryWire is the fewest bytes one entry can take on the wire
// (dTerm, dIndex, type, dataLen: one byte each). It bounds how many
// entries an input of a given length can claim before anything is
// allocated for them.
const minEntryWire = 4

// maxVoters bounds a snapshot's voter list; real clusters have a handful.
const maxVoters = 1 << 12

// ErrMalformedMessage is wrapped by every error UnmarshalMessage returns.
var ErrMalformedMessage = errors.New("raftpb: malformed message")

// Limits bound what UnmarshalMessage accepts. A zero field means the
// DefaultLimits value. Independently of these, nothing can claim more
// bytes than the input holds: allocations are bounded by the input length
// (plus one Entry header per claimed entry, itself bounded by the input
// length / 4).
type Limits struct {
	MaxEntries       int // entries per message
	MaxEntryBytes    int // data bytes of one entry
	MaxContextBytes  int // bytes of Message.Context
	MaxSnapshotBytes int // bytes of Snapshot.Data
}

// DefaultLimits are generous bounds suitable for any honest peer.
var DefaultLimits = Limits{
	MaxEntries:       1 << 16,
	MaxEntryBytes:    16 << 20,
	MaxContextBytes:  64 << 10,
	MaxSnapshotBytes: 1 << 30,
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	if l.MaxEntryBytes <= 0 {
		l.MaxEntryBytes = DefaultLimits.MaxEntryBytes
	}
	if l.MaxContextBytes <= 0 {
		l.MaxContextBytes = DefaultLimits.MaxContextBytes
	}
	if l.MaxSnapshotBytes <= 0 {
		l.MaxSnapshotBytes = DefaultLimits.MaxSnapshotBytes
	}
	return l
}

// MessageSize returns the exact number of bytes AppendMessage adds for m.
func MessageSize(m *Message) int {
	n := 3 + uvarintLen(m.To) + uvarintLen(m.From) + uvarintLen(m.Term) +
		uvarintLen(m.LogTerm) + uvarintLen(m.Index) + uvarintLen(m.Commit) +
		uvarintLen(m.RejectHint) + uvarintLen(uint64(len(m.Entries)))
	prevTerm, prevIndex := m.Term, m.Index
	for i := range m.Entries {
		e := &m.Entries[i]
		n += uvarintLen(zigzag(e.Term-prevTerm)) + uvarintLen(zigzag(e.Index-prevIndex)) +
			1 + uvarintLen(uint64(len(e.Data))) + len(e.Data)
		prevTerm, prevIndex = e.Term, e.Index
	}
	n += uvarintLen(uint64(len(m.Context))) + len(m.Context)
	if s := m.Snapshot; s != nil {
		n += uvarintLen(s.Meta.Index) + uvarintLen(s.Meta.Term) + uvarintLen(uint64(len(s.Meta.Voters)))
		for _, v := range s.Meta.Voters {
			n += uvarintLen(v)
		}
		ext := len(AppendConfExtension(nil, s.Meta.ConfState))
		n += uvarintLen(uint64(ext)) + ext
		n += uvarintLen(uint64(len(s.Data))) + len(s.Data)
	}
	return n
}

// AppendMessage appends the encoding of m to b and returns the extended
// slice. It does not validate m (an invalid Type is encoded as is and
// rejected by the decoder); callers that need a bound on the size check
// the result's length.
func AppendMessage(b []byte, m *Message) []byte {
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.Snapshot != nil {
		flags |= flagSnapshot
	}
	b = append(b, codecVersion, byte(m.Type), flags)
	b = binary.AppendUvarint(b, m.To)
	b = binary.AppendUvarint(b, m.From)
	b = binary.AppendUvarint(b, m.Term)
	b = binary.AppendUvarint(b, m.LogTerm)
	b = binary.AppendUvarint(b, m.Index)
	b = binary.AppendUvarint(b, m.Commit)
	b = binary.AppendUvarint(b, m.RejectHint)
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	prevTerm, prevIndex := m.Term, m.Index
	for i := range m.Entries {
		e := &m.Entries[i]
		b = binary.AppendUvarint(b, zigzag(e.Term-prevTerm))
		b = binary.AppendUvarint(b, zigzag(e.Index-prevIndex))
		b = append(b, byte(e.Type))
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
		prevTerm, prevIndex = e.Term, e.Index
	}
	b = binary.AppendUvarint(b, uint64(len(m.Context)))
	b = append(b, m.Context...)
	if s := m.Snapshot; s != nil {
		b = binary.AppendUvarint(b, s.Meta.Index)
		b = binary.AppendUvarint(b, s.Meta.Term)
		b = binary.AppendUvarint(b, uint64(len(s.Meta.Voters)))
		for _, v := range s.Meta.Voters {
			b = binary.AppendUvarint(b, v)
		}
		ext := AppendConfExtension(nil, s.Meta.ConfState)
		b = binary.AppendUvarint(b, uint64(len(ext)))
		b = append(b, ext...)
		b = binary.AppendUvarint(b, uint64(len(s.Data)))
		b = append(b, s.Data...)
	}
	return b
}

// UnmarshalMessage decodes exactly one message from b into m, overwriting
// all of m. Every count and length is checked against lim and against the
// bytes remaining in b before anything is allocated; unknown versions,
// message types, entry types or flag bits, non-minimal varints and
// trailing bytes are rejected. Errors wrap ErrMalformedMessage.
//
// The result never aliases b: entry data and Context are copied into one
// allocation per message (so the caller may reuse b at once), the entry
// headers take a second, and a snapshot takes its own.
func UnmarshalMessage(b []byte, m *Message, lim Limits) error {
	lim = lim.withDefaults()
	d := decoder{b: b}
	*m = Message{}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return d.failf("unsupported codec version %d", v)
	}
	m.Type = MessageType(d.byte())
	flags := d.byte()
	if d.err != nil {
		return d.err
	}
	if !m.Type.Valid() {
		return d.failf("unknown message type %d", uint8(m.Type))
	}
	if flags&^flagsKnown != 0 {
		return d.failf("unknown flag bits %#x", flags)
	}
	m.Reject = flags&flagReject != 0
	m.To, m.From, m.Term = d.uvarint(), d.uvarint(), d.uvarint()
	m.LogTerm, m.Index, m.Commit = d.uvarint(), d.uvarint(), d.uvarint()
	m.RejectHint = d.uvarint()
	dataBytes := d.entries(m, lim)
	ctx := d.bytes(lim.MaxContextBytes, "context")
	if d.err != nil {
		return d.err
	}
	copyPayload(m, ctx, dataBytes)
	if flags&flagSnapshot != 0 {
		m.Snapshot = d.snapshot(lim)
	}
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return d.failf("%d trailing bytes", len(d.b)-d.off)
	}
	return nil
}

// copyPayload moves entry data and ctx (which still alias the input) into
// one fresh buffer. Each piece gets a capped slice so that appending to
// one can never overwrite its neighbour.
func copyPayload(m *Message, ctx []byte, dataBytes int) {
	total := dataBytes + len(ctx)
	if total == 0 {
		return
	}
	buf := make([]byte, total)
	off := 0
	for i := range m.Entries {
		e := &m.Entries[i]
		if len(e.Data) == 0 {
			continue
		}
		n := copy(buf[off:], e.Data)
		e.Data = buf[off : off+n : off+n]
		off += n
	}
	if len(ctx) > 0 {
		copy(buf[off:], ctx)
		m.Context = buf[off:total:total]
	}
}

// decoder reads from b with a sticky error: after the first failure every
// read returns zero values and d.err stays the first cause.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) failf(format string, args ...any) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s (at byte %d of %d)",
			ErrMalformedMessage, fmt.Sprintf(format, args...), d.off, len(d.b))
	}
	return d.err
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.failf("truncated")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	// Fast path: one-byte varints dominate (types, deltas, small lengths).
	if d.off < len(d.b) && d.b[d.off] < 0x80 {
		v := uint64(d.b[d.off])
		d.off++
		return v
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.failf("truncated varint")
		return 0
	case n < 0:
		d.failf("varint overflows 64 bits")
		return 0
	case d.b[d.off+n-1] == 0:
		d.failf("non-minimal varint")
		return 0
	}
	d.off += n
	return v
}

// length reads a uvarint count or length and checks it against max and
// against what the remaining input could possibly hold (each unit taking
// at least unitBytes), so callers may allocate it.
func (d *decoder) length(max, unitBytes int, what string) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(max) {
		d.failf("%s length %d exceeds limit %d", what, v, max)
		return 0
	}
	if v > uint64(d.remaining()/unitBytes) {
		d.failf("%s length %d exceeds the %d bytes left", what, v, d.remaining())
		return 0
	}
	return int(v)
}

// bytes reads a length-prefixed byte field, aliasing the input.
func (d *decoder) bytes(max int, what string) []byte {
	n := d.length(max, 1, what)
	if d.err != nil || n == 0 {
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

// entries decodes the entry list into m.Entries with Data still aliasing
// the input, and returns the total data bytes.
func (d *decoder) entries(m *Message, lim Limits) int {
	n := d.length(lim.MaxEntries, minEntryWire, "entry count")
	if d.err != nil || n == 0 {
		return 0
	}
	ents := make([]Entry, n)
	total := 0
	prevTerm, prevIndex := m.Term, m.Index
	for i := range ents {
		e := &ents[i]
		e.Term = prevTerm + unzigzag(d.uvarint())
		e.Index = prevIndex + unzigzag(d.uvarint())
		e.Type = EntryType(d.byte())
		if d.err == nil && e.Type > EntryConfChange {
			d.failf("entry %d has unknown type %d", i, uint8(e.Type))
		}
		e.Data = d.bytes(lim.MaxEntryBytes, "entry data")
		if d.err != nil {
			return 0
		}
		total += len(e.Data)
		prevTerm, prevIndex = e.Term, e.Index
	}
	m.Entries = ents
	return total
}

func (d *decoder) snapshot(lim Limits) *Snapshot {
	s := &Snapshot{}
	s.Meta.Index, s.Meta.Term = d.uvarint(), d.uvarint()
	if n := d.length(maxVoters, 1, "voter count"); n > 0 {
		s.Meta.Voters = make([]uint64, n)
		for i := range s.Meta.Voters {
			s.Meta.Voters[i] = d.uvarint()
		}
	}
	if ext := d.bytes(maxVoters*(2*binary.MaxVarintLen64+maxAddrBytes), "configuration"); len(ext) > 0 && d.err == nil {
		if err := DecodeConfExtension(ext, &s.Meta.ConfState); err != nil {
			d.failf("snapshot configuration: %v", err)
		}
	}
	if data := d.bytes(lim.MaxSnapshotBytes, "snapshot data"); len(data) > 0 {
		s.Data = append([]byte(nil), data...)
	}
	return s
}

// zigzag maps a wrapped uint64 difference, read as signed, to an unsigned
// value whose magnitude is small when the difference is small.
func zigzag(delta uint64) uint64 {
	v := int64(delta)
	return uint64((v << 1) ^ (v >> 63))
}

func unzigzag(u uint64) uint64 {
	return (u >> 1) ^ -(u & 1)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
