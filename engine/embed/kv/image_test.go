package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// writeSizes records the size of every Write.
type writeSizes struct {
	buf   bytes.Buffer
	sizes []int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.buf.Write(p)
}

// TestSlabImage: an exact view (the only one open) streams a slab image
// of exactly Size bytes that restores to the state at the capture, with
// dead records between live ones, records larger than the buffer, and
// every key in the overflow map, in full buffers of imageBufBytes (one
// Write each, the last one shorter); a view captured while another
// is open cannot trust the dead marks and streams RBKV1, which restores
// to its own capture too.
func TestSlabImage(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprint("collide=", collide), func(t *testing.T) {
			if collide {
				defer func(h func([]byte) uint64) { hashKey = h }(hashKey)
				hashKey = func([]byte) uint64 { return 7 }
			}
			s := NewStore()
			keys := 3000
			if collide {
				keys = 300 // the overflow map is a plain map: keep it quick
			}
			for i := range keys {
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), bytes.Repeat([]byte{byte(i)}, i%200)))
			}
			s.Apply(EncodeWrite([]byte("huge"), bytes.Repeat([]byte("h"), 3*imageBufBytes)))
			for i := 0; i < keys; i += 4 { // dead records between live ones
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), []byte("other length")))
			}
			want := s.Snapshot()
			v := s.Capture()
			second := func() (*View, []byte) { // captured while v is open
				s.Apply(EncodeWrite([]byte("between"), []byte("views")))
				return s.Capture(), s.Snapshot()
			}
			v2, want2 := second()
			for i := 0; i < keys; i += 3 { // appended, not in place: the views read the old records
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), bytes.Repeat([]byte{'z'}, i%200)))
			}
			var w writeSizes
			n, err := v.WriteTo(&w)
			if err != nil || n != v.Size() || int64(w.buf.Len()) != n {
				t.Fatalf("WriteTo: %d bytes (buffer %d, Size %d), %v", n, w.buf.Len(), v.Size(), err)
			}
			if string(w.buf.Bytes()[:len(imageMagic)]) != imageMagic {
				t.Fatalf("magic %q, want the slab image's", w.buf.Bytes()[:len(imageMagic)])
			}
			checkFullBuffers(t, w.sizes)
			r := NewStore()
			if err := r.RestoreFrom(iotest.OneByteReader(bytes.NewReader(w.buf.Bytes()))); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Snapshot(), want) {
				t.Fatal("store restored from the slab image differs from the state at capture")
			}
			var b2 bytes.Buffer
			if n, err := v2.WriteTo(&b2); err != nil || n != v2.Size() {
				t.Fatalf("second view: %d bytes of %d, %v", n, v2.Size(), err)
			}
			if string(b2.Bytes()[:len(snapshotMagic)]) != snapshotMagic {
				t.Fatalf("second view's magic %q, want RBKV1 (its dead marks are not exact)", b2.Bytes()[:len(snapshotMagic)])
			}
			if err := r.Restore(b2.Bytes()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Snapshot(), want2) {
				t.Fatal("store restored from the second view differs from the state at its capture")
			}
		})
	}
}

// checkFullBuffers: every Write but the last is a full buffer.
func checkFullBuffers(t *testing.T, sizes []int) {
	t.Helper()
	for i, n := range sizes {
		if n > imageBufBytes || n < imageBufBytes && i < len(sizes)-1 {
			t.Fatalf("write %d of %d has %d bytes, want %d (full buffers): %v", i, len(sizes), n, imageBufBytes, sizes)
		}
	}
}

// TestSlabImageOfAFreshStore: a store filled without overwrites (a key
// space filling) has no dead record: the slabs are one run each, cut
// into pieces and gathered into full buffers; the image restores.
func TestSlabImageOfAFreshStore(t *testing.T) {
	s := NewStore()
	val := bytes.Repeat([]byte{'v'}, 128)
	for i := range 20_000 {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%015d", i)), val))
	}
	want := s.Snapshot()
	v := s.Capture()
	var w writeSizes
	if n, err := v.WriteTo(&w); err != nil || n != v.Size() {
		t.Fatalf("WriteTo: %d of %d bytes, %v", n, v.Size(), err)
	}
	checkFullBuffers(t, w.sizes)
	r := NewStore()
	if err := r.Restore(w.buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("restored store differs")
	}
}

