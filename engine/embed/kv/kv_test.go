package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"testing/iotest"
)

func mustResult(t *testing.T, b []byte) Result {
	t.Helper()
	r, err := DecodeResult(b)
	if err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return r
}

func TestLinKVSemantics(t *testing.T) {
	s := NewStore()
	k := []byte("k")
	steps := []struct {
		name   string
		apply  []byte
		query  bool
		status Status
		value  string
	}{
		{"read missing key", EncodeRead(k), true, StatusNotFound, ""},
		{"cas on missing key", EncodeCas(k, []byte("1"), []byte("2"), false), false, StatusNotFound, ""},
		{"cas create_if_not_exists", EncodeCas(k, []byte("1"), []byte("2"), true), false, StatusOK, ""},
		{"read created", EncodeRead(k), true, StatusOK, "2"},
		{"cas wrong from", EncodeCas(k, []byte("1"), []byte("3"), false), false, StatusMismatch, ""},
		{"value unchanged after failed cas", EncodeRead(k), true, StatusOK, "2"},
		{"cas right from", EncodeCas(k, []byte("2"), []byte("3"), false), false, StatusOK, ""},
		{"write", EncodeWrite(k, []byte("4")), false, StatusOK, ""},
		{"read written", EncodeRead(k), true, StatusOK, "4"},
		{"write empty value", EncodeWrite(k, nil), false, StatusOK, ""},
		{"empty value is present", EncodeRead(k), true, StatusOK, ""},
		{"garbage command", []byte{9, 9, 9}, false, StatusBadCommand, ""},
	}
	for _, st := range steps {
		var out []byte
		if st.query {
			out = s.Query(st.apply)
		} else {
			out = s.Apply(st.apply)
		}
		r := mustResult(t, out)
		if r.Status != st.status || string(r.Value) != st.value {
			t.Fatalf("%s: got %v %q, want %v %q", st.name, r.Status, r.Value, st.status, st.value)
		}
	}
}

func TestStoreDoesNotAliasCallerBuffers(t *testing.T) {
	s := NewStore()
	val := []byte("abc")
	cmd := EncodeWrite([]byte("k"), val)
	s.Apply(cmd)
	for i := range cmd {
		cmd[i] = 'x'
	}
	r := mustResult(t, s.Query(EncodeRead([]byte("k"))))
	if string(r.Value) != "abc" {
		t.Fatalf("store aliased the command buffer: %q", r.Value)
	}
}

func TestSnapshotRoundTripIsCanonical(t *testing.T) {
	a, b := NewStore(), NewStore()
	for i := 0; i < 50; i++ {
		key := []byte{byte('a' + i%26), byte(i)}
		a.Apply(EncodeWrite(key, bytes.Repeat([]byte{byte(i)}, i)))
	}
	// Insert into b in reverse: map order differs, snapshot must not.
	for i := 49; i >= 0; i-- {
		key := []byte{byte('a' + i%26), byte(i)}
		b.Apply(EncodeWrite(key, bytes.Repeat([]byte{byte(i)}, i)))
	}
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) {
		t.Fatal("equal stores produced different snapshots")
	}
	c := NewStore()
	if err := c.Restore(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Snapshot(), a.Snapshot()) || c.Len() != 50 {
		t.Fatal("restore did not reproduce the store")
	}
}

