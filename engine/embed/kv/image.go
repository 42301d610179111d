package kv

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The slab image (RBKV2) is the streamed snapshot's encoding: magic,
// uvarint count, then count records exactly as the slabs hold them,
// "state | uvarint klen | uvarint vlen | key | value", every state
// recordLive. A run of consecutive live records in a slab is already
// its encoding, so writing a snapshot is copying runs of memory into a
// buffer: no per-record encoding (RBKV1 puts each key's length before
// the key, the slabs put both lengths first). The price is the state
// byte: one byte per key more than RBKV1's pairs (147 instead of 146
// bytes for a 16-byte key and a 128-byte value). Restore accepts RBKV1
// (older files, Store.Snapshot's canonical encoding) and RBKV2; the
// order of records is free in both, a key listed twice is refused. A
// binary older than RBKV2 cannot read it (it stops with a malformed
// snapshot error where it must restore one): a node that wrote an RBKV2
// snapshot cannot go back to such a binary, and during a rolling
// upgrade a node still on one stops if it is sent a snapshot by an
// upgraded leader.
const imageMagic = "RBKV2"

// imageBufBytes is the buffer the runs are gathered in, one Write each.
// Writing runs straight from the slabs (no copy in user space) was
// measured slower in the cluster: the checksum and the kernel's copy
// then read the slab from memory again after the walk (about twice the
// CPU in the file write per byte), while a buffer this size stays in cache
// for both.
const imageBufBytes = 256 << 10

// imageRunBytes: a run is copied to the buffer once this long, while
// the bytes the walk just read are still in cache.
const imageRunBytes = 16 << 10

// imageSize is the exact size of the slab image of an exact view (see
// frozenTable.exact): the live records, state bytes included, are the
// table's live bytes, counted as it goes, so no pass is needed.
func (f *frozenTable) imageSize() int {
	return len(imageMagic) + uvarintLen(f.len()) + int(f.live)
}

// writeImage writes the slab image of an exact view to w: walks each
// slab's record headers and copies every run of consecutive live
// records to a buffer, handed to w whenever full. It fails if the walk
// finds another number of live records or bytes than the view counted
// (the size the caller's file was given).
func (f *frozenTable) writeImage(w io.Writer) (int64, error) {
	if !f.exact {
		return 0, fmt.Errorf("kv: slab image of a view whose dead marks are not exact")
	}
	buf := append(make([]byte, 0, imageBufBytes), imageMagic...)
	buf = binary.AppendUvarint(buf, uint64(f.len()))
	var written int64
	write := func(p []byte) error {
		n, err := w.Write(p)
		written += int64(n)
		if err == nil && n != len(p) {
			err = io.ErrShortWrite
		}
		return err
	}
	emit := func(run []byte) error {
		for len(run) > 0 {
			k := copy(buf[len(buf):cap(buf)], run)
			buf, run = buf[:len(buf)+k], run[k:]
			if len(buf) == cap(buf) {
				if err := write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		return nil
	}
	records, live := 0, uint64(0)
	for _, s := range f.slabs {
		start := -1 // of the current run of live records
		for off := 0; off < len(s); {
			state := s[off]
			kl, n1 := binary.Uvarint(s[off+1:])
			vl, n2 := binary.Uvarint(s[off+1+n1:])
			end := off + 1 + n1 + n2 + int(kl) + int(vl)
			if state == recordDead {
				if start >= 0 {
					if err := emit(s[start:off]); err != nil {
						return written, err
					}
					start = -1
				}
			} else {
				if start < 0 {
					start = off
				}
				records++
				live += uint64(end - off)
				if end-start >= imageRunBytes {
					if err := emit(s[start:end]); err != nil {
						return written, err
					}
					start = -1
				}
			}
			off = end
		}
		if start >= 0 {
			if err := emit(s[start:]); err != nil {
				return written, err
			}
		}
	}
	if records != f.len() || live != f.live {
		return written, fmt.Errorf("kv: slab image: %d live records of %d bytes, the view counted %d of %d", records, live, f.len(), f.live)
	}
	if len(buf) > 0 {
		if err := write(buf); err != nil {
			return written, err
		}
	}
	return written, nil
}

// restoreImage reads n records of a slab image (after its magic and
// count) from r into t.
func restoreImage(r byteReader, t *table, n uint64) error {
	var key, val []byte
	for i := uint64(0); i < n; i++ {
		state, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: snapshot record %d: %d records announced", ErrMalformed, i, n)
		}
		if state != recordLive {
			return fmt.Errorf("%w: snapshot record %d: state %d, want %d (live)", ErrMalformed, i, state, recordLive)
		}
		kl, err := binary.ReadUvarint(r)
		if err != nil || kl > MaxKeyBytes {
			return fmt.Errorf("%w: snapshot record %d: bad key length", ErrMalformed, i)
		}
		vl, err := binary.ReadUvarint(r)
		if err != nil || vl > MaxValueBytes {
			return fmt.Errorf("%w: snapshot record %d: bad value length", ErrMalformed, i)
		}
		if key, err = readN(r, key, kl); err != nil {
			return fmt.Errorf("snapshot key %d: %w", i, err)
		}
		if val, err = readN(r, val, vl); err != nil {
			return fmt.Errorf("snapshot value %d: %w", i, err)
		}
		if err := t.restoreRecord(key, val); err != nil {
			return err
		}
	}
	return nil
}

// readN reads n bytes into buf (reused).
func readN(r io.Reader, buf []byte, n uint64) ([]byte, error) {
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, fmt.Errorf("%w: length %d exceeds input", ErrMalformed, n)
	}
	return buf, nil
}
