package check

import (
	"math"
	"sort"
)

// Methods that decide a key (KeyResult.Method).
const (
	// MethodZones: the key's history has only reads and writes, every
	// write's value is unique, so each read names the write it saw, and
	// linearizability is decided exactly in O(n log n) (checkZones).
	MethodZones = "zones"
	// MethodSearch: porcupine's search over orderings (any history; can
	// time out on a hot key with many concurrent operations).
	MethodSearch = "porcupine"
)

// zoneOp is one operation of a read/write register history with its
// interval; an Info write ends at +inf (it may take effect any time
// after its call).
type zoneOp struct {
	call, ret int64
}

// zone is the interval a cluster (a write and the reads that saw it)
// forces on the register. Forward (lo < hi): some operation of the
// cluster ends before another starts, so the write's value must be the
// register's from lo (the first end) to hi (the last start). Backward:
// all operations overlap, and the cluster can be linearized anywhere in
// [lo, hi] = [last start, first end].
type zone struct {
	lo, hi  int64
	forward bool
}

// uniqueRegister reports whether ops (one key's, Fail ops and Info reads
// already removed) can be decided by checkZones: no cas, and no two
// writes of the same value.
func uniqueRegister(ops []Op) bool {
	seen := make(map[string]bool)
	for _, op := range ops {
		switch op.Kind {
		case Cas:
			return false
		case Write:
			if seen[op.Value] {
				return false
			}
			seen[op.Value] = true
		}
	}
	return true
}

// checkZones decides whether one key's history of reads and uniquely
// valued writes is linearizable (the key starts missing). With unique
// values a read names its write, which makes the problem polynomial
// (Gibbons and Korach, "Testing Shared Memories", 1997): group each write
// with the reads that saw it (reads of a missing key with a write at
// -inf); the history is linearizable iff
//
//  1. every read saw a value some write wrote, and did not return before
//     that write was called;
//  2. no two forward zones overlap (two values cannot both be the
//     register's over one stretch of time);
//  3. no backward zone lies inside a forward zone (that cluster's write
//     would land where another value must stay visible).
//
// Intervals compare strictly, as porcupine's do: an operation that ends
// at t and one that starts at t are concurrent. An Info write nobody
// read is dropped (never taking effect is one of its outcomes); one
// somebody read ends at +inf. TestZonesAgreeWithSearch checks this
// against porcupine on many random histories.
func checkZones(ops []Op) Verdict {
	const inf = math.MaxInt64
	type cluster struct {
		write zoneOp
		reads []zoneOp
	}
	clusters := make(map[string]*cluster)
	initial := &cluster{write: zoneOp{call: math.MinInt64, ret: math.MinInt64}}
	for _, op := range ops {
		if op.Kind == Write {
			w := zoneOp{call: op.Call, ret: op.Return}
			if op.Outcome == Info {
				w.ret = inf
			}
			clusters[op.Value] = &cluster{write: w}
		}
	}
	for _, op := range ops {
		if op.Kind != Read {
			continue
		}
		c := initial
		if !op.Missing {
			c = clusters[op.Value]
			if c == nil {
				return NotLinearizable // a value no write wrote
			}
		}
		if op.Return < c.write.call {
			return NotLinearizable // returned before its write was called
		}
		c.reads = append(c.reads, zoneOp{call: op.Call, ret: op.Return})
	}

	var forward, backward []zone
	add := func(c *cluster) {
		lo, hi := c.write.ret, c.write.call // first end, last start
		for _, r := range c.reads {
			lo, hi = min(lo, r.ret), max(hi, r.call)
		}
		if lo < hi {
			forward = append(forward, zone{lo: lo, hi: hi, forward: true})
		} else {
			backward = append(backward, zone{lo: hi, hi: lo})
		}
	}
	if len(initial.reads) > 0 {
		add(initial)
	}
	for _, c := range clusters {
		if c.write.ret == inf && len(c.reads) == 0 {
			continue // an Info write nobody saw: it may never have happened
		}
		add(c)
	}

	sort.Slice(forward, func(i, j int) bool { return forward[i].lo < forward[j].lo })
	for i := 1; i < len(forward); i++ {
		if forward[i].lo < forward[i-1].hi {
			return NotLinearizable
		}
	}
	for _, b := range backward {
		// The forward zone starting last before b does is the only one
		// that can contain it: forward zones are disjoint.
		i := sort.Search(len(forward), func(i int) bool { return forward[i].lo >= b.lo }) - 1
		if i >= 0 && b.hi < forward[i].hi {
			return NotLinearizable
		}
	}
	return Linearizable
}
