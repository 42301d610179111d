// Package engine is the Raft core: a deterministic state machine with no
// goroutines, clocks, locks, I/O or global randomness. Messages, ticks and
// proposals go in; a Ready batch comes out; the driver hands it back.
//
// # Contract (the runtime in engine/node and the simulator in chaos/sim
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
// never committed by counting replicas (§5.4.2).
//
// Every exported method must be called from one goroutine at a time.
package engine
