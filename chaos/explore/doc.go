// Package explore model-checks the real Raft core: it runs small
// clusters of engine.Core behind the runtime's driver (engine/driver:
// Driver, Applier, ReadQueue) over wal.MemLog, and explores every
// interleaving of the actions in MODEL.md — deliver, drop or duplicate
// any in-flight message, fire a node's election timer or a leader's
// heartbeat timer, sync a node's pending WAL writes, crash a node
// (losing its unsynced writes) and restart it, a client proposal or read
// at a node — up to stated budgets (Config). Each distinct global state
// (canonical hash: every node's core, log, driver obligations, applier
// and reads, the network as a multiset, budgets used, and the ghost
// history the invariants need) is expanded once, breadth-first (so the
// first counterexample is a shortest one), by iterative deepening, or by
// one depth-first search to the depth bound (a run stopped by its state
// limit then has reached that bound). With Config.Symmetry, states that
// differ only by a renaming of the nodes are one state (symmetry.go).
// After every action it checks the invariants of InvariantNames;
// optionally, from every state, that a fault-free fair suffix elects a
// leader and commits a write (Config.Liveness).
//
// A state is rebuilt by replaying its action path from the initial
// state (the core's and driver's internals hold closures and are not
// copyable); the search stores only a parent index and a 16-byte action
// per state, and the visited set.
//
// # Counterexample file format
//
// A violation yields a Counterexample, written as JSON (Counterexample.
// WriteFile) and read back by ReadFile; Replay re-runs it on this build
// and returns one Step per action. The file is:
//
//	{
//	  "format": "raftbench-explore-counterexample/1",
//	  "config": { "nodes": 3, "max_depth": 20, ... , "bugs": ["..."] },
//	  "violation": { "invariant": "election-safety", "detail": "..." },
//	  "actions": [ Action, ... ],
//	  "steps":   [ Step, ... ]   // steps[0]: initial state; steps[i]: after actions[i-1]
//	}
//
// Action:
//
//	{ "kind": "deliver"|"drop"|"duplicate"|"timeout"|"heartbeat"|"sync"|"crash"|"propose"|"read",
//	  "node": 2,                 // the node acted on (for message kinds: the receiver)
//	  "msg_hash": 123...,        // message kinds: FNV hash of the message's raftpb encoding
//	  "msg": "MsgVote 1->2 t2 idx=0 lt=0 c=0" }  // message kinds: raftpb.Message.String()
//
// Replay identifies a message by msg_hash alone (copies of one message
// are interchangeable); msg is for readers.
//
// Step:
//
//	{ "index": 3, "action": Action, "notes": ["n1 leader of term 2"],
//	  "nodes": [ { "id": 1, "incarnation": 0, "role": "leader", "term": 2, "vote": 1,
//	               "leader": 1, "commit": 0, "applied": 0, "log_terms": [2],
//	               "durable_last_index": 0, "durable_term": 2, "durable_vote": 1,
//	               "pending_writes": 1 }, ... ],
//	  "in_flight": [ "MsgApp 1->2 t2 idx=0 lt=0 c=0 ents=[1..1]", ... ],
//	  "violation": { ... } }     // only on the step that broke an invariant
//
// # Contract
//
//   - Deterministic: the same Config gives the same states, counts and
//     counterexample on every run (map iteration never decides an order;
//     the cores are seeded; only the progress callback reads the clock).
//   - Memory is bounded by Config.MaxStates; hitting it stops the run
//     with Coverage.Stopped saying so, never silently.
//   - Bug switches (Config.Bugs, the simulator's names) need -tags
//     raftbugs, like the simulator's.
//
// # What it must never do
//
// Change the core's or driver's behaviour for the sake of exploration
// (it drives them only through their public API, reading internals by
// reflection solely to hash them), start goroutines, or touch files
// other than the counterexample and coverage files its caller names.
package explore
