package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestHashCollisions: with every key hashing alike, every key but the
// first lives in the overflow map, and the store still behaves, restores
// and snapshots exactly as with distinct hashes.
func TestHashCollisions(t *testing.T) {
	want := NewStore()
	for i := range 200 {
		want.Apply(EncodeWrite([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))))
	}
	defer func(h func([]byte) uint64) { hashKey = h }(hashKey)
	hashKey = func([]byte) uint64 { return 42 }
	s := NewStore()
	for i := range 200 {
		s.Apply(EncodeWrite([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))))
	}
	for i := range 200 { // overwrite, in place and not
		s.Apply(EncodeWrite([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("w", i))))
		s.Apply(EncodeCas([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("w", i)), []byte(fmt.Sprint("v", i)), false))
	}
	if s.Len() != 200 || len(s.t.overflow) != 199 {
		t.Fatalf("len %d, overflow %d", s.Len(), len(s.t.overflow))
	}
	if !bytes.Equal(s.Snapshot(), want.Snapshot()) {
		t.Fatal("colliding store's snapshot differs")
	}
	r := NewStore()
	if err := r.Restore(want.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if res := mustResult(t, r.Query(EncodeRead([]byte("k17")))); string(res.Value) != "v17" {
		t.Fatalf("k17 = %q", res.Value)
	}
	if res := mustResult(t, r.Query(EncodeRead([]byte("nope")))); res.Status != StatusNotFound {
		t.Fatal("a missing key colliding with stored ones was found")
	}
}

// TestCompactionKeepsState: values whose length keeps changing leave
// garbage in the slabs; compaction reclaims it without changing the state.
func TestCompactionKeepsState(t *testing.T) {
	defer func(f uint64) { compactFloor = f }(compactFloor)
	compactFloor = 1 << 10
	s := NewStore()
	for round := range 50 {
		for i := range 100 {
			s.Apply(EncodeWrite([]byte(fmt.Sprint("k", i)), bytes.Repeat([]byte{'x'}, 10+(round+i)%7)))
		}
	}
	if s.t.total > 4*s.t.live+slabBytes {
		t.Fatalf("slabs hold %d bytes for %d live", s.t.total, s.t.live)
	}
	for i := range 100 {
		res := mustResult(t, s.Query(EncodeRead([]byte(fmt.Sprint("k", i)))))
		if len(res.Value) != 10+(49+i)%7 {
			t.Fatalf("k%d has %d bytes", i, len(res.Value))
		}
	}
}

// TestMemoryPerKey reports the store's memory and the heap per key for
// 200,000 keys of 16-byte keys and 128-byte values (run with -v; set
// KV_KEYS for another count, as results/snapshots does). It fails only if the index stops being pointer-free in
// effect: more than 1 KiB of heap per key.
func TestMemoryPerKey(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	n = keyCount(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewStore()
	val := bytes.Repeat([]byte{'v'}, 128)
	key := make([]byte, 16)
	for i := range n {
		copy(key, fmt.Sprintf("k%015d", i))
		s.Apply(EncodeWrite(key, val))
	}
	runtime.GC()
	gcStart := time.Now()
	runtime.GC() // a full collection with the store live: its mark cost
	gcTook := time.Since(gcStart)
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d keys: %.0f heap bytes per key (record 147 B), store estimate %.0f B/key, heap objects %d, forced GC %v",
		n, perKey, float64(s.MemoryBytes())/float64(n), after.HeapObjects-before.HeapObjects, gcTook)
	if perKey > 1024 {
		t.Fatalf("%.0f bytes per key", perKey)
	}
	runtime.KeepAlive(s)
}

// BenchmarkSnapshotEncode encodes a store of 200,000 keys (16-byte keys,
// 128-byte values): the sort and the copy a snapshot costs.
func BenchmarkSnapshotEncode(b *testing.B) {
	s := NewStore()
	val := bytes.Repeat([]byte{'v'}, 128)
	for i := range 200_000 {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%015d", (i*7919)%200_000)), val))
	}
	b.ResetTimer()
	for b.Loop() {
		s.Snapshot()
	}
}

