package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Record layout (inside one tidwall payload; see doc.go):
//
//	index u64 | term u64 | type u8 | dataLen u32 | data | crc32c u32
//
// All integers little-endian. The CRC covers every byte before it.
const (
	recHeaderSize  = 8 + 8 + 1 + 4
	recTrailerSize = 4
	recOverhead    = recHeaderSize + recTrailerSize
	// maxEntryData bounds one entry's data; the length field is 32 bits.
	maxEntryData = 1<<32 - 1
)

// castagnoli is the CRC32C table (hardware-accelerated on amd64/arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize is the encoded size of e without tidwall's length prefix.
func recordSize(e *raftpb.Entry) int { return recOverhead + len(e.Data) }

// appendRecord appends the encoding of e to dst. It allocates only when
// dst has to grow, so a reused dst makes the hot path allocation-free.
func appendRecord(dst []byte, e *raftpb.Entry) []byte {
	start := len(dst)
	var h [recHeaderSize]byte
	binary.LittleEndian.PutUint64(h[0:], e.Index)
	binary.LittleEndian.PutUint64(h[8:], e.Term)
	h[16] = byte(e.Type)
	binary.LittleEndian.PutUint32(h[17:], uint32(len(e.Data)))
	dst = append(dst, h[:]...)
	dst = append(dst, e.Data...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// recordError describes why a record failed to decode. It wraps ErrCorrupt.
type recordError struct{ reason string }

func (e *recordError) Error() string { return e.reason }
func (e *recordError) Unwrap() error { return ErrCorrupt }

// decodeRecord checks rec's length fields and checksum and returns the
// entry it holds. The returned Data aliases rec.
func decodeRecord(rec []byte) (raftpb.Entry, error) {
	if len(rec) < recOverhead {
		return raftpb.Entry{}, &recordError{fmt.Sprintf("record of %d bytes is shorter than the %d-byte minimum", len(rec), recOverhead)}
	}
	n := binary.LittleEndian.Uint32(rec[17:])
	if uint64(n) != uint64(len(rec)-recOverhead) {
		return raftpb.Entry{}, &recordError{fmt.Sprintf("data length %d does not match record length %d", n, len(rec))}
	}
	body := rec[:len(rec)-recTrailerSize]
	want := binary.LittleEndian.Uint32(rec[len(body):])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return raftpb.Entry{}, &recordError{fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", want, got)}
	}
	return raftpb.Entry{
		Index: binary.LittleEndian.Uint64(rec[0:]),
		Term:  binary.LittleEndian.Uint64(rec[8:]),
		Type:  raftpb.EntryType(rec[16]),
		Data:  rec[recHeaderSize:len(body)],
	}, nil
}

// decodeRecordAt is decodeRecord plus the check that the record holds
// the index its position says it must.
func decodeRecordAt(rec []byte, want uint64) (raftpb.Entry, error) {
	e, err := decodeRecord(rec)
	if err == nil && e.Index != want {
		err = &recordError{fmt.Sprintf("record holds index %d at the position of index %d", e.Index, want)}
	}
	return e, err
}

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
