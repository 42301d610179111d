package transport

import (
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// A send queue is bounded in messages and in bytes, wakes its writer once
// per burst, and hands its contents over whole.
func TestSendQueueBoundsAndHandOver(t *testing.T) {
	q := NewSendQueue(3, 100)
	m := &raftpb.Message{Type: raftpb.MsgApp, To: 2, Context: make([]byte, 40)}
	size := ApproxSize(m)
	if size != 40 {
		t.Fatalf("ApproxSize = %d, want the 40 context bytes", size)
	}
	for i := range 2 {
		if !q.Push(m, size) {
			t.Fatalf("no room for 40-byte message %d of 2 in 100 bytes", i+1)
		}
	}
	if q.Push(m, size) {
		t.Fatal("a third 40-byte message must not fit in 100 bytes")
	}
	if !q.Push(&raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2}, 0) {
		t.Fatal("an empty message fits under the message limit")
	}
	if q.Push(&raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2}, 0) {
		t.Fatal("a fourth message must not fit under the limit of 3")
	}
	select {
	case <-q.Wake():
	default:
		t.Fatal("no wake-up after a push")
	}
	if q.Len() != 3 {
		t.Fatalf("Len = %d", q.Len())
	}
	b := q.Take()
	if len(b) != 3 || q.Len() != 0 || q.Take() != nil {
		t.Fatalf("Take handed over %d, left %d", len(b), q.Len())
	}
	q.Recycle(b)
	for i := range 2 {
		if !q.Push(m, size) {
			t.Fatalf("40-byte message %d of 2 refused: the byte budget must be back after Take", i+1)
		}
	}
	// The two buffers alternate: the recycled one is the queue after the
	// next hand-over.
	b2 := q.Take()
	q.Recycle(b2)
	q.Push(m, size)
	if b3 := q.Take(); &b3[0] != &b[0] {
		t.Fatal("the recycled buffer is not reused")
	}
}
