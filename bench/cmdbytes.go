package bench

import (
	"sync"
	"sync/atomic"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Request bytes come from shared chunks, not one allocation each.
//
// Every goroutine that allocates while a garbage collection marks pays
// for marking (a mark assist) before its allocation returns, and the
// runtime makes each one do at least 64 KiB of marking at once, whatever
// it allocated. An open loop runs a thousand client goroutines; when each
// encoded its own request, every one of them assisted in every
// collection: on two cores the requests of a 20 ms mark phase each waited
// 0.1-8 ms, the whole mark was done on the request path, and the open
// loop's p99 was the collection's (at 80,000 ops/s with fsync off, p99
// 10-16 ms; with the chunks, 4.8-8.3 ms, and 3.8-4.7 ms with the nodes'
// own allocations cut too; the bytes per operation the chunks alone left
// unchanged).
// Carving requests out of shared 64 KiB chunks, a client goroutine
// allocates once in hundreds of requests, so almost none is caught by a
// mark. The harness encodes every target's requests this way (the
// systems' own code allocates what it allocates), so no system is
// charged for the load generator's allocations.
//
// A chunk stays alive while any request carved from it is: a system that
// keeps a command (a log entry until the next snapshot) keeps its chunk,
// which the commands carved after it fill.

// cmdChunkBytes is one chunk; CommandBytes requests above a quarter of it
// get a slice of their own.
const cmdChunkBytes = 64 << 10

// cmdShards spread the chunks over locks, one per concurrent caller or
// so; callers take them in turn.
const cmdShards = 16

var cmdChunks struct {
	next   atomic.Uint32
	shards [cmdShards]struct {
		mu    sync.Mutex
		chunk []byte
		_     [40]byte // a shard per cache line
	}
}

// CommandBytes returns an empty slice with capacity n for one request's
// encoded command. Targets encode their requests into it (see
// EncodeCommand): the slice may be kept as long as the system likes, and
// appending past n allocates instead of writing into a neighbour.
func CommandBytes(n int) []byte {
	if n > cmdChunkBytes/4 {
		return make([]byte, 0, n)
	}
	s := &cmdChunks.shards[cmdChunks.next.Add(1)%cmdShards]
	s.mu.Lock()
	if cap(s.chunk)-len(s.chunk) < n {
		s.chunk = make([]byte, 0, cmdChunkBytes)
	}
	off := len(s.chunk)
	s.chunk = s.chunk[:off+n]
	b := s.chunk[off : off : off+n]
	s.mu.Unlock()
	return b
}

// EncodeCommand encodes c after room bytes of the caller's own (a header
// it fills in place), in bytes from CommandBytes.
func EncodeCommand(room int, c kv.Command) []byte {
	return kv.AppendCommand(CommandBytes(room + kv.EncodedLen(c))[:room], c)
}