func TestCorruptInputIsRejected(t *testing.T) {
	snap := NewStore()
	snap.Apply(EncodeWrite([]byte("k"), []byte("v")))
	good := snap.Snapshot()
	for cut := 0; cut < len(good); cut++ {
		if err := NewStore().Restore(good[:cut]); err == nil {
			t.Fatalf("truncated snapshot (%d of %d bytes) accepted", cut, len(good))
		}
	}
	cmd := EncodeCas([]byte("key"), []byte("from"), []byte("to"), false)
	for cut := 0; cut < len(cmd); cut++ {
		if _, err := DecodeCommand(cmd[:cut]); err == nil {
			t.Fatalf("truncated command (%d of %d bytes) accepted", cut, len(cmd))
		}
	}
	if _, err := DecodeCommand(append(cmd, 0)); err == nil {
		t.Fatal("command with trailing byte accepted")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(EncodeWrite([]byte("k"), []byte("v")))
	f.Add(EncodeCas([]byte("k"), []byte("a"), []byte("b"), true))
	f.Add(EncodeRead([]byte("k")))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if again := AppendCommand(nil, c); !bytes.Equal(again, b) && c.Op != OpRead {
			// Flags other than create_if_not_exists are dropped on
			// re-encode; everything else must round-trip exactly.
			if b[1]&^flagCreateIfMissing == 0 {
				t.Fatalf("round trip mismatch: %x vs %x", b, again)
			}
		}
		NewStore().Apply(b)
	})
}

// An overwrite of the same length reuses the stored buffer; results and
// snapshots taken before it must not change, and cas must see the new value.
func TestInPlaceOverwriteIsInvisibleToEarlierReaders(t *testing.T) {
	s := NewStore()
	k := []byte("k")
	s.Apply(EncodeWrite(k, []byte("aaaa")))
	read := s.Query(EncodeRead(k))
	applied := s.Apply(EncodeRead(k))
	snap := s.Snapshot()
	s.Apply(EncodeWrite(k, []byte("bbbb")))
	if r := mustResult(t, read); string(r.Value) != "aaaa" {
		t.Fatalf("query result changed by a later write: %q", r.Value)
	}
	if r := mustResult(t, applied); string(r.Value) != "aaaa" {
		t.Fatalf("apply result changed by a later write: %q", r.Value)
	}
	if mustResult(t, s.Apply(EncodeCas(k, []byte("aaaa"), []byte("cccc"), false))).Status != StatusMismatch {
		t.Fatal("cas matched the overwritten value")
	}
	if mustResult(t, s.Apply(EncodeCas(k, []byte("bbbb"), []byte("cccc"), false))).Status != StatusOK {
		t.Fatal("cas did not match the current value")
	}
	old := NewStore()
	if err := old.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r := mustResult(t, old.Query(EncodeRead(k))); string(r.Value) != "aaaa" {
		t.Fatalf("snapshot changed by a later write: %q", r.Value)
	}
	if r := mustResult(t, s.Query(EncodeRead(k))); string(r.Value) != "cccc" {
		t.Fatalf("current value %q, want cccc", r.Value)
	}
}

func BenchmarkApplyWrite(b *testing.B) {
	s := NewStore()
	val := bytes.Repeat([]byte{1}, 128)
	cmds := make([][]byte, 4096)
	for i := range cmds {
		cmds[i] = EncodeWrite([]byte(fmt.Sprintf("key-%012d", i)), val)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Apply(cmds[i%len(cmds)])
	}
}

// The encoders size their buffer exactly (one allocation per command).
func TestEncodersAllocateExactly(t *testing.T) {
	key, val := bytes.Repeat([]byte{'k'}, 16), bytes.Repeat([]byte{'v'}, 200)
	for _, b := range [][]byte{EncodeWrite(key, val), EncodeCas(key, val, val, true), EncodeRead(key), EncodeWrite(nil, nil)} {
		if len(b) != cap(b) {
			t.Fatalf("encoded %d bytes into a buffer of %d", len(b), cap(b))
		}
		if _, err := DecodeCommand(b); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { EncodeWrite(key, val) }); n != 1 {
		t.Fatalf("EncodeWrite: %v allocations, want 1", n)
	}
}

