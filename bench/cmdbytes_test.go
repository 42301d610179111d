package bench

import (
	"bytes"
	"testing"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Requests carved from one chunk never overlap: each has exactly the
// capacity asked for, so an append past it moves instead of writing into
// the next request, and what one request holds survives its neighbours'
// encoding.
func TestCommandBytesAreDisjoint(t *testing.T) {
	var held [][]byte
	for i := range 5000 {
		n := 1 + i%300
		b := CommandBytes(n)
		if len(b) != 0 || cap(b) != n {
			t.Fatalf("CommandBytes(%d): len %d cap %d, want 0 and %d", n, len(b), cap(b), n)
		}
		held = append(held, append(b, bytes.Repeat([]byte{byte(i)}, n)...))
	}
	grown := append(held[0], 'x') // past its capacity: a copy, not the neighbour
	if &grown[0] == &held[0][0] {
		t.Fatal("an append past a request's capacity wrote into the chunk")
	}
	for i, b := range held {
		if want := bytes.Repeat([]byte{byte(i)}, 1+i%300); !bytes.Equal(b, want) {
			t.Fatalf("request %d changed after later requests were carved: % x", i, b[:min(8, len(b))])
		}
	}
	if big := CommandBytes(cmdChunkBytes); cap(big) != cmdChunkBytes {
		t.Fatalf("a request larger than a quarter chunk: cap %d", cap(big))
	}
}

// A request's encoding allocates only when its chunk runs out: once in
// hundreds of requests, which is what keeps the open loop's client
// goroutines out of the collector's mark assists.
func TestEncodeCommandRarelyAllocates(t *testing.T) {
	c := kv.Command{Op: kv.OpWrite, Key: make([]byte, 16), Value: make([]byte, 128)}
	allocs := testing.AllocsPerRun(10000, func() { _ = EncodeCommand(12, c) })
	if allocs > 0.02 {
		t.Fatalf("%.3f allocations per encoded request, want at most one per 50", allocs)
	}
	got := EncodeCommand(12, c)
	dec, err := kv.DecodeCommand(got[12:])
	if err != nil || dec.Op != kv.OpWrite || len(dec.Value) != 128 {
		t.Fatalf("EncodeCommand's command decodes to %+v, %v", dec, err)
	}
}
