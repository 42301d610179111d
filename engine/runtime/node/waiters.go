package node

import (
	"sync"
	"sync/atomic"
	"time"
)

// waitKey identifies one proposal: its session.
type waitKey struct{ clientID, seq uint64 }

// result is what a proposal or read waiter receives, exactly once.
type result struct {
	res []byte
	err error
}

// waiter is a client goroutine blocked in Propose or Read. ch has
// capacity 1, so the completing side never blocks.
//
// Waiters are recycled (waiterPool): a waiter goes back only when its
// owner knows nobody else can still send on ch (it received the result,
// or removed the waiter from the registry itself). gen tells a stale
// reference (an expectation of an earlier proposal) from the current
// use of the same waiter.
type waiter struct {
	ch    chan result
	start time.Time
	gen   atomic.Uint64
	// probeIndex is the log index the leader gave this proposal, kept
	// only while a Probe is set (StageReturned).
	probeIndex atomic.Uint64
	// untilLeaderChange: the proposer gives up at this node's next
	// leader change, and the loop answers it then (set before the
	// waiter is registered, read under the registry's shard lock).
	untilLeaderChange bool
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan result, 1)} }}

// getWaiter returns an idle waiter with a new generation.
func getWaiter(now time.Time) *waiter {
	w := waiterPool.Get().(*waiter)
	w.gen.Add(1)
	w.start = now
	w.untilLeaderChange = false
	return w
}

// putWaiter recycles w: ch must be empty and no sender may hold w.
func putWaiter(w *waiter) { waiterPool.Put(w) }

// waiterShards spreads the proposal registry over several locks: dozens of
// client goroutines register while the apply goroutine completes.
const waiterShards = 32

// waiters maps sessions to blocked proposers. A waiter is removed by
// exactly one side: the apply path when it completes it, or the proposer
// when it gives up.
type waiters struct {
	shards [waiterShards]struct {
		mu sync.Mutex
		m  map[waitKey]*waiter
		// n is len(m), stored under mu, so empty() reads every shard
		// without taking its lock (on the same line as mu: no line more).
		n atomic.Int32
		_ [36]byte // keep shards on separate cache lines
	}
}

func newWaiters() *waiters {
	w := &waiters{}
	for i := range w.shards {
		w.shards[i].m = make(map[waitKey]*waiter)
	}
	return w
}

func shardOf(k waitKey) int { return int((k.clientID ^ k.seq*0x9E3779B97F4A7C15) >> 59 % waiterShards) }

// add registers w; false if the key is already waited on.
func (ws *waiters) add(k waitKey, w *waiter) bool {
	s := &ws.shards[shardOf(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[k]; dup {
		return false
	}
	s.m[k] = w
	s.n.Store(int32(len(s.m)))
	return true
}

// take removes and returns the waiter for k, or nil.
func (ws *waiters) take(k waitKey) *waiter {
	s := &ws.shards[shardOf(k)]
	s.mu.Lock()
	w := s.m[k]
	if w != nil {
		delete(s.m, k)
		s.n.Store(int32(len(s.m)))
	}
	s.mu.Unlock()
	return w
}

// takeIf removes k only if it is still registered to w in generation
// gen (a retry may re-register k, even with the same recycled waiter).
func (ws *waiters) takeIf(k waitKey, w *waiter, gen uint64) bool {
	s := &ws.shards[shardOf(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[k] != w || w.gen.Load() != gen {
		return false
	}
	delete(s.m, k)
	s.n.Store(int32(len(s.m)))
	return true
}

// empty reports whether no waiter was registered in any shard as the
// call looked at it. Without locks: at one entry per batch, 32 shard
// locks per batch cost a follower as much as the settling pass it skips.
func (ws *waiters) empty() bool {
	for i := range ws.shards {
		if ws.shards[i].n.Load() > 0 {
			return false
		}
	}
	return true
}

// failUntilLeaderChange completes with err every waiter registered to
// give up at a leader change (waiter.untilLeaderChange).
func (ws *waiters) failUntilLeaderChange(err error) {
	for i := range ws.shards {
		s := &ws.shards[i]
		s.mu.Lock()
		for k, w := range s.m {
			if w.untilLeaderChange {
				w.ch <- result{err: err}
				delete(s.m, k)
			}
		}
		s.n.Store(int32(len(s.m)))
		s.mu.Unlock()
	}
}

// failAll completes every waiter with err (used at Stop).
func (ws *waiters) failAll(err error) {
	for i := range ws.shards {
		s := &ws.shards[i]
		s.mu.Lock()
		for k, w := range s.m {
			w.ch <- result{err: err}
			delete(s.m, k)
		}
		s.n.Store(0)
		s.mu.Unlock()
	}
}
