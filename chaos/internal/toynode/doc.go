// Command toynode is a test-only Maelstrom lin-kv node for the chaos
// harness's own tests; it is never shipped.
//
// Default mode is correct but unavailable under faults: every node
// forwards client requests to the first node in node_ids, which alone
// holds the key-value map, applies each forwarded request once (requests
// carry a unique id; the answers are remembered, so duplicated messages
// apply once) and persists the map and the answers to --data-dir before it
// replies. It is linearizable whenever the network and the harness are
// honest.
//
// With --unsafe every node serves reads from its own copy and applies
// writes and cas locally, answering at once and replicating the new value
// to the others asynchronously: stale reads and lost updates follow, and
// the harness must report the history non-linearizable.
package main
