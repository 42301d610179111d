// Package nats is a Raft transport over a NATS message bus: nodes never
// connect to each other, only to a NATS server, and each node receives on
// one subject of its cluster.
//
// Its one job: carry raftpb messages between the nodes of one cluster
// through a NATS broker, with the same guarantees as the TCP transport in
// engine/runtime/transport (see that package's "Contract"): it may drop messages,
// and counts every drop by reason, but never delivers a corrupted one.
//
// # Subjects
//
//	<prefix>.<cluster>.node.<id>     e.g. raftbench.orders.node.3
//
// One subject per destination node: a node subscribes to its own subject
// only, so the broker, not the receiver, filters traffic, and no node pays
// to read messages addressed to others (a broadcast subject would save the
// leader one publish per heartbeat but make every follower decode every
// AppendEntries). The cluster name is a single subject token (letters,
// digits, '-' and '_'; no dots, no '*' or '>' wildcards), and node IDs are
// decimal integers, so one cluster's subjects can never match another's.
//
// # Payload
//
// One publish carries a batch of messages from one node to one node:
//
//	payload = "RBNT" version:u8(=1) from:uvarint to:uvarint frame*
//	frame   = length:u32 big-endian  raftpb message (the TCP transport's codec)
//
// A writer goroutine per destination takes everything queued for it and
// packs as many frames as fit in the server's max_payload into each
// publish, so under load many messages share one publish. A single
// message that cannot fit is refused: dropped, counted as too_large and
// logged. Snapshots travel as chunks (engine/driver), so the chunk size
// (node.Config.SnapshotChunkBytes; `raftbench serve` and the inproc
// target use 256 KiB over NATS) must stay below max_payload.
//
// The receiver checks the header (magic, version, to == this node, from a
// configured peer) and that every message's From and To match it. Anything
// else, including any payload that fails to decode, is garbage: ignored,
// counted (messages_dropped_total{reason="malformed"}) and logged at most
// once every few seconds. Messages decoded before the bad frame of a
// payload are delivered; Raft tolerates the loss of the rest.
//
// # Broker loss
//
// The client reconnects with exponential backoff and jitter
// (Config.BackoffMin..BackoffMax) forever. While disconnected, messages are
// dropped (reason "unreachable"), never buffered for later: Raft resends
// what matters, and stale AppendEntries would only waste the reconnect.
// The cluster is unavailable while the broker is away and recovers when it
// returns; nothing acknowledged is lost, because acknowledgement never
// depends on the transport keeping anything.
//
// # Faults for tests
//
// Config.LossRate drops a fraction of outbound messages (reason "random")
// so tests can put a bus cluster under message loss; with the embedded
// broker of natsserver stopped and restarted, lin_test.go checks the
// client history of such a cluster with chaos/check.
//
// # Ordering
//
// One NATS connection per node: NATS keeps the order of messages from one
// publisher connection to one subscriber, so messages from one sender
// arrive in the order sent while the connection lasts; a reconnect may
// lose messages but not reorder the survivors.
//
// # What it must never do
//
// Block Send on the network, grow a queue without bound, buffer messages
// across a broker outage, deliver a message that failed to decode, crash
// (or allocate without bound) on anything published on its subjects, call
// the Handler after Close returns, or reach any address other than the
// configured broker URLs.
package nats
