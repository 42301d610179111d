package nats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	natsgo "github.com/nats-io/nats.go"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/transport"
)

const (
	payloadMagic   = "RBNT"
	payloadVersion = 1
	frameHeader    = 4
	// keepBufBytes: an encode buffer grown beyond this is released after
	// use rather than kept.
	keepBufBytes = 4 << 20
)

// peer is the outbound side towards one node: a bounded queue filled by
// Send and one writer goroutine that drains it into publishes.
type peer struct {
	t       *Transport
	id      uint64
	subject string
	q       *transport.SendQueue

	// Owned by the writer goroutine.
	buf []byte
}

func newPeer(t *Transport, id uint64) *peer {
	return &peer{t: t, id: id, subject: Subject(t.cfg.Prefix, t.cfg.Cluster, id),
		q: transport.NewSendQueue(t.cfg.QueueLimit, t.cfg.QueueBytes)}
}

// enqueue adds a copy of m to the queue or says why it cannot.
func (p *peer) enqueue(m *raftpb.Message) (transport.DropReason, bool) {
	size := transport.ApproxSize(m)
	if size+frameHeader > p.t.MaxPayload() { // a lower bound: the writer checks the exact size
		return transport.DropTooLarge, false
	}
	if !p.q.Push(m, size) {
		return transport.DropQueueFull, false
	}
	return 0, true
}

func (p *peer) dropQueued(r transport.DropReason) {
	if b := p.q.Take(); len(b) > 0 {
		p.t.counters.drop(r, uint64(len(b)))
		p.q.Recycle(b)
	}
}

func (p *peer) writeLoop() {
	defer p.t.wg.Done()
	for {
		select {
		case <-p.q.Wake():
		case <-p.t.done:
			return
		}
		for !p.t.closed.Load() {
			batch := p.q.Take()
			if batch == nil {
				break
			}
			if !p.t.nc.IsConnected() {
				// Stale Raft messages are resent by the protocol; do not
				// hoard them across an outage.
				p.t.counters.drop(transport.DropUnreachable, uint64(len(batch)))
			} else {
				p.publishBatch(batch)
			}
			p.q.Recycle(batch)
		}
	}
}

// publishBatch packs batch into as few publishes as max_payload allows.
func (p *peer) publishBatch(batch []raftpb.Message) {
	limit := p.t.MaxPayload()
	var types typeCounts
	frames := 0
	p.buf = appendHeader(p.buf[:0], p.t.id, p.id)
	hdr := len(p.buf)
	for i := range batch {
		m := &batch[i]
		if p.t.cfg.LossRate > 0 && rand.Float64() < p.t.cfg.LossRate {
			p.t.counters.drop(transport.DropRandom, 1)
			continue
		}
		off := len(p.buf)
		p.buf = append(p.buf, 0, 0, 0, 0)
		p.buf = raftpb.AppendMessage(p.buf, m)
		n := len(p.buf) - off - frameHeader
		binary.BigEndian.PutUint32(p.buf[off:], uint32(n))
		switch {
		case hdr+frameHeader+n > limit:
			// Cannot fit even alone.
			p.buf = p.buf[:off]
			p.t.counters.drop(transport.DropTooLarge, 1)
			p.t.warnEvery("too_large", "nats: message larger than the broker's max_payload refused (raise max_payload on the server)",
				"to", p.id, "type", m.Type.String(), "bytes", n, "max_payload", limit)
			continue
		case len(p.buf) > limit:
			// Publish what came before, then start over with this frame.
			frame := append([]byte(nil), p.buf[off:]...)
			p.buf = p.buf[:off]
			if !p.publish(&types, frames) {
				// The frames in the failed publish, this one and the rest.
				p.t.counters.drop(transport.DropWriteError, uint64(frames+len(batch)-i))
				return
			}
			p.buf = append(appendHeader(p.buf[:0], p.t.id, p.id), frame...)
			frames = 0
		}
		types.add(m.Type)
		frames++
	}
	if frames > 0 && !p.publish(&types, frames) {
		p.t.counters.drop(transport.DropWriteError, uint64(frames))
	}
	if cap(p.buf) > keepBufBytes {
		p.buf = nil
	}
}

// publish sends p.buf (header plus frames) as one NATS message.
func (p *peer) publish(types *typeCounts, frames int) bool {
	err := p.t.nc.Publish(p.subject, p.buf)
	if err != nil {
		*types = typeCounts{}
		if !p.t.closed.Load() {
			p.t.warnEvery("publish", "nats: publish failed", "to", p.id, "err", err)
		}
		return false
	}
	c := &p.t.counters
	c.writes.Add(1)
	c.framesWritten.Add(uint64(frames))
	c.bytesSent.Add(uint64(len(p.buf)))
	types.flushTo(&c.sentByType)
	return true
}

func appendHeader(b []byte, from, to uint64) []byte {
	b = append(b, payloadMagic...)
	b = append(b, payloadVersion)
	b = binary.AppendUvarint(b, from)
	return binary.AppendUvarint(b, to)
}

// errGarbage marks a payload that is not a well-formed batch for this node.
var errGarbage = errors.New("nats: malformed payload")