// BenchmarkSnapshotStream captures and streams (to io.Discard) a store of
// KV_KEYS (default 1,000,000) keys, 16-byte keys and 128-byte values,
// half of them overwritten with other lengths while a view was open (so
// the slabs hold garbage as under load): the work of one background
// snapshot.
func BenchmarkSnapshotStream(b *testing.B) {
	n := keyCount(1_000_000)
	s, val, key := filledStore(n)
	v := s.Capture()
	for i := 0; i < n; i += 2 {
		copy(key, fmt.Sprintf("k%015d", i))
		s.Apply(EncodeWrite(key, val[:100]))
	}
	v.Release()
	b.ResetTimer()
	for b.Loop() {
		v := s.Capture()
		v.Size()
		if _, err := v.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSnapshotStreamBesideWrites: a view streamed on another goroutine
// while writes overwrite its keys (same length, other lengths) and add
// new ones restores to exactly the state at the capture, with distinct
// hashes and with every key in the overflow map; the race detector
// checks the slabs the stream reads are not written.
func TestSnapshotStreamBesideWrites(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprint("collide=", collide), func(t *testing.T) {
			if collide {
				defer func(h func([]byte) uint64) { hashKey = h }(hashKey)
				hashKey = func([]byte) uint64 { return 42 }
			}
			s := NewStore()
			for i := range 2000 {
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprintf("v%04d", i))))
			}
			for i := 0; i < 2000; i += 5 {
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%04d", i)), []byte("longer value")))
			}
			want := s.Snapshot()
			v := s.Capture()
			type result struct {
				b   []byte
				n   int64
				err error
			}
			done := make(chan result)
			go func() {
				var buf bytes.Buffer
				n, err := v.WriteTo(&buf)
				done <- result{buf.Bytes(), n, err}
			}()
			for i := range 2000 {
				k := []byte(fmt.Sprintf("k%04d", i))
				s.Apply(EncodeWrite(k, []byte(fmt.Sprintf("w%04d", i))))
				s.Apply(EncodeWrite(k, []byte("x")))
				s.Apply(EncodeWrite([]byte(fmt.Sprintf("new%04d", i)), []byte("fresh")))
			}
			res := <-done
			if res.err != nil || res.n != v.Size() || int64(len(res.b)) != res.n {
				t.Fatalf("WriteTo: %d bytes (buffer %d, Size %d), %v", res.n, len(res.b), v.Size(), res.err)
			}
			r := NewStore()
			if err := r.Restore(res.b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Snapshot(), want) {
				t.Fatal("restored stream differs from the state at capture")
			}
		})
	}
}

// TestRestoreRefusesDuplicateKeys: records may come in any order, so a
// key listed twice (a damaged or forged file) is what restore must
// catch; it is refused and the store kept.
func TestRestoreRefusesDuplicateKeys(t *testing.T) {
	var pairs []byte
	for _, k := range []string{"b", "a", "b"} {
		pairs = binary.AppendUvarint(pairs, uint64(len(k)))
		pairs = append(pairs, k...)
		pairs = binary.AppendUvarint(pairs, 1)
		pairs = append(pairs, 'v')
	}
	s := NewStore()
	s.Apply(EncodeWrite([]byte("kept"), []byte("1")))
	before := s.Snapshot()
	err := s.Restore(append(appendSnapshotHead(nil, 3), pairs...))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate key: %v", err)
	}
	if !bytes.Equal(s.Snapshot(), before) {
		t.Fatal("a refused restore changed the store")
	}
	if err := s.Restore(append(appendSnapshotHead(nil, 2), pairs[:len(pairs)*2/3]...)); err != nil {
		t.Fatalf("unsorted keys: %v", err)
	}
}

