package harness

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// maxInFlight bounds the messages the network holds; beyond it new
// messages are dropped (and counted), as a congested network would.
const maxInFlight = 200000

// delivery is one message in flight.
type delivery struct {
	at        time.Time
	seq       uint64 // ties broken by send order
	src, dest string
	line      []byte
	server    bool // node-to-node: partitions apply at delivery time
}

type deliveryHeap []delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// NetStats counts messages by path.
type NetStats struct {
	ServerToServer int64 `json:"server_to_server"`
	ClientToServer int64 `json:"client_to_server"`
	ServerToClient int64 `json:"server_to_client"`
	Dropped        int64 `json:"dropped"`     // loss nemesis and overflow
	Partitioned    int64 `json:"partitioned"` // refused by a partition
	Duplicated     int64 `json:"duplicated"`
}

// network delays, reorders, drops and duplicates messages between named
// endpoints and hands each one, when due, to deliver. Loss and
// duplication apply to node-to-node messages only; clients always reach
// their node (Maelstrom partitions servers, not clients).
type network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	delay   func(*rand.Rand) time.Duration
	fifo    bool
	lastAt  map[[2]string]time.Time
	q       deliveryHeap
	seq     uint64
	grudge  map[string]map[string]bool
	loss    float64
	dup     float64
	stats   NetStats
	wake    chan struct{}
	deliver func(d delivery)
	// onGrudge, when set, also gets every partition (nil: healed); a
	// serve cluster cuts its Raft links with it.
	onGrudge func(g map[string][]string)
}

func newNetwork(cfg Config, rng *rand.Rand, deliver func(delivery)) *network {
	return &network{
		rng: rng, delay: delayFunc(cfg.LatencyDist, cfg.Latency), fifo: cfg.NoReorder,
		lastAt: map[[2]string]time.Time{}, wake: make(chan struct{}, 1), deliver: deliver,
	}
}

// delayFunc returns a sampler of one-way delays with the given mean.
func delayFunc(dist string, mean time.Duration) func(*rand.Rand) time.Duration {
	if mean <= 0 {
		return func(*rand.Rand) time.Duration { return 0 }
	}
	switch dist {
	case DistUniform:
		return func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(2*int64(mean) + 1)) }
	case DistExponential:
		return func(r *rand.Rand) time.Duration {
			// Capped at 20× the mean so one draw cannot stall a link.
			return time.Duration(min(r.ExpFloat64(), 20) * float64(mean))
		}
	}
	return func(*rand.Rand) time.Duration { return mean }
}

// send queues line from src to dest.
func (n *network) send(src, dest string, line []byte, server bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case server:
		n.stats.ServerToServer++
	case len(src) > 0 && src[0] == 'c':
		n.stats.ClientToServer++
	default:
		n.stats.ServerToClient++
	}
	copies := 1
	if server && n.loss > 0 && n.rng.Float64() < n.loss {
		n.stats.Dropped++
		return
	}
	if server && n.dup > 0 && n.rng.Float64() < n.dup {
		copies = 2
		n.stats.Duplicated++
	}
	now := time.Now()
	for range copies {
		if len(n.q) >= maxInFlight {
			n.stats.Dropped++
			return
		}
		at := now.Add(n.delay(n.rng))
		link := [2]string{src, dest}
		if n.fifo && at.Before(n.lastAt[link]) {
			at = n.lastAt[link]
		}
		n.lastAt[link] = at
		n.seq++
		heap.Push(&n.q, delivery{at: at, seq: n.seq, src: src, dest: dest, line: line, server: server})
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run delivers due messages until ctx ends.
func (n *network) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d, wait, ok := n.next()
		if ok {
			n.deliver(d)
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// next pops a due message that survives the partition, or says how long
// to wait for the next one.
func (n *network) next() (delivery, time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for len(n.q) > 0 {
		wait := time.Until(n.q[0].at)
		if wait > 0 {
			return delivery{}, wait, false
		}
		d := heap.Pop(&n.q).(delivery)
		if d.server && n.grudge[d.dest][d.src] {
			n.stats.Partitioned++
			continue
		}
		return d, 0, true
	}
	return delivery{}, time.Hour, false
}

func (n *network) setGrudge(g map[string][]string) {
	m := map[string]map[string]bool{}
	for dest, srcs := range g {
		m[dest] = map[string]bool{}
		for _, s := range srcs {
			m[dest][s] = true
		}
	}
	n.mu.Lock()
	n.grudge = m
	n.mu.Unlock()
	if n.onGrudge != nil {
		n.onGrudge(g)
	}
}

func (n *network) setLoss(f float64) { n.mu.Lock(); n.loss = f; n.mu.Unlock() }
func (n *network) setDup(f float64)  { n.mu.Lock(); n.dup = f; n.mu.Unlock() }

func (n *network) heal() {
	n.mu.Lock()
	n.grudge, n.loss, n.dup = nil, 0, 0
	n.mu.Unlock()
	if n.onGrudge != nil {
		n.onGrudge(nil)
	}
}

func (n *network) snapshot() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *network) countDropped() { n.mu.Lock(); n.stats.Dropped++; n.mu.Unlock() }
