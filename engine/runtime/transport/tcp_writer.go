package transport

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

const (
	// writeChunkBytes is how much the writer encodes before it writes:
	// large enough that a busy peer's queue leaves in one syscall, small
	// enough to bound the encode buffer. One frame larger than this is
	// written on its own.
	writeChunkBytes = 1 << 20
	// keepBufBytes: an encode buffer grown beyond this (by a huge frame)
	// is released after use rather than kept for the connection's life.
	keepBufBytes = 4 * writeChunkBytes
)

// peer is the outbound side towards one node: a bounded queue filled by
// Send and one writer goroutine that drains it over one connection.
type peer struct {
	t    *TCP
	id   uint64
	addr string
	q    *SendQueue
	stop chan struct{} // closed when the peer is removed

	// Owned by the writer goroutine.
	cur     *outConn
	buf     []byte
	backoff time.Duration
	failing bool // the current streak of dial failures was logged

	connMu sync.Mutex
	shared *outConn // == cur, for Close to interrupt a blocked write
}

// outConn is one outbound connection. dead is set by its watcher when
// the remote end closes it or (against protocol) writes to it.
type outConn struct {
	net.Conn
	dead atomic.Bool
}

func newPeer(t *TCP, id uint64, addr string) *peer {
	return &peer{t: t, id: id, addr: addr, q: NewSendQueue(t.cfg.QueueLimit, t.cfg.QueueBytes), stop: make(chan struct{})}
}

// enqueue adds a copy of m to the queue or says why it cannot.
func (p *peer) enqueue(m *raftpb.Message) (DropReason, bool) {
	size := ApproxSize(m)
	if size > p.t.cfg.MaxFrameBytes {
		return DropTooLarge, false
	}
	if !p.q.Push(m, size) {
		return DropQueueFull, false
	}
	return 0, true
}

func (p *peer) dropQueued(r DropReason) {
	if b := p.q.Take(); len(b) > 0 {
		p.t.counters.drop(r, uint64(len(b)))
		p.q.Recycle(b)
	}
}

// writeLoop is the peer's writer goroutine.
func (p *peer) writeLoop() {
	defer p.t.wg.Done()
	defer p.dropConn()
	for {
		select {
		case <-p.q.Wake():
		case <-p.t.done:
			return
		case <-p.stop:
			p.dropQueued(DropUnknownPeer)
			return
		}
		for !p.t.closed.Load() && !p.removed() {
			batch := p.q.Take()
			if batch == nil {
				break
			}
			if !p.ensureConn() {
				// Raft messages go stale quickly and are resent by the
				// protocol (§5.3), so we drop rather than hoard them.
				p.t.counters.drop(DropUnreachable, uint64(len(batch)))
				p.q.Recycle(batch)
				if !p.sleepBackoff() {
					return
				}
				continue
			}
			p.writeBatch(batch)
			p.q.Recycle(batch)
		}
	}
}

// ensureConn returns true with p.cur usable, dialling if needed.
func (p *peer) ensureConn() bool {
	if p.cur != nil && !p.cur.dead.Load() {
		return true
	}
	p.dropConn()
	d := net.Dialer{Timeout: p.t.cfg.DialTimeout}
	c, err := d.DialContext(p.t.ctx, "tcp", p.addr)
	if err == nil && p.t.cfg.TLS != nil {
		c, err = p.dialTLS(c)
	}
	if err != nil {
		p.t.counters.dialFailures.Add(1)
		if !p.failing && !p.t.closed.Load() {
			p.t.log.Warn("transport: cannot reach peer; retrying with backoff", "peer", p.id, "addr", p.addr, "err", err)
		}
		p.failing = true
		return false
	}
	oc := &outConn{Conn: c}
	p.connMu.Lock()
	if p.t.closed.Load() {
		p.connMu.Unlock()
		c.Close()
		return false
	}
	p.cur, p.shared = oc, oc
	p.t.wg.Add(1) // the writer itself is counted, so Wait cannot be at zero
	p.connMu.Unlock()
	go p.watch(oc)
	p.t.counters.connects.Add(1)
	p.t.log.Info("transport: connected to peer", "peer", p.id, "addr", p.addr, "after_failures", p.failing)
	p.failing, p.backoff = false, 0
	p.buf = appendHandshake(p.buf[:0], p.t.id, p.id) // leaves with the first batch
	return true
}

