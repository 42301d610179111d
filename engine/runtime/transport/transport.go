package transport

import "github.com/raftbench/raftbench/engine/raftpb"

// Handler receives inbound messages. It is called from the transport's
// goroutines and must not block for long: the runtime enqueues the
// message (dropping it when its inbox is full) and returns.
type Handler func(m raftpb.Message)

// Transport carries Raft messages between nodes. Raft tolerates loss,
// duplication and reordering, so a transport may drop messages (and
// counts what it drops) but must never deliver a corrupted one.
type Transport interface {
	// Start begins delivering inbound messages to h. Called once.
	Start(h Handler) error
	// Send queues messages for their m.To peers and returns without
	// waiting for the network. Messages to an unknown or unreachable peer
	// are dropped and counted. The transport must not retain or modify
	// the messages' slices after Send returns unless it copies them;
	// entry data is immutable and may be shared.
	Send(msgs []raftpb.Message)
	// Close stops delivery and releases connections. Idempotent.
	Close() error
}
