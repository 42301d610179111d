// Package cluster runs N raftbench nodes in one process over the
// in-memory transport, each with a real WAL in Dir/n<id> and a kv.Store
// state machine (configurable). Tests use it for fault scenarios and the
// load generator wraps it as its "inproc" target.
//
// Node IDs are 1..N and every method takes IDs, not slice positions.
// StartInProc returns once a leader is elected and known to every node.
// Propose and Read go to the current leader; Propose is one client-session
// request (its own client id and seq), retried with the same session when
// the node it went to stops leading or stops, so it applies exactly once;
// the caller's context is the only timeout. Kill stops a node
// (cleanly, its WAL closed) and Restart starts it again from its
// directory; Network exposes partitions and link cuts (the network
// delivers directly from the sender's goroutine, MemOptions.Direct,
// unless latency is configured). Stats sums the
// nodes' counters, including those of killed incarnations.
//
// The cluster never shares state between nodes except through the
// network and never bypasses the nodes' APIs.
package cluster
