package raftpb

import (
	"errors"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	data := []byte("0123456789")
	c := SnapChunk{Meta: SnapshotMeta{Index: 9, Term: 2}, Offset: 20, Total: 30, Checksum: ChunkChecksum(data), Done: true, Data: data}
	m := ChunkMessage(1, 2, 3, c)
	b := AppendMessage(nil, &m)
	var out Message
	if err := UnmarshalMessage(b, &out, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	got, err := out.Chunk()
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != 20 || got.Total != 30 || !got.Done || got.Meta.Index != 9 || !got.Verify() {
		t.Fatalf("chunk = %+v", got)
	}
	got.Data[0] ^= 1
	if got.Verify() {
		t.Fatal("a flipped bit verified")
	}
}

// TestChunkBadFields: a chunk whose fields disagree is refused with an
// error naming the problem.
func TestChunkBadFields(t *testing.T) {
	meta := SnapshotMeta{Index: 9, Term: 2}
	d := []byte("abcd")
	for name, m := range map[string]Message{
		"past total":    ChunkMessage(1, 2, 3, SnapChunk{Meta: meta, Offset: 8, Total: 10, Data: d}),
		"done too soon": ChunkMessage(1, 2, 3, SnapChunk{Meta: meta, Offset: 0, Total: 10, Done: true, Data: d}),
		"not done":      ChunkMessage(1, 2, 3, SnapChunk{Meta: meta, Offset: 6, Total: 10, Data: d}),
		"empty":         ChunkMessage(1, 2, 3, SnapChunk{Meta: meta, Offset: 0, Total: 10}),
		"overflow":      ChunkMessage(1, 2, 3, SnapChunk{Meta: meta, Offset: ^uint64(0) - 1, Total: 10, Data: d}),
		"no snapshot":   {Type: MsgSnapChunk, Commit: 4},
		"done flag 2":   {Type: MsgSnapChunk, LogTerm: 2, Snapshot: &Snapshot{}},
		"wrong type":    {Type: MsgSnap, Snapshot: &Snapshot{}},
	} {
		if _, err := m.Chunk(); !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
