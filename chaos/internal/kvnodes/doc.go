// Command kvnodes is a test-only set of Maelstrom lin-kv node designs,
// some correct and some deliberately broken, that prove the chaos harness
// (raftbench chaos, chaos/harness) has teeth — it reports the broken
// designs non-linearizable under the fault that breaks them — and gives
// no false positives — it passes the correct ones. It is never shipped:
// it lives under internal/ as a package main nothing imports, no Makefile
// target, script or release builds it, and only its own unit tests
// (go test ./...) and people checking the harness build and run it.
//
// It is written the way someone outside this project would write a
// Maelstrom node: standard library only, nothing from this module, and
// exactly Maelstrom's protocol.
//
// Usage:
//
//	kvnodes --design NAME [--data-dir DIR]
//
//	--design    one of the designs below (required)
//	--data-dir  a directory that survives kill -9 and restart; primary and
//	            ack-before-fsync keep their state there in kvnodes-state.json,
//	            replaced atomically (write a temporary file, fsync it, rename
//	            it, fsync the directory); every other design ignores it
//
// For example:
//
//	go build -o /tmp/kvnodes ./chaos/internal/kvnodes
//	raftbench chaos --bin /tmp/kvnodes --node-arg=--design=primary \
//	    --nodes 3 --nemesis partition,kill,pause,loss,dup --out /tmp/chaos-primary
//
// # Protocol
//
// One JSON object {"src","dest","body"} per line on stdin and stdout; logs
// go to stderr only. The first message, init {node_id, node_ids}, is
// answered init_ok; a read, write or cas that arrives before it gets a
// definite error 11 whose src is the request's dest (the node does not
// know its name yet). Every reply has src = the node's id and
// in_reply_to = the request's msg_id. lin-kv: read {key} → read_ok
// {value}; write {key, value} → write_ok; cas {key, from, to} → cas_ok.
// Keys and values are opaque JSON compared by canonical text (object keys
// sorted, numbers as written). Errors: 20 read or cas of a missing key;
// 22 cas whose from differs; 12 a request missing key, value, from or to;
// 10 an unknown request type; 11 certainly not done (before init, too
// many requests in flight, too many keys, local-reads refusing a write); 0 timeout, indefinite (a
// forwarded or replicating request not answered within 800 ms; clients
// wait 1 s). create_if_not_exists is not part of Maelstrom's lin-kv
// workload and is ignored: cas of a missing key is always 20.
//
// Node-to-node bodies (they cross the harness's simulated network, so
// partitions, loss, duplication, delay and reordering apply): fwd {fid,
// sent, req} and fwd_ok {fid, req} (forwarding to the leader); hb
// (split-brain and local-reads heartbeat); set {key, value} (split-brain
// replication); rep {key, value, ver, rid} and rep_ok {rid} (local-reads
// replication); lww {key, value, ver, node} (async-lww gossip). A malformed line, an
// unknown type or a message meant for another design is logged and
// skipped, never fatal. Every map and queue is bounded: 10000 requests in
// flight per node, 50000 dedup entries, 100000 keys, 1 MiB per line, 1024
// queued input lines.
//
// One goroutine owns all state: it handles a batch of input lines (or a
// 20 ms tick), then, for primary, saves the state, and only then writes
// the batch's outgoing messages, so nothing is acknowledged before it is
// on disk.
//
// Forwarding (every design but async-lww): a node that does not serve a
// request itself forwards it to the leader, the first of node_ids, under
// an id unique across restarts (node, process epoch, counter). The leader
// applies each id at most once: it remembers the id and its answer for at
// least 5 s and answers duplicates from that table; a forward older than
// 2 s (by the sender's clock, the same machine's) that it does not
// remember is dropped unapplied, since the forwarder gave up on it at
// 800 ms with an indefinite error 0; if the table is full of younger
// entries a new forward is dropped unanswered (never refused with a
// definite error, which a later duplicate could contradict). A forwarder
// that hears nothing in 800 ms answers its client error 0, never a
// definite code.
//
// # Designs
//
// Correct designs (the harness must pass them):
//
//   - single: the leader n0 holds the only copy of the map, in memory;
//     the other nodes forward to it; it applies each request once. It is
//     linearizable with any number of nodes under partition, pause, loss,
//     duplication and latency (requests that cannot reach n0 time out
//     indefinitely), and meant above all for --nodes 1 runs. It is NOT
//     correct under kill: a restarted n0 starts empty (reads of written
//     keys then return 20, lost updates).
//   - primary: single plus durability: n0 writes its map and dedup table
//     to --data-dir (fsync + rename) before any answer leaves.
//     Linearizable under every nemesis, kill -9 and restart on the same
//     data directory included (not with an emptied one). Unavailable
//     while n0 is unreachable, paused or down: those requests get error 0.
//
// Broken designs (the harness must catch each, under the fault named):
//
//   - split-brain: like single (n0 the leader, in memory), but n0
//     broadcasts a heartbeat every 100 ms and every change (set, best
//     effort, unacknowledged), and a node that has heard nothing from n0
//     for 300 ms promotes itself and serves reads, writes and cas from its
//     own copy (including the requests it had forwarded and not heard
//     back about), broadcasting its changes the same way, until it hears
//     from n0 again. Writes are acknowledged by nodes that cannot reach a
//     majority. Under a partition (or a pause of n0) both sides accept
//     writes: stale reads, lost updates, cas succeeding on values another
//     side already replaced. Linearizable when there are no faults; loss
//     can trigger it too (three heartbeats lost in a row).
//   - local-reads: writes and cas go through n0, which applies them,
//     sends rep to every node and acknowledges once a majority (itself
//     included) has it (error 0 after 800 ms). n0 broadcasts a heartbeat
//     every 100 ms, and a node that has not heard from n0 for 300 ms
//     refuses writes and cas with a definite 11 instead of forwarding them
//     (a lease check) — but a read is answered by whichever node the
//     client talks to, from its local copy, with no check at all. A node
//     outside the acknowledging majority serves values older than
//     acknowledged writes: stale reads. Caught under partition (a node
//     cut off from n0 while n0 keeps a majority goes on serving reads, and
//     its clients stay, since 11 is definite); under latency alone only
//     when a rep is slow enough that a read lands between the ack and its
//     arrival, i.e. sometimes; with neither, rarely if ever.
//   - async-lww: every node applies writes and cas to its own copy,
//     acknowledges at once and gossips (key, value, timestamp, node) to
//     the others, who keep the last writer by (timestamp, node); reads are
//     local. Concurrent cas on two nodes both succeed, reads on one node
//     miss writes acknowledged by another: caught with almost any
//     nemesis, and with none at all given some latency.
//   - ack-before-fsync: like primary, but n0 acknowledges at once and
//     saves its state only every 500 ms in the background. Killed with -9,
//     it comes back with a state up to 500 ms old: acknowledged writes and
//     cas vanish (reads return older values or 20). Caught under kill of
//     n0 whenever the value it saved last differs from the last one it
//     acknowledged (values are drawn from 0..4, so most kills, not all);
//     it is correct under every other nemesis.
//   - forgetful: like primary, but it ignores --data-dir, so a restarted
//     n0 starts empty: acknowledged writes vanish (reads return 20, cas
//     fails with 20). Caught under kill of n0 unless the first operation
//     on the key after the restart is a write; correct under every other
//     nemesis.
//     By construction it runs the same code as single — it is a separate
//     name so that a kill test which must fail says what it exercises.
//
// Kill means kill -9 and restart on the same data directory (the
// harness's --kill-mode keep-data). With --kill-mode wipe-data the data
// directory is emptied, and every design here loses n0's state, primary
// included: expected to fail, not a false positive. ack-before-fsync and
// forgetful (and single) break only when n0 is among the victims
// (--node-targets all makes it every kill); with --nodes 1 every kill
// hits n0. split-brain and local-reads need a partition (or pause) that
// cuts a node off from n0 while clients talk to that node; the harness
// binds client thread t to node t mod nodes for the whole run, so every
// node has clients.
package main