// TestViewSharesIndex: the first open view shares the index (no O(keys)
// copy on the apply goroutine); writes while it is open go to pending and
// are visible to reads at once; a second view opened meanwhile gets its
// own merged copy; each view holds exactly the state at its capture; once
// views close, puts fold pending back and the store is as if no view had
// been open.
func TestViewSharesIndex(t *testing.T) {
	s, plain := NewStore(), NewStore()
	both := func(cmd []byte) { s.Apply(cmd); plain.Apply(cmd) }
	for i := range 1000 {
		both(EncodeWrite([]byte(fmt.Sprintf("k%04d", i)), []byte("v1")))
	}
	at1 := s.Snapshot()
	v1 := s.Capture()
	if unsafe.SliceData(v1.data.index.slots) != unsafe.SliceData(s.t.index.slots) {
		t.Fatal("the first view copied the index")
	}
	for i := range 500 {
		both(EncodeWrite([]byte(fmt.Sprintf("k%04d", i)), []byte("v2")))
		both(EncodeWrite([]byte(fmt.Sprintf("new%04d", i)), []byte("n")))
	}
	if len(s.t.pending) != 1000 || s.Len() != 1500 {
		t.Fatalf("pending %d, len %d; want 1000, 1500", len(s.t.pending), s.Len())
	}
	if r := mustResult(t, s.Query(EncodeRead([]byte("k0007")))); string(r.Value) != "v2" {
		t.Fatalf("k0007 = %q while a view is open, want v2", r.Value)
	}
	at2 := s.Snapshot()
	v2 := s.Capture()
	if unsafe.SliceData(v2.data.index.slots) == unsafe.SliceData(s.t.index.slots) {
		t.Fatal("a second open view shares the index")
	}
	if !v1.data.exact || v2.data.exact {
		t.Fatal("only the first view may trust the records' dead marks (the second sees records replaced during the first unmarked)")
	}
	both(EncodeWrite([]byte("k0999"), []byte("v3")))
	for _, c := range []struct {
		v    *View
		want []byte
	}{{v1, at1}, {v2, at2}} {
		var buf bytes.Buffer
		if _, err := c.v.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		r := NewStore()
		if err := r.Restore(buf.Bytes()); err != nil || !bytes.Equal(r.Snapshot(), c.want) {
			t.Fatalf("a view's stream is not the state at its capture (%v)", err)
		}
	}
	for i := range 200 { // writes (here in place) fold what is pending
		both(EncodeWrite([]byte(fmt.Sprintf("k%04d", i)), []byte("v4")))
	}
	if s.t.pending != nil || s.t.toFold != nil {
		t.Fatalf("%d changes still pending after the views closed", len(s.t.pending))
	}
	if !bytes.Equal(s.Snapshot(), plain.Snapshot()) || s.Len() != plain.Len() || s.t.index.len() != plain.Len() {
		t.Fatal("the store differs from one that never had a view open")
	}
}

// BenchmarkApplyKeySpace writes 16-byte keys with 128-byte values drawn
// uniformly from key spaces of 10k and 1M keys: "full" overwrites a key
// space written once before the timer, "filling" starts empty, as a
// short load run does (most writes of the 1M run are a key's first: an
// append into new slab memory and index growth).
func BenchmarkApplyKeySpace(b *testing.B) {
	val := bytes.Repeat([]byte{1}, 128)
	for _, n := range []int{10_000, 1_000_000} {
		for _, full := range []bool{true, false} {
			b.Run(fmt.Sprintf("keys=%d/full=%v", n, full), func(b *testing.B) {
				s := NewStore()
				key := []byte("k000000000000000")
				cmd := func(i int) []byte {
					copy(key[1:], fmt.Sprintf("%015d", i))
					return EncodeWrite(key, val)
				}
				if full {
					for i := range n {
						s.Apply(cmd(i))
					}
				}
				cmds := make([][]byte, 1<<20)
				x := uint64(88172645463325252)
				for i := range cmds {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					cmds[i] = cmd(int(x % uint64(n)))
				}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					s.Apply(cmds[i%len(cmds)])
				}
			})
		}
	}
}
