package raftpb

import (
	"fmt"
	"hash/crc32"
)

// SnapChunk is one piece of a streamed snapshot. It travels as a
// MsgSnapChunk, whose existing fields carry it (so the wire codec needs
// no new layout): Snapshot.Meta names the snapshot, Snapshot.Data holds
// the piece, Index is its offset in the snapshot's data, Commit the
// data's total size, RejectHint the piece's CRC-32C, and LogTerm is 1 on
// the last piece (Done).
type SnapChunk struct {
	Meta     SnapshotMeta
	Offset   uint64
	Total    uint64
	Checksum uint32
	Done     bool
	Data     []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ChunkChecksum is the checksum a SnapChunk carries for data.
func ChunkChecksum(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// ChunkMessage wraps c in a MsgSnapChunk from a leader at term.
func ChunkMessage(from, to, term uint64, c SnapChunk) Message {
	var done uint64
	if c.Done {
		done = 1
	}
	return Message{Type: MsgSnapChunk, From: from, To: to, Term: term,
		Index: c.Offset, Commit: c.Total, RejectHint: uint64(c.Checksum), LogTerm: done,
		Snapshot: &Snapshot{Meta: c.Meta, Data: c.Data}}
}

// Chunk reads the SnapChunk out of a MsgSnapChunk and checks that its
// fields agree with each other (not yet with the data's checksum: see
// SnapChunk.Verify). A message that is not a well-formed chunk gets an
// error saying which field is wrong.
func (m *Message) Chunk() (SnapChunk, error) {
	if m.Type != MsgSnapChunk {
		return SnapChunk{}, fmt.Errorf("%w: %s is not a snapshot chunk", ErrMalformedMessage, m.Type)
	}
	if m.Snapshot == nil {
		return SnapChunk{}, fmt.Errorf("%w: snapshot chunk without a snapshot", ErrMalformedMessage)
	}
	if m.LogTerm > 1 || m.RejectHint > 0xffffffff {
		return SnapChunk{}, fmt.Errorf("%w: snapshot chunk done flag %d, checksum %#x", ErrMalformedMessage, m.LogTerm, m.RejectHint)
	}
	c := SnapChunk{Meta: m.Snapshot.Meta, Offset: m.Index, Total: m.Commit,
		Checksum: uint32(m.RejectHint), Done: m.LogTerm == 1, Data: m.Snapshot.Data}
	end := c.Offset + uint64(len(c.Data))
	switch {
	case end < c.Offset || end > c.Total:
		return c, fmt.Errorf("%w: snapshot chunk [%d, %d) past its total %d", ErrMalformedMessage, c.Offset, end, c.Total)
	case c.Done != (end == c.Total):
		return c, fmt.Errorf("%w: snapshot chunk [%d, %d) of %d has done=%v", ErrMalformedMessage, c.Offset, end, c.Total, c.Done)
	case len(c.Data) == 0 && c.Total > 0:
		return c, fmt.Errorf("%w: empty snapshot chunk at %d of %d", ErrMalformedMessage, c.Offset, c.Total)
	}
	return c, nil
}

// Verify reports whether the chunk's data matches its checksum.
func (c *SnapChunk) Verify() bool { return ChunkChecksum(c.Data) == c.Checksum }
