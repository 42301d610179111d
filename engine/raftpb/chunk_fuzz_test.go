package raftpb

import (
	"bytes"
	"testing"
)

// FuzzSnapChunk decodes arbitrary bytes as a message and, when it is a
// MsgSnapChunk, reads the chunk out of it: never a panic; an accepted
// chunk lies inside its total, says done exactly at the end, and
// survives a round trip through ChunkMessage and the codec unchanged.
func FuzzSnapChunk(f *testing.F) {
	meta := SnapshotMeta{Index: 42, Term: 3, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}
	for _, c := range []SnapChunk{
		{Meta: meta, Offset: 0, Total: 10, Data: []byte("0123456789"), Done: true},
		{Meta: meta, Offset: 4, Total: 10, Data: []byte("4567")},
		{Meta: meta, Offset: 0, Total: 0, Done: true},
		{Meta: meta, Offset: 9, Total: 8, Data: []byte("x")}, // malformed: past its total
	} {
		c.Checksum = ChunkChecksum(c.Data)
		m := ChunkMessage(1, 2, 5, c)
		f.Add(AppendMessage(nil, &m))
	}
	lim := Limits{MaxEntries: 16, MaxEntryBytes: 1 << 12, MaxContextBytes: 1 << 8, MaxSnapshotBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m Message
		if err := UnmarshalMessage(in, &m, lim); err != nil || m.Type != MsgSnapChunk {
			return
		}
		c, err := m.Chunk()
		if err != nil {
			return
		}
		end := c.Offset + uint64(len(c.Data))
		if end < c.Offset || end > c.Total || c.Done != (end == c.Total) {
			t.Fatalf("accepted an inconsistent chunk: offset %d len %d total %d done %v", c.Offset, len(c.Data), c.Total, c.Done)
		}
		_ = c.Verify()
		back := ChunkMessage(m.From, m.To, m.Term, c)
		var m2 Message
		if err := UnmarshalMessage(AppendMessage(nil, &back), &m2, lim); err != nil {
			t.Fatalf("re-encoded chunk does not decode: %v", err)
		}
		c2, err := m2.Chunk()
		if err != nil || c2.Offset != c.Offset || c2.Total != c.Total || c2.Done != c.Done ||
			c2.Checksum != c.Checksum || !bytes.Equal(c2.Data, c.Data) || c2.Meta.Index != c.Meta.Index {
			t.Fatalf("chunk round trip: %+v -> %+v (%v)", c, c2, err)
		}
	})
}