// receive is the subscription's callback (one goroutine per
// subscription, so never concurrent with itself).
func (t *Transport) receive(msg *natsgo.Msg) {
	t.hmu.RLock()
	defer t.hmu.RUnlock()
	if t.closed.Load() {
		return
	}
	n, err := t.deliver(msg.Data)
	t.counters.bytesRecv.Add(uint64(len(msg.Data)))
	if err != nil {
		t.counters.drop(transport.DropMalformed, 1)
		t.warnEvery("garbage", "nats: ignored a malformed payload on this node's subject",
			"subject", msg.Subject, "bytes", len(msg.Data), "delivered_before_error", n, "err", err)
	}
}

// deliver decodes one payload and hands its messages to the Handler. It
// returns how many it delivered and the first error, if any.
func (t *Transport) deliver(b []byte) (int, error) {
	if len(b) < len(payloadMagic)+1 || string(b[:len(payloadMagic)]) != payloadMagic {
		return 0, fmt.Errorf("%w: no raftbench header", errGarbage)
	}
	if v := b[len(payloadMagic)]; v != payloadVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", errGarbage, v, payloadVersion)
	}
	b = b[len(payloadMagic)+1:]
	from, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, fmt.Errorf("%w: bad sender ID", errGarbage)
	}
	b = b[k:]
	to, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, fmt.Errorf("%w: bad target ID", errGarbage)
	}
	b = b[k:]
	switch {
	case to != t.id:
		return 0, fmt.Errorf("%w: addressed to node %d, this is node %d", errGarbage, to, t.id)
	case t.peers[from] == nil:
		return 0, fmt.Errorf("%w: from unknown node %d", errGarbage, from)
	case len(b) == 0:
		return 0, fmt.Errorf("%w: no messages", errGarbage)
	}
	var (
		recv typeCounts
		m    raftpb.Message
		n    int
	)
	defer recv.flushTo(&t.counters.recvByType)
	for len(b) > 0 {
		if len(b) < frameHeader {
			return n, fmt.Errorf("%w: truncated frame header", errGarbage)
		}
		size := binary.BigEndian.Uint32(b)
		b = b[frameHeader:]
		if size == 0 || uint64(size) > uint64(len(b)) {
			return n, fmt.Errorf("%w: frame length %d, %d bytes left", errGarbage, size, len(b))
		}
		if err := raftpb.UnmarshalMessage(b[:size], &m, t.cfg.Limits); err != nil { // copies what it keeps
			return n, fmt.Errorf("%w: %v", errGarbage, err)
		}
		b = b[size:]
		if m.From != from || m.To != t.id {
			return n, fmt.Errorf("%w: message %d->%d in a batch from %d to %d", errGarbage, m.From, m.To, from, t.id)
		}
		t.handler(m)
		recv.add(m.Type)
		n++
	}
	return n, nil
}

// maxTypes bounds the per-type counter arrays (transport's own bound).
const maxTypes = 32

func init() {
	for _, t := range raftpb.AllMessageTypes() {
		if int(t) >= maxTypes {
			panic("nats: maxTypes too small for raftpb.MessageType")
		}
	}
}

// counters are the atomics behind Stats.
type counters struct {
	sentByType    [maxTypes]atomic.Uint64
	recvByType    [maxTypes]atomic.Uint64
	dropped       [transport.DropMalformed + 1]atomic.Uint64
	bytesSent     atomic.Uint64
	bytesRecv     atomic.Uint64
	connects      atomic.Uint64
	reconnects    atomic.Uint64
	dialFailures  atomic.Uint64
	connErrors    atomic.Uint64
	writes        atomic.Uint64
	framesWritten atomic.Uint64
}

type typeCounts [maxTypes]uint64

func (tc *typeCounts) add(t raftpb.MessageType) { tc[t%maxTypes]++ }

func (tc *typeCounts) flushTo(dst *[maxTypes]atomic.Uint64) {
	for i, n := range tc {
		if n != 0 {
			dst[i].Add(n)
			tc[i] = 0
		}
	}
}

func (c *counters) drop(r transport.DropReason, n uint64) {
	if int(r) < len(c.dropped) {
		c.dropped[r].Add(n)
	}
}

func (c *counters) stats() transport.Stats {
	s := transport.Stats{
		SentByType:     map[raftpb.MessageType]uint64{},
		ReceivedByType: map[raftpb.MessageType]uint64{},
		DroppedBy:      map[transport.DropReason]uint64{},
	}
	for _, t := range raftpb.AllMessageTypes() {
		if n := c.sentByType[t].Load(); n != 0 {
			s.SentByType[t] = n
			s.Sent += n
		}
		if n := c.recvByType[t].Load(); n != 0 {
			s.ReceivedByType[t] = n
			s.Received += n
		}
	}
	for r := range c.dropped {
		if n := c.dropped[r].Load(); n != 0 {
			s.DroppedBy[transport.DropReason(r)] = n
			s.Dropped += n
		}
	}
	s.BytesSent = c.bytesSent.Load()
	s.BytesReceived = c.bytesRecv.Load()
	s.Connects = c.connects.Load()
	s.Reconnects = c.reconnects.Load()
	s.DialFailures = c.dialFailures.Load()
	s.ConnErrors = c.connErrors.Load()
	s.Writes = c.writes.Load()
	s.FramesWritten = c.framesWritten.Load()
	return s
}
