// Package transport moves Raft messages between nodes: an in-memory
// network for tests and in-process clusters, and a TCP transport with a
// compact length-prefixed binary framing for real clusters. The NATS
// transport (Raft over a message bus) is the subpackage nats, so that only
// its users link the NATS client.
//
// A transport never crashes its node on bad input: malformed, truncated
// or oversized frames close that connection with a logged error, and no
// frame can make it allocate more than the configured maximum.
//
// # Contract
//
// Raft tolerates loss, duplication and reordering (Raft §5.3, §5.5), so a
// transport may drop messages (and counts each drop by reason, see
// Stats) but never delivers a corrupted one. Both transports keep FIFO
// order per (from, to) pair while a connection lasts; a TCP reconnect may
// lose messages but not reorder the survivors of one connection.
//
// Send never blocks on the network: it copies the Message values into a
// bounded per-peer (TCP) or per-receiver (mem) queue. The arrays and bytes
// a Message points to (Entries and their Data, Context, Snapshot) are NOT
// copied: both transports read them after Send returns (the TCP writer
// encodes them later; the mem network hands them to the receiver). This
// relies on the engine's Ready contract that slices it hands out are never
// modified afterwards. MemOptions.CopyEntries exists for senders that
// cannot promise that.
//
// The Handler is called from transport goroutines: one per endpoint (mem)
// or one per inbound connection (TCP); with MemOptions.Direct the mem
// network calls it from the sender's goroutine when nothing is queued
// ahead, still never concurrently for one endpoint. Messages a Handler receives own
// their memory (the TCP decoder copies out of its read buffer).
//
// # Authentication
//
// Plain TCP authenticates nothing: anything that reaches the port can
// claim a peer's ID. With TCPConfig.TLS (an mtls.Store) every connection
// is mutual TLS 1.3 with the cluster CA, and the certificate's identity
// must be the node ID claimed (tls.go); refusals are counted by reason
// (TCP.AuthRefusals, Stats.AuthRefused). Certificates reload without a
// restart (mtls.Store.Reload, Watch). Plain mode stays for benchmarks.
//
// # What it must never do
//
// Block the caller of Send on I/O, grow any queue or buffer without a
// bound, deliver a message that failed to decode, or leave goroutines
// running after Close.
package transport