// A snapshot view encodes the state at its capture, whatever is applied
// while it is open, including same-length overwrites that would
// otherwise reuse the value buffers the view shares; encode runs beside
// Apply (the race detector checks the sharing).
// A view released without encoding is closed, and a release after
// encoding changes nothing.
func TestReleasedViewIsClosed(t *testing.T) {
	s := NewStore()
	s.Apply(EncodeWrite([]byte("k"), []byte("v1")))
	dropped := s.Capture()
	kept := s.Capture()
	if n := s.views.Load(); n != 2 {
		t.Fatalf("%d views open after two captures, want 2", n)
	}
	dropped.Release()
	dropped.Release()
	if n := s.views.Load(); n != 1 {
		t.Fatalf("%d views open after releasing one (twice), want 1", n)
	}
	want := s.Snapshot()
	got := kept.Encode()
	kept.Release()
	if n := s.views.Load(); n != 0 || !bytes.Equal(got, want) {
		t.Fatalf("after encode and release: %d views open, snapshot equal %v", n, bytes.Equal(got, want))
	}
	if dropped.Encode() != nil {
		t.Fatal("a released view encoded its state")
	}
}

func TestSnapshotViewIsTheStateAtCapture(t *testing.T) {
	s := NewStore()
	for i := 0; i < 500; i++ {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprintf("v%03d", i))))
	}
	want := s.Snapshot()
	encode := s.SnapshotView()
	done := make(chan []byte)
	go func() { done <- encode() }()
	for i := 0; i < 500; i++ {
		k := []byte(fmt.Sprintf("k%03d", i))
		s.Apply(EncodeWrite(k, []byte(fmt.Sprintf("w%03d", i))))                       // same length
		s.Apply(EncodeCas(k, []byte(fmt.Sprintf("w%03d", i)), []byte("x"), false))     // shorter
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("new%03d", i)), []byte("fresh value"))) // new key
	}
	if got := <-done; !bytes.Equal(got, want) {
		t.Fatalf("view encoded %d bytes differing from the snapshot at capture (%d bytes)", len(got), len(want))
	}
	if got := encode(); !bytes.Equal(got, want) {
		t.Fatal("a second encode call returned something else")
	}
	// Closed views stop blocking in-place overwrites.
	if n := s.views.Load(); n != 0 {
		t.Fatalf("%d views still open after encode", n)
	}
	after := NewStore()
	if err := after.Restore(s.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if r, _ := DecodeResult(after.Query(EncodeRead([]byte("k007")))); string(r.Value) != "x" {
		t.Fatalf("k007 = %q after the writes, want x", r.Value)
	}
}

// WriteTo streams the state at the capture (the records of Snapshot's
// encoding, in slab order) in exactly the size Size announced, records
// larger than its buffer included, while writes go on, some of them
// leaving garbage in the slabs; RestoreFrom reads it back from any
// reader; bad input is refused, the store kept.
func TestSnapshotStreamRoundTrip(t *testing.T) {
	s := NewStore()
	for i := 0; i < 5000; i++ {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), bytes.Repeat([]byte{byte(i)}, i%300)))
	}
	for i := 0; i < 5000; i += 3 { // garbage before the capture
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), []byte("short")))
	}
	s.Apply(EncodeWrite([]byte("huge"), bytes.Repeat([]byte("h"), 700<<10)))
	want := s.Snapshot()
	v := s.Capture()
	for i := 0; i < 5000; i += 2 { // in place would change the view; appended
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("key-%05d", i)), bytes.Repeat([]byte{'z'}, i%300)))
	}
	s.Apply(EncodeWrite([]byte("after-capture"), []byte("x"))) // not in the view
	// The slab image: the records of the sorted encoding plus a state
	// byte each.
	size := int64(len(want) + 5001)
	if v.Size() != size {
		t.Fatalf("Size() = %d, want %d (the encoding's %d bytes and a state byte per key)", v.Size(), size, len(want))
	}
	var buf bytes.Buffer
	if n, err := v.WriteTo(iotest.TruncateWriter(&buf, 1<<40)); err != nil || n != size {
		t.Fatalf("WriteTo: %d bytes, %v; want %d", n, err, size)
	}
	streamed := buf.Bytes()
	if string(streamed[:5]) != imageMagic {
		t.Fatalf("streamed magic %q, want %q", streamed[:5], imageMagic)
	}
	r := NewStore()
	if err := r.RestoreFrom(iotest.OneByteReader(bytes.NewReader(streamed))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("store restored from the stream differs from the state at capture")
	}
	if _, err := v.WriteTo(&buf); err == nil {
		t.Fatal("a view wrote twice")
	}
	if err := r.RestoreFrom(iotest.OneByteReader(bytes.NewReader(want))); err != nil {
		t.Fatal(err) // the sorted encoding (older files) restores too
	}
	if !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("restored store differs")
	}
	for name, bad := range map[string][]byte{
		"trailing":  append(slices.Clone(want), 0),
		"truncated": want[:len(want)-10],
		"magic":     append([]byte("XXXXX"), want[5:]...),
	} {
		if err := r.RestoreFrom(bytes.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("a refused restore changed the store")
	}
}

