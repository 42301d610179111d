package transport

import (
	"container/heap"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// MemOptions configure an in-memory network. The zero value is a perfect
// network: no latency, no loss, FIFO per (from, to) pair.
type MemOptions struct {
	// Latency is a fixed one-way delay; Jitter adds a uniform extra delay
	// in [0, Jitter). Delivery stays FIFO per (from, to) pair: a message
	// is never delivered before an earlier one on the same pair.
	Latency time.Duration
	Jitter  time.Duration
	// DropRate is the probability in [0, 1] that a message is lost
	// (changeable later with SetDropRate).
	DropRate float64
	// Seed seeds jitter and loss, per sender, so runs are repeatable in
	// what they draw (not in goroutine scheduling).
	Seed uint64
	// InboxLimit bounds each endpoint's undelivered messages; beyond it
	// messages are dropped (DropQueueFull). Default 8192.
	InboxLimit int
	// CopyEntries makes Send copy each message's Entries slice. Leave it
	// off for senders that, like the engine core, never modify a slice
	// after handing it out (Ready's contract); turn it on for senders
	// that reuse their Entries arrays.
	CopyEntries bool
	// Direct makes Send call the receiver's Handler itself, on the
	// sender's goroutine, when nothing is queued ahead of the message
	// (no latency or jitter configured, receiver started): one goroutine
	// hand-off less per message. Deliveries to one endpoint stay
	// serialized and FIFO per pair. The Handler must then return quickly
	// and must not call Send or Close (the node runtime's handler only
	// queues the message).
	Direct bool
}

const defaultInboxLimit = 8192

// MemNetwork is an in-process network of endpoints, one per node ID, with
// partitions, one-way link cuts, loss and latency under test control.
// Messages are passed as structs, never encoded: the Message values are
// copied, while the arrays and bytes they point to (Entries, Data,
// Context, Snapshot) are shared, which is safe because their producers
// never modify them after sending (see MemOptions.CopyEntries).
//
// Latency uses the wall clock (time.Now and timers), so under
// testing/synctest it runs on the bubble's fake clock.
type MemNetwork struct {
	opts      MemOptions
	endpoints atomic.Pointer[map[uint64]*memEndpoint] // copy-on-write
	links     atomic.Pointer[linkState]               // nil: fully connected
	dropRate  atomic.Uint64                           // math.Float64bits
	mu        sync.Mutex                              // serialises writers of endpoints, links
	retired   []*memEndpoint                          // closed and replaced; guarded by mu
}

// linkState is an immutable description of which links are cut.
type linkState struct {
	group   map[uint64]int         // partition group; absent = group 0
	blocked map[[2]uint64]struct{} // one-way cuts {from, to}
	next    int                    // next unused group number for Isolate
}

func (ls *linkState) connected(from, to uint64) bool {
	if ls == nil {
		return true
	}
	if ls.group[from] != ls.group[to] {
		return false
	}
	_, cut := ls.blocked[[2]uint64{from, to}]
	return !cut
}

func (ls *linkState) clone() *linkState {
	out := &linkState{group: map[uint64]int{}, blocked: map[[2]uint64]struct{}{}, next: 1}
	if ls != nil {
		for k, v := range ls.group {
			out.group[k] = v
		}
		for k := range ls.blocked {
			out.blocked[k] = struct{}{}
		}
		out.next = ls.next
	}
	return out
}

// NewMemNetwork returns an empty network; add nodes with Endpoint.
func NewMemNetwork(opts MemOptions) *MemNetwork {
	if opts.InboxLimit <= 0 {
		opts.InboxLimit = defaultInboxLimit
	}
	n := &MemNetwork{opts: opts}
	n.endpoints.Store(&map[uint64]*memEndpoint{})
	n.SetDropRate(opts.DropRate)
	return n
}

// Endpoint returns the transport of node id. It creates one if id has
// none or its previous one was closed (a restarted node gets a fresh
// endpoint); otherwise it returns the existing, still open endpoint.
// The returned Transport also has a `Stats() Stats` method with that
// endpoint's own counters (drops are counted where they are detected).
func (n *MemNetwork) Endpoint(id uint64) Transport {
	if id == 0 {
		panic("transport: node ID 0 is reserved for \"none\"")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.endpoints.Load()
	if ep, ok := old[id]; ok && !ep.isClosed() {
		return ep
	} else if ok {
		n.retired = append(n.retired, ep) // its counters still count
	}
	ep := newMemEndpoint(n, id)
	next := make(map[uint64]*memEndpoint, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = ep
	n.endpoints.Store(&next)
	return ep
}

func (n *MemNetwork) lookup(id uint64) *memEndpoint { return (*n.endpoints.Load())[id] }

// Partition splits the network: nodes in different groups cannot reach
// each other; nodes named in no group form one more group together. It
// replaces any earlier partition and clears one-way cuts.
func (n *MemNetwork) Partition(groups ...[]uint64) {
	ls := (*linkState)(nil).clone()
	for i, g := range groups {
		for _, id := range g {
			ls.group[id] = i + 1
		}
	}
	ls.next = len(groups) + 1
	n.mu.Lock()
	n.links.Store(ls)
	n.mu.Unlock()
}

// Isolate cuts id off from every other node, keeping other cuts.
func (n *MemNetwork) Isolate(id uint64) {
	n.updateLinks(func(ls *linkState) {
		ls.group[id] = -ls.next // negative: never used by Partition
		ls.next++
	})
}

// BlockLink cuts the one-way link from -> to, keeping other cuts.
func (n *MemNetwork) BlockLink(from, to uint64) {
	n.updateLinks(func(ls *linkState) { ls.blocked[[2]uint64{from, to}] = struct{}{} })
}

// Heal removes every partition and cut.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.links.Store(nil)
	n.mu.Unlock()
}

func (n *MemNetwork) updateLinks(f func(*linkState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ls := n.links.Load().clone()
	f(ls)
	n.links.Store(ls)
}

// Connected reports whether a message from -> to would currently pass.
func (n *MemNetwork) Connected(from, to uint64) bool { return n.links.Load().connected(from, to) }

// SetDropRate changes the loss probability (clamped to [0, 1]).
func (n *MemNetwork) SetDropRate(p float64) {
	p = math.Max(0, math.Min(1, p))
	if math.IsNaN(p) {
		p = 0
	}
	n.dropRate.Store(math.Float64bits(p))
}

// Stats sums the counters of every endpoint, past and present.
func (n *MemNetwork) Stats() Stats {
	var s Stats
	n.mu.Lock()
	for _, ep := range n.retired {
		ep.counters.addTo(&s)
	}
	n.mu.Unlock()
	for _, ep := range *n.endpoints.Load() {
		ep.counters.addTo(&s)
	}
	return s
}

// memItem is one message waiting in an inbox.
type memItem struct {
	m   raftpb.Message
	due time.Time // zero when the network has no latency
	seq uint64    // arrival order, breaks ties in due
}

// memEndpoint is one node's Transport on a MemNetwork. Its inbox is
// drained by one goroutine, so the Handler is never called concurrently.
type memEndpoint struct {
	net      *MemNetwork
	id       uint64
	counters counters

	sendMu sync.Mutex // guards rng (used only with jitter or loss)
	rng    *rand.Rand

	// deliverMu is held around every call of the Handler (by the
	// delivery goroutine or, with MemOptions.Direct, by a sender), so
	// the Handler is never called concurrently and a direct delivery
	// cannot overtake a queued one. Lock order: deliverMu, then mu.
	deliverMu sync.Mutex

	mu       sync.Mutex
	inbox    memQueue
	lastDue  map[uint64]time.Time // per sender: keeps pairs FIFO under jitter
	seq      uint64
	handler  Handler
	started  bool
	closed   bool
	stopping atomic.Bool   // mirrors closed for lock-free reads
	wake     chan struct{} // cap 1: "the inbox changed"
	done     chan struct{} // closed by Close
	finished chan struct{} // closed when the delivery goroutine exits
}

func newMemEndpoint(n *MemNetwork, id uint64) *memEndpoint {
	return &memEndpoint{
		net:      n,
		id:       id,
		rng:      rand.New(rand.NewPCG(n.opts.Seed, id)),
		lastDue:  map[uint64]time.Time{},
		inbox:    memQueue{timed: n.opts.Latency > 0 || n.opts.Jitter > 0},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
}

var (
	errStarted = errors.New("transport: Start called twice")
	errClosed  = errors.New("transport: closed")
)

func (ep *memEndpoint) Start(h Handler) error {
	if h == nil {
		return errors.New("transport: nil Handler")
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	switch {
	case ep.closed:
		return errClosed
	case ep.started:
		return errStarted
	}
	ep.handler, ep.started = h, true
	go ep.deliverLoop()
	return nil
}

func (ep *memEndpoint) isClosed() bool { return ep.stopping.Load() }

// Close stops delivery, drops what is still queued (counted) and waits
// for the delivery goroutine. It must not be called from the Handler.
func (ep *memEndpoint) Close() error {
	ep.mu.Lock()
	if ep.closed {
		ep.mu.Unlock()
		return nil
	}
	ep.closed = true
	ep.stopping.Store(true)
	started := ep.started
	ep.counters.drop(DropClosed, uint64(ep.inbox.Len()))
	clear(ep.inbox.items)
	ep.inbox.items = nil
	close(ep.done)
	ep.mu.Unlock()
	if started {
		<-ep.finished
	}
	// Wait for a direct delivery in progress; later ones see closed.
	ep.deliverMu.Lock()
	//lint:ignore SA2001 the empty critical section is the wait
	ep.deliverMu.Unlock()
	return nil
}

func (ep *memEndpoint) Stats() Stats { return ep.counters.stats() }

// Send hands each message to its receiver's inbox. Drops (unknown peer,
// partition, loss, full inbox, closed) are counted on this endpoint.
func (ep *memEndpoint) Send(msgs []raftpb.Message) {
	var sent typeCounts
	lossy := ep.net.opts.Jitter > 0 || ep.net.dropRate.Load() != 0
	links := ep.net.links.Load()
	closed := ep.isClosed()
	for i := range msgs {
		m := &msgs[i]
		switch to := ep.net.lookup(m.To); {
		case closed:
			ep.counters.drop(DropClosed, 1)
		case !m.Type.Valid() || m.From != ep.id:
			ep.counters.drop(DropInvalid, 1)
		case to == nil || m.To == ep.id:
			ep.counters.drop(DropUnknownPeer, 1)
		case !links.connected(ep.id, m.To):
			ep.counters.drop(DropPartition, 1)
		default:
			var jitter time.Duration
			if lossy {
				var lost bool
				lost, jitter = ep.draw()
				if lost {
					ep.counters.drop(DropRandom, 1)
					continue
				}
			}
			if ep.net.opts.Direct && !to.inbox.timed && to.deliverDirect(m) {
				sent.add(m.Type)
				continue
			}
			if r, ok := to.enqueue(ep.id, m, ep.net.opts.Latency+jitter); !ok {
				ep.counters.drop(r, 1)
				continue
			}
			sent.add(m.Type)
		}
	}
	sent.flushTo(&ep.counters.sentByType)
}

// draw decides loss and jitter for one message.
func (ep *memEndpoint) draw() (lost bool, jitter time.Duration) {
	p := math.Float64frombits(ep.net.dropRate.Load())
	ep.sendMu.Lock()
	defer ep.sendMu.Unlock()
	if p > 0 && ep.rng.Float64() < p {
		return true, 0
	}
	if j := ep.net.opts.Jitter; j > 0 {
		jitter = time.Duration(ep.rng.Int64N(int64(j)))
	}
	return false, jitter
}

// enqueue adds m to ep's inbox, or returns why it cannot.
func (ep *memEndpoint) enqueue(from uint64, m *raftpb.Message, delay time.Duration) (DropReason, bool) {
	it := memItem{m: *m}
	if ep.net.opts.CopyEntries && len(m.Entries) > 0 {
		it.m.Entries = slices.Clone(m.Entries)
	}
	ep.mu.Lock()
	if ep.closed {
		ep.mu.Unlock()
		return DropClosed, false
	}
	if ep.inbox.Len() >= ep.net.opts.InboxLimit {
		ep.mu.Unlock()
		return DropQueueFull, false
	}
	if ep.net.opts.Latency > 0 || ep.net.opts.Jitter > 0 {
		it.due = time.Now().Add(delay)
		if last := ep.lastDue[from]; it.due.Before(last) {
			it.due = last // FIFO per pair: never overtake an earlier message
		}
		ep.lastDue[from] = it.due
	}
	ep.seq++
	it.seq = ep.seq
	ep.inbox.push(it)
	ep.mu.Unlock()
	select {
	case ep.wake <- struct{}{}:
	default:
	}
	return 0, true
}

// deliverDirect hands m to the Handler on the caller's goroutine if
// nothing is queued ahead of it; false means "queue it instead" (not
// started, closed, or earlier messages waiting for the delivery loop).
func (ep *memEndpoint) deliverDirect(m *raftpb.Message) bool {
	ep.deliverMu.Lock()
	defer ep.deliverMu.Unlock()
	ep.mu.Lock()
	ok := ep.started && !ep.closed && len(ep.inbox.items) == 0
	h := ep.handler
	ep.mu.Unlock()
	if !ok {
		return false
	}
	it := *m
	if ep.net.opts.CopyEntries && len(m.Entries) > 0 {
		it.Entries = slices.Clone(m.Entries)
	}
	h(it)
	ep.counters.recvByType[m.Type%maxTypes].Add(1)
	return true
}

// deliverLoop hands inbox messages to the Handler until Close. A message
// is checked against the links again at delivery, so a partition also
// cuts messages already in flight.
func (ep *memEndpoint) deliverLoop() {
	defer close(ep.finished)
	var batch []memItem
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var wait time.Duration
		// Taken and delivered under deliverMu: a direct delivery must
		// not slip in between (it would overtake this batch).
		ep.deliverMu.Lock()
		batch, wait = ep.takeDue(batch[:0])
		if batch == nil && wait < 0 {
			ep.deliverMu.Unlock()
			return // closed
		}
		ep.deliver(batch)
		ep.deliverMu.Unlock()
		clear(batch) // do not pin delivered entries
		if len(batch) > 0 {
			continue // more may have arrived meanwhile
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ep.wake:
		case <-tc:
		case <-ep.done:
			return
		}
		timer.Stop()
	}
}

// takeDue moves every deliverable message into batch. wait is how long
// until the next one is due (0: none pending), or negative once closed.
func (ep *memEndpoint) takeDue(batch []memItem) ([]memItem, time.Duration) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.closed {
		return nil, -1
	}
	if !ep.inbox.timed {
		// No latency: take the whole FIFO and recycle the last buffer.
		if len(ep.inbox.items) == 0 {
			return batch[:0], 0
		}
		out := ep.inbox.items
		ep.inbox.items = batch[:0]
		return out, 0
	}
	now := time.Now()
	for ep.inbox.Len() > 0 {
		if d := ep.inbox.items[0].due.Sub(now); d > 0 {
			return batch, d
		}
		batch = append(batch, heap.Pop(&ep.inbox).(memItem))
	}
	return batch, 0
}

func (ep *memEndpoint) deliver(batch []memItem) {
	if len(batch) == 0 {
		return
	}
	var recv typeCounts
	links := ep.net.links.Load()
	for i := range batch {
		m := &batch[i].m
		if ep.stopping.Load() {
			ep.counters.drop(DropClosed, uint64(len(batch)-i))
			break
		}
		if !links.connected(m.From, ep.id) { // m.From is the sender: Send checks
			ep.counters.drop(DropPartition, 1)
			continue
		}
		ep.handler(*m)
		recv.add(m.Type)
	}
	recv.flushTo(&ep.counters.recvByType)
}

// memQueue is an inbox: a plain FIFO when the network has no latency,
// otherwise a min-heap on (due, seq).
type memQueue struct {
	items []memItem
	timed bool
}

func (q *memQueue) push(it memItem) {
	if q.timed {
		heap.Push(q, it)
		return
	}
	q.items = append(q.items, it)
}

func (q *memQueue) Len() int { return len(q.items) }
func (q *memQueue) Less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.seq < b.seq
}
func (q *memQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *memQueue) Push(x any)    { q.items = append(q.items, x.(memItem)) }
func (q *memQueue) Pop() any {
	last := len(q.items) - 1
	it := q.items[last]
	q.items[last] = memItem{}
	q.items = q.items[:last]
	return it
}
