// Package transport moves Raft messages between nodes: an in-memory
// network for tests and in-process clusters, and a TCP transport with a
// compact length-prefixed binary framing for real clusters.
//
// A transport never crashes its node on bad input: malformed, truncated
// or oversized frames close that connection with a logged error, and no
// frame can make it allocate more than the configured maximum.
package transport
