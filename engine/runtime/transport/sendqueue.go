package transport

import (
	"sync"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// SendQueue is the outbound queue towards one peer, shared by the TCP and
// the NATS transports: Send copies a message in without blocking (the
// queue is bounded in messages and bytes, and a full queue drops, since
// Raft resends what matters), and the peer's one writer goroutine takes
// everything queued at once, so a busy peer's messages leave in one write
// or publish.
type SendQueue struct {
	wake              chan struct{} // cap 1: "the queue is non-empty"
	limit, limitBytes int

	mu    sync.Mutex
	queue []raftpb.Message
	bytes int

	spare []raftpb.Message // the last batch's buffer; owned by the writer
}

// NewSendQueue holds at most limit messages and limitBytes bytes (by
// ApproxSize).
func NewSendQueue(limit, limitBytes int) *SendQueue {
	return &SendQueue{wake: make(chan struct{}, 1), limit: limit, limitBytes: limitBytes}
}

// Push appends a copy of m, whose ApproxSize is size, and wakes the
// writer; false when the queue is full.
func (q *SendQueue) Push(m *raftpb.Message, size int) bool {
	q.mu.Lock()
	if len(q.queue) >= q.limit || q.bytes+size > q.limitBytes {
		q.mu.Unlock()
		return false
	}
	q.queue = append(q.queue, *m)
	q.bytes += size
	q.mu.Unlock()
	q.Kick()
	return true
}

// Wake is ready when the writer should look at the queue.
func (q *SendQueue) Wake() <-chan struct{} { return q.wake }

// Kick wakes the writer (after a reconnect, say) even if nothing new was
// pushed.
func (q *SendQueue) Kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Len is the number of queued messages.
func (q *SendQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// Take swaps the queue out whole (nil if empty); the writer hands the
// batch back with Recycle once it is sent, so the two buffers alternate.
func (q *SendQueue) Take() []raftpb.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return nil
	}
	b := q.queue
	q.queue, q.spare = q.spare[:0], nil
	q.bytes = 0
	return b
}

// Recycle returns a batch from Take for reuse.
func (q *SendQueue) Recycle(batch []raftpb.Message) {
	clear(batch) // do not pin sent entries until the buffer is reused
	q.spare = batch[:0]
}

// ApproxSize is a lower bound of m's encoded size, cheap enough for Send:
// a message above a transport's frame or payload limit by this measure
// can never be sent.
func ApproxSize(m *raftpb.Message) int {
	n := len(m.Context) + int(m.PayloadBytes())
	if m.Snapshot != nil {
		n += len(m.Snapshot.Data)
	}
	return n
}
