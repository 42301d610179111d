package sim

import "github.com/raftbench/raftbench/engine/raftpb"

// evKind names what an event does when it fires.
type evKind uint8

const (
	evTick             evKind = iota + 1 // node ticks its core
	evDeliver                            // a Raft message arrives at a node
	evSync                               // a node's pending log writes become durable (or fail)
	evClientReq                          // a client request arrives at a node
	evClientReply                        // a node's answer arrives at a client
	evClientTimeout                      // a client gives up on one attempt
	evClientStart                        // a client starts its next operation
	evPartition                          // a new partition forms
	evPartitionEnd                       // the current partition heals
	evCrash                              // a node crashes
	evRestart                            // a crashed node restarts
	evHeal                               // the fault phase ends: liveness phase begins
	evLivenessDeadline                   // the liveness budget is spent
	evEnd                                // stop issuing operations; drain
	evTransfer                           // ask the leader to transfer leadership
	evConfChange                         // ask the leader to add or remove a voter
)

var evKindNames = [...]string{
	evTick: "tick", evDeliver: "deliver", evSync: "sync", evClientReq: "client-req",
	evClientReply: "client-reply", evClientTimeout: "client-timeout", evClientStart: "client-start",
	evPartition: "partition", evPartitionEnd: "partition-end", evCrash: "crash", evRestart: "restart",
	evHeal: "heal", evLivenessDeadline: "liveness-deadline", evEnd: "end",
	evTransfer: "transfer", evConfChange: "conf-change",
}

func (k evKind) String() string {
	if int(k) < len(evKindNames) && evKindNames[k] != "" {
		return evKindNames[k]
	}
	return "ev?"
}

// event is one entry of the simulation's single queue. Ordering is by
// (at, seq): seq is the insertion counter, so simultaneous events fire in
// the order they were scheduled and the run never depends on heap
// internals.
type event struct {
	at   int64 // virtual microseconds
	seq  uint64
	kind evKind
	node int    // target node index (0-based); client index for client events
	inc  uint32 // target node incarnation (ticks, syncs): stale after a crash
	msg  raftpb.Message
	cl   *clientMsg
	aux  int64  // kind-specific: attempt number, etc.
	mid  uint64 // message ID for an observer (0 when not observed)
}

// eventQueue is a binary min-heap of events. It is bounded: a run that
// schedules more than maxQueued pending events is broken and stops.
type eventQueue struct {
	h   []*event
	seq uint64
}

const maxQueued = 1 << 20

func (q *eventQueue) less(i, j int) bool {
	a, b := q.h[i], q.h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// push schedules e; it reports false when the queue is full.
func (q *eventQueue) push(e *event) bool {
	if len(q.h) >= maxQueued {
		return false
	}
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
	return true
}

// pop removes and returns the earliest event, or nil when empty.
func (q *eventQueue) pop() *event {
	n := len(q.h)
	if n == 0 {
		return nil
	}
	top := q.h[0]
	q.h[0] = q.h[n-1]
	q.h[n-1] = nil
	q.h = q.h[:n-1]
	i, n := 0, n-1
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			return top
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
}