// TestBlindResultAgreesWithApply: a write's blind result is exactly what
// Apply returns, whatever the state; reads, cas and undecodable commands
// are not blind.
func TestBlindResultAgreesWithApply(t *testing.T) {
	s := NewStore()
	for i, cmd := range [][]byte{
		EncodeWrite([]byte("k"), []byte("v1")),
		EncodeWrite([]byte("k"), []byte("v2")), // over an existing key
		EncodeWrite([]byte("k"), nil),
	} {
		res, ok := s.BlindResult(cmd)
		if !ok {
			t.Fatalf("write %d is not blind", i)
		}
		if got := s.Apply(cmd); !bytes.Equal(got, res) {
			t.Fatalf("write %d: blind result %v, Apply %v", i, res, got)
		}
	}
	for name, cmd := range map[string][]byte{
		"read":      EncodeRead([]byte("k")),
		"cas":       EncodeCas([]byte("k"), nil, []byte("x"), true),
		"truncated": EncodeWrite([]byte("k"), []byte("v"))[:4],
		"empty":     nil,
	} {
		if _, ok := s.BlindResult(cmd); ok {
			t.Fatalf("%s is blind", name)
		}
	}
}

// keyCount is KV_KEYS if set (a positive integer), else def: the size of
// the large-store tests and benchmarks.
func keyCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("KV_KEYS")); err == nil && v > 0 {
		return v
	}
	return def
}

// filledStore is a store of n keys of 16 bytes ("k%015d", written in a
// scattered order) with 128-byte values, and that value and a key buffer
// for the caller's further writes.
func filledStore(n int) (s *Store, val, key []byte) {
	s = NewStore()
	val = bytes.Repeat([]byte{'v'}, 128)
	key = make([]byte, 16)
	for i := range n {
		copy(key, fmt.Sprintf("k%015d", (i*7919)%n))
		s.Apply(EncodeWrite(key, val))
	}
	return s, val, key
}

// A read's result is carved from a shared chunk: reads allocate once in
// many, each result keeps its own bytes while later reads are answered,
// and appending to one copies instead of overwriting the next.
func TestValueResultsShareChunks(t *testing.T) {
	s := NewStore()
	for i := range 64 {
		s.Apply(EncodeWrite([]byte{byte(i)}, bytes.Repeat([]byte{byte(i)}, 100)))
	}
	var held [][]byte
	for i := range 500 {
		res := s.Query(EncodeRead([]byte{byte(i % 64)}))
		if cap(res) != len(res) {
			t.Fatalf("result cap %d len %d: an append would write into the next result", cap(res), len(res))
		}
		held = append(held, res)
	}
	_ = append(held[0], 0xff)
	for i, res := range held {
		r, err := DecodeResult(res)
		if err != nil || r.Status != StatusOK || !bytes.Equal(r.Value, bytes.Repeat([]byte{byte(i % 64)}, 100)) {
			t.Fatalf("read %d's result changed after later reads: %v %v", i, r, err)
		}
	}
	q := EncodeRead([]byte{7})
	if allocs := testing.AllocsPerRun(2000, func() { s.Query(q) }); allocs > 0.05 {
		t.Fatalf("%.3f allocations per read, want a chunk's in about a hundred reads", allocs)
	}
}
