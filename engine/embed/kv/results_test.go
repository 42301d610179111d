package kv

import (
	"bytes"
	"testing"
)

// A result without a value is a shared encoding: applying a write, a
// missed read or a failed cas allocates nothing for its result, and a
// caller appending to a result never changes what later callers get.
func TestStatusResultsAreSharedAndReadOnly(t *testing.T) {
	s := NewStore()
	key, val := []byte("key-0000000000001"), bytes.Repeat([]byte{7}, 128)
	write := EncodeWrite(key, val)
	s.Apply(write) // the record exists: later writes overwrite in place
	if n := testing.AllocsPerRun(100, func() { s.Apply(write) }); n != 0 {
		t.Fatalf("a write's Apply allocated %v times, want 0", n)
	}
	blind := func() { s.BlindResult(write) }
	if n := testing.AllocsPerRun(100, blind); n != 0 {
		t.Fatalf("BlindResult allocated %v times, want 0", n)
	}
	missing := EncodeRead([]byte("no-such-key"))
	if n := testing.AllocsPerRun(100, func() { s.Query(missing) }); n != 0 {
		t.Fatalf("a missed read allocated %v times, want 0", n)
	}

	ok := s.Apply(write)
	grown := append(ok, 0xff) // must copy: the shared array has no room
	grown[0] = 0xee
	if again := s.Apply(write); !bytes.Equal(again, []byte{byte(StatusOK)}) {
		t.Fatalf("a caller's append changed the shared ok result: %v", again)
	}
	cases := []struct {
		name string
		got  []byte
		want Status
	}{
		{"write", s.Apply(write), StatusOK},
		{"blind write", func() []byte { r, _ := s.BlindResult(write); return r }(), StatusOK},
		{"missed read", s.Query(missing), StatusNotFound},
		{"cas mismatch", s.Apply(EncodeCas(key, []byte("other"), val, false)), StatusMismatch},
		{"cas on a missing key", s.Apply(EncodeCas([]byte("nope"), val, val, false)), StatusNotFound},
		{"bad command", s.Apply([]byte{9}), StatusBadCommand},
	}
	for _, c := range cases {
		r, err := DecodeResult(c.got)
		if err != nil || r.Status != c.want || r.Value != nil || len(c.got) != 1 || cap(c.got) != 1 {
			t.Errorf("%s: %v (len %d cap %d), %v; want status %v alone", c.name, r, len(c.got), cap(c.got), err, c.want)
		}
	}

	// A value is still the caller's own copy, encoded exactly.
	read := s.Query(EncodeRead(key))
	if r, err := DecodeResult(read); err != nil || r.Status != StatusOK || !bytes.Equal(r.Value, val) {
		t.Fatalf("read: %v, %v", r, err)
	}
	if !bytes.Equal(read, AppendResult(nil, Result{Status: StatusOK, Value: val})) {
		t.Fatal("a read's result is not AppendResult's encoding")
	}
	read[2] ^= 0xff
	if again := s.Query(EncodeRead(key)); !bytes.Equal(again[2:], val) {
		t.Fatal("changing a read's result changed the store")
	}
}