// watch detects the remote end closing an outbound connection, so the
// writer redials before writing into a dead socket. Peers never write on
// this connection; anything that arrives ends it too.
func (p *peer) watch(oc *outConn) {
	defer p.t.wg.Done()
	var b [1]byte
	_, err := oc.Read(b[:])
	oc.dead.Store(true)
	oc.Close()
	if err == nil && !p.t.closed.Load() {
		p.t.log.Error("transport: peer wrote on an outbound connection; closed it", "peer", p.id)
	}
}

// dropConn closes the current outbound connection, if any.
func (p *peer) dropConn() {
	if p.cur == nil {
		return
	}
	p.connMu.Lock()
	if p.shared == p.cur {
		p.shared = nil
	}
	p.connMu.Unlock()
	p.cur.Close()
	p.cur = nil
}

// closeConn is Close's way to interrupt a writer blocked on the network.
func (p *peer) closeConn() {
	p.connMu.Lock()
	if p.shared != nil {
		p.shared.Close()
	}
	p.connMu.Unlock()
}

func (p *peer) sleepBackoff() bool {
	p.backoff = min(max(2*p.backoff, p.t.cfg.BackoffMin), p.t.cfg.BackoffMax)
	// Full jitter over the upper half, so peers that lost the same node
	// do not redial in lockstep.
	d := p.backoff/2 + rand.N(p.backoff/2+1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-p.t.done:
		return false
	case <-p.stop:
		return false
	}
}

// writeBatch encodes batch into frames and writes them in as few writes
// as writeChunkBytes allows. A failed write drops the rest of the batch
// and the connection; the next batch redials.
func (p *peer) writeBatch(batch []raftpb.Message) {
	var types typeCounts
	frames := 0
	for i := range batch {
		m := &batch[i]
		off := len(p.buf)
		p.buf = append(p.buf, 0, 0, 0, 0)
		p.buf = raftpb.AppendMessage(p.buf, m)
		n := len(p.buf) - off - frameHeaderBytes
		if n > p.t.cfg.MaxFrameBytes {
			p.buf = p.buf[:off]
			p.t.counters.drop(DropTooLarge, 1)
			continue
		}
		binary.BigEndian.PutUint32(p.buf[off:], uint32(n))
		types.add(m.Type)
		frames++
		if len(p.buf) >= writeChunkBytes || i == len(batch)-1 {
			if !p.flush(&types, frames) {
				p.t.counters.drop(DropWriteError, uint64(frames+len(batch)-1-i))
				return
			}
			frames = 0
		}
	}
	// Left over: a handshake alone, or frames before a too-large last one.
	if len(p.buf) > 0 && !p.flush(&types, frames) {
		p.t.counters.drop(DropWriteError, uint64(frames))
	}
}

// flush writes p.buf with one Write call and accounts for it.
func (p *peer) flush(types *typeCounts, frames int) bool {
	n := len(p.buf)
	p.cur.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	_, err := p.cur.Write(p.buf)
	p.buf = p.buf[:0]
	if cap(p.buf) > keepBufBytes {
		p.buf = nil
	}
	if err != nil {
		*types = typeCounts{}
		if !p.t.closed.Load() {
			p.t.counters.connErrors.Add(1)
			p.t.log.Warn("transport: write to peer failed; reconnecting", "peer", p.id, "err", err)
		}
		p.dropConn()
		return false
	}
	c := &p.t.counters
	c.writes.Add(1)
	c.framesWritten.Add(uint64(frames))
	c.bytesSent.Add(uint64(n))
	types.flushTo(&c.sentByType)
	return true
}

// appendHandshake appends the handshake frame from -> to.
func appendHandshake(b []byte, from, to uint64) []byte {
	off := len(b)
	b = append(b, 0, 0, 0, 0)
	b = append(b, handshakeMagic...)
	b = append(b, handshakeVersion)
	b = binary.AppendUvarint(b, from)
	b = binary.AppendUvarint(b, to)
	binary.BigEndian.PutUint32(b[off:], uint32(len(b)-off-frameHeaderBytes))
	return b
}
