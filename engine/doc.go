// Package engine is the Raft core: a deterministic state machine with no
// goroutines, clocks, locks, I/O or global randomness. Messages, ticks and
// proposals go in; a Ready batch comes out; the driver hands it back.
//
// # Contract (the runtime in engine/runtime/node and the simulator in chaos/sim
// program against exactly this)
//
//	c, err := engine.New(cfg)        // cfg.Validate() errors are returned
//	c.Tick()                         // one logical clock tick
//	c.Step(m)                        // a message from the network
//	c.Propose(data...)               // leader: append; follower: forward
//	                                 // (MsgProp) or *NotLeaderError
//	c.ReadIndex(ctx)                 // request a ReadState for ctx
//	c.TransferLeadership(to)         // thesis §3.10
//	if c.HasReady() {
//	    rd := c.Ready()              // see Ready for the driver's duties
//	    c.Advance(rd)                // rd was taken; persistence may still
//	                                 // be in flight
//	    c.RecycleMessages(rd.Messages) // optional, once nothing refers to
//	                                 // them (the transport copied them):
//	                                 // a later Ready's are built there
//	}
//	c.Persisted(index, term)         // entries up to index (term at index)
//	                                 // are durable; ignored if stale
//	c.Compact(snap)                  // the state machine has a snapshot;
//	                                 // drop the log prefix it covers
//	c.Status()                       // term, role, lead, commit, applied,
//	                                 // per-peer progress
//
// Batching: Propose only appends to the leader's log; MsgApps are built
// when Ready is called, so every proposal since the previous Ready shares
// one AppendEntries per follower. Pipelining: in replicate state a leader
// sends further MsgApps without waiting for acks, up to an in-flight
// window in messages and bytes. The leader counts itself toward a commit
// quorum only for entries it has Persisted. Entries of an earlier term are
// never committed by counting replicas (§5.4.2). With Config.LazyCommit a
// follower learns a new commit index from the next MsgApp or heartbeat,
// and from a message of its own only when it waits for it.
//
// Details of the contract as built:
//
//   - Vote requests (MsgVote) go in MessagesAfterPersist, like grants and
//     append acks: no vote can come back before the candidate's own term
//     and vote are durable, which is what lets it count itself at once.
//     Pre-votes and heartbeats go in Messages.
//   - Persisted is needed only for Readies with Entries or a Snapshot; a
//     Ready that changes only the hard state needs no call (its durability
//     is what releases its MessagesAfterPersist).
//   - After restarting from a snapshot, pass it to Compact so the core can
//     send it to followers that need it (the core panics with that advice
//     if a follower needs a snapshot it was never given).
//   - A restart log whose last term exceeds HardState.Term (a crash
//     after a Ready's Snapshot or Entries were durable but before its
//     HardState was) starts at that term with no vote; the first Ready
//     persists it.
//   - Heartbeats carry in Index the last index the leader had sent the
//     follower; the response sets Reject when the follower's log ends
//     below it (a MsgApp was lost), so a pipelining leader resends.
//   - A ReadIndex heartbeat round uses Context for an 8-byte round number.
//   - With Config.LeaseReads (needs CheckQuorum) every heartbeat is such a
//     round, and a leader whose round a quorum answered less than
//     Config.LeaseTicks ticks ago answers ReadIndex in the next Ready,
//     without a round (thesis §6.4.1). Safe only while tick rates differ
//     by at most Config.MaxClockDrift between nodes and ticks follow the
//     clock (a driver whose ticks can fall behind reports its clock with
//     ClockTicks before handing in reads);
//     a node with lease reads grants no vote for its first ElectionTicks
//     ticks after New, since it may have forgotten a leader it answered.
//   - Membership (thesis §4.1 one voter at a time, §4.3 joint consensus):
//     ProposeConfChange appends an EntryConfChange (ConfChange.Encode);
//     every node uses the latest configuration in its log (a
//     raftpb.ConfState: voters, the outgoing voters of a joint
//     configuration, learners, member addresses), committed or not. A
//     change of more than one voter enters a joint configuration, which
//     needs a majority of both halves for every decision and is left by
//     the leader (auto-leave) once entering has committed. Learners get
//     the log and snapshots but never vote or campaign; a learner is
//     promoted only within Config.MaxPromoteLag entries of the leader. A
//     change waits for the previous one to commit and for the leader's
//     first commit in its term. Config.Voters/Learners (or
//     Snapshot.ConfState) is the configuration at the start of the log;
//     changes in Config.Entries are applied on top at restart. Compact
//     records the configuration at the snapshot index in Meta.ConfState.
//     Step accepts messages from senders outside the configuration
//     (a lagging node must follow a leader it has not seen added); a
//     node whose own removal is in its log but uncommitted still
//     campaigns, without counting its own vote.
//   - Invariants (commit <= last index, applied <= commit, match < next,
//     one leader per term in this node's view, no truncation of committed
//     entries) are asserted after every input; a violation panics with a
//     message naming the node, term and indexes.
//
// Every exported method must be called from one goroutine at a time.
//
// # Layers
//
// The module is built in layers; a package imports only packages of its
// own layer or of lower ones (bottom first):
//
//	core       engine, engine/quorum, engine/tracker, engine/raftpb
//	           pure: no goroutines, clocks, locks, I/O or global randomness
//	storage    wal: the write-ahead log beside the core; it imports only
//	           the wire types (engine/raftpb)
//	driver     engine/driver: the policy between Ready and the world
//	           (persist queue, acks after persist, hard-state saves, apply
//	           cursor and read release, client sessions, snapshot and
//	           configuration bookkeeping); pure like the core, but may
//	           name wal's types
//	runtime    engine/runtime/node (goroutines and real I/O around the driver),
//	           engine/runtime/transport (TCP and in-memory message transports),
//	           engine/runtime/transport/nats (Raft over a NATS bus) and its
//	           embedded test broker engine/runtime/transport/nats/natsserver
//	embedding  engine/embed/kv (the state machine; imports nothing from the
//	           module), engine/embed/cluster (in-process cluster),
//	           engine/embed/httpapi (HTTP server and its Go client),
//	           maelstrom (Maelstrom adapter)
//	tools      bench/... (load generator, targets, reports), chaos/...
//	           (fault injection, simulator, checkers), ui (the browser view)
//	commands   cmd/... (main packages)
//
// The folders follow the layers: engine/runtime/... holds the runtime and
// engine/embed/... the embeddings.
//
// The simulator (chaos/sim) drives the same driver as the runtime, over
// an in-memory log, a simulated network and a virtual clock. The table
// that enforces all this is layerTable in layers_test.go: it is built
// from `go list`, every module package must appear in it, and a new
// package fails the test until it is classified. lint_test.go lints the
// pure layers' source.
package engine