// TestSlabImageOfAnEmptyStore: magic and a zero count, restored to an
// empty store.
func TestSlabImageOfAnEmptyStore(t *testing.T) {
	s := NewStore()
	s.Apply(EncodeWrite([]byte("k"), []byte("v")))
	v := NewStore().Capture()
	var b bytes.Buffer
	if n, err := v.WriteTo(&b); err != nil || n != v.Size() || b.String() != imageMagic+"\x00" {
		t.Fatalf("WriteTo: %d bytes %q (Size %d), %v", n, b.Bytes(), v.Size(), err)
	}
	if err := s.Restore(b.Bytes()); err != nil || s.Len() != 0 {
		t.Fatalf("restore: %v, %d keys", err, s.Len())
	}
}

// TestSlabImageRefusesBadInput: a damaged image gets ErrMalformed and
// the store is kept.
func TestSlabImageRefusesBadInput(t *testing.T) {
	rec := func(state byte, k, v string) []byte {
		b := []byte{state}
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(append(b, k...), v...)
	}
	head := func(n int) []byte { return binary.AppendUvarint([]byte(imageMagic), uint64(n)) }
	good := slices.Concat(head(2), rec(recordLive, "a", "1"), rec(recordLive, "b", "2"))
	s := NewStore()
	if err := s.Restore(good); err != nil {
		t.Fatalf("a good image: %v", err)
	}
	before := s.Snapshot()
	hugeKey := slices.Concat(head(1), []byte{recordLive}, binary.AppendUvarint(nil, MaxKeyBytes+1), []byte{1})
	for name, bad := range map[string][]byte{
		"dead record":      slices.Concat(head(2), rec(recordLive, "a", "1"), rec(recordDead, "b", "2")),
		"unknown state":    slices.Concat(head(1), rec(9, "a", "1")),
		"duplicate key":    slices.Concat(head(2), rec(recordLive, "a", "1"), rec(recordLive, "a", "2")),
		"count too high":   slices.Concat(head(3), rec(recordLive, "a", "1"), rec(recordLive, "b", "2")),
		"count too low":    slices.Concat(head(1), rec(recordLive, "a", "1"), rec(recordLive, "b", "2")),
		"truncated value":  good[:len(good)-1],
		"key over limit":   hugeKey,
		"truncated header": slices.Concat(head(1), []byte{recordLive, 0x80}),
	} {
		err := s.Restore(bad)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if !bytes.Equal(s.Snapshot(), before) {
		t.Fatal("a refused restore changed the store")
	}
}

// BenchmarkSnapshotFormats streams the same view (KV_KEYS keys, default
// 1,000,000, of 16 + 128 bytes, a third of them overwritten with another
// length while a view was open, so a third of the old records are
// garbage between live ones) as RBKV1 pairs and as the slab image, to
// io.Discard: the user-space CPU of one background snapshot.
func BenchmarkSnapshotFormats(b *testing.B) {
	n := keyCount(1_000_000)
	for _, garbage := range []bool{false, true} {
		s, val, key := filledStore(n)
		if garbage {
			v := s.Capture()
			for i := 0; i < n; i += 3 {
				copy(key, fmt.Sprintf("k%015d", i))
				s.Apply(EncodeWrite(key, val[:100]))
			}
			v.Release()
		}
		for _, format := range []string{"pairs", "image"} {
			b.Run(fmt.Sprintf("garbage=%v/format=%s", garbage, format), func(b *testing.B) {
				for b.Loop() {
					v := s.Capture()
					var err error
					if format == "pairs" {
						_, err = v.data.writeSnapshot(io.Discard, v.data.len(), v.data.inSlabOrder())
						v.Release()
					} else {
						_, err = v.WriteTo(io.Discard)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRestoreFormats restores the same KV_KEYS-key state (default
// 1,000,000 of 16 + 128 bytes) from RBKV1 pairs and from the slab image:
// what a follower's install and a restart pay.
func BenchmarkRestoreFormats(b *testing.B) {
	n := keyCount(1_000_000)
	s, _, _ := filledStore(n)
	var image bytes.Buffer
	if _, err := s.Capture().WriteTo(&image); err != nil {
		b.Fatal(err)
	}
	for format, data := range map[string][]byte{"pairs": s.Snapshot(), "image": image.Bytes()} {
		b.Run("format="+format, func(b *testing.B) {
			for b.Loop() {
				if err := NewStore().RestoreFrom(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
