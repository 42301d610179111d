// Package maelstrom runs the raftbench engine as a Maelstrom lin-kv node:
// read, write and cas (with create_if_not_exists) on a replicated KV store,
// with Raft traffic carried as Maelstrom node-to-node messages so that
// Maelstrom's partitions and latency apply to it.
//
// # Why it owns its I/O loop
//
// Maelstrom's Go demo library (github.com/jepsen-io/maelstrom/demo/go)
// cannot be fetched through our module proxy, and its loop does not fit a
// Raft node anyway: its bufio.Scanner stops the node on any line over
// 64 KiB, it returns (the node dies) on a malformed line or an unknown
// message type, it handles each message in a new goroutine (reordering a
// peer's pipelined appends), and it logs every message to stderr. So this
// package defines the protocol types it needs (protocol.go, with
// Maelstrom's error codes and their definite/indefinite meaning) and owns
// the loop: one reader with a hard line limit that skips oversize lines,
// in-order delivery of Raft messages, and one writer goroutine that
// coalesces output lines into few syscalls.
//
// # Error codes
//
// A definite code (11 temporarily unavailable, 12 malformed, 10 not
// supported, 20 key does not exist, 22 precondition failed) is sent only
// when the operation certainly did not and will not happen: the runtime
// refused it before it entered any log. A request that may still commit
// (it was proposed or forwarded and then timed out) gets code 0 (timeout)
// or 13 (crash), which the checker treats as indeterminate.
//
// # Sizes
//
// Input lines up to Options.MaxInLineBytes are accepted; longer ones are
// skipped and logged. Output lines stay under Options.MaxOutLineBytes: the
// engine's MaxMsgBytes caps each AppendEntries at half that (base64 costs
// a third), and any Raft message that still would not fit is dropped and
// counted, which Raft tolerates. Snapshots stream to a lagging follower
// in chunks of at most a third of the line limit (base64 adds a third),
// acknowledged and re-sent like any other chunked transfer
// (engine/driver), so a follower behind the leader's compacted log
// catches up however large the state; --snapshot-every makes snapshots
// frequent enough to exercise this in a short run.
//
// # Membership changes
//
// For the chaos harness's membership nemesis the node answers a
// harness-specific message, raftbench_member (membership.go): status,
// remove, add-learner, promote, demote and transfer, on the leader, with
// definite errors for changes that do not apply or must wait. Every node
// of init's node_ids keeps running whatever its membership; one outside
// the configuration it has applied refuses client requests (code 11)
// before proposing anything.
//
// The package must never acknowledge a write before the runtime reports
// it applied, and never answers a read except through ReadIndex (the
// UnsafeLocalReads option exists only to prove the checker catches it).
package maelstrom
