package transport

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

const (
	// readBufBytes is each inbound connection's read buffer. Frames that
	// fit are decoded straight out of it without another copy.
	readBufBytes = 64 << 10
	// maxHandshakeBytes bounds the handshake frame.
	maxHandshakeBytes = 64
	// keepFrameBytes: a frame buffer grown beyond this for one large
	// frame is released afterwards.
	keepFrameBytes = 1 << 20
)

// errFrame marks protocol violations by the remote end (as opposed to
// the connection simply ending).
var errFrame = errors.New("transport: bad frame")

func (t *TCP) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closed.Load() {
				return
			}
			// E.g. out of file descriptors: log, pause, keep serving.
			t.log.Error("transport: accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-t.done:
				return
			}
			continue
		}
		if !t.track(c) {
			c.Close()
			continue
		}
		t.wg.Add(1)
		go t.serveConn(c)
	}
}

// maxInbound bounds accepted connections: each holds a read buffer, and
// honest peers need one each (two briefly while they reconnect).
func (t *TCP) maxInbound() int { return 2*len(t.peerMap()) + 8 }

func (t *TCP) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	if len(t.conns) >= t.maxInbound() {
		t.log.Error("transport: too many inbound connections; refusing", "remote", c.RemoteAddr(), "limit", t.maxInbound())
		t.counters.connErrors.Add(1)
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// bindInbound records c as peer from's connection, closing an older one:
// a peer that redials has given up on the old connection.
func (t *TCP) bindInbound(from uint64, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.inbound[from]; old != nil && old != c {
		old.Close()
	}
	t.inbound[from] = c
}

func (t *TCP) untrack(from uint64, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if t.inbound[from] == c {
		delete(t.inbound, from)
	}
}

// serveConn reads one inbound connection until it ends or misbehaves.
func (t *TCP) serveConn(raw net.Conn) {
	defer t.wg.Done()
	c := raw
	raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	var tc *tls.Conn
	if t.cfg.TLS != nil {
		if tc = t.acceptTLS(raw); tc == nil {
			raw.Close()
			t.untrack(0, raw)
			return
		}
		c = tc
	}
	br := bufio.NewReaderSize(c, readBufBytes)
	from, err := t.readHandshake(br)
	if err == nil && tc != nil {
		if err = t.checkPeerIdentity(tc, from); err != nil {
			raw.Close()
			t.untrack(0, raw)
			return
		}
	}
	if err == nil {
		raw.SetDeadline(time.Time{})
		t.bindInbound(from, raw)
		err = t.readFrames(br, from)
	}
	raw.Close()
	t.untrack(from, raw)
	// Log before counting: tests wait for the count, then read the log.
	switch {
	case t.closed.Load():
	case errors.Is(err, errFrame):
		t.log.Error("transport: closing connection after a bad frame", "peer", from, "remote", c.RemoteAddr(), "err", err)
		t.counters.connErrors.Add(1)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
		t.log.Warn("transport: inbound connection failed", "peer", from, "remote", c.RemoteAddr(), "err", err)
		t.counters.connErrors.Add(1)
	}
}

// readHandshake reads the first frame and returns the sender's ID.
func (t *TCP) readHandshake(br *bufio.Reader) (uint64, error) {
	n, err := readFrameLen(br, maxHandshakeBytes)
	if err != nil {
		return 0, err
	}
	b, err := br.Peek(n)
	if err != nil {
		return 0, truncated(err)
	}
	defer br.Discard(n)
	if len(b) < len(handshakeMagic)+1 || string(b[:len(handshakeMagic)]) != handshakeMagic {
		return 0, fmt.Errorf("%w: not a raftbench handshake", errFrame)
	}
	if v := b[len(handshakeMagic)]; v != handshakeVersion {
		return 0, fmt.Errorf("%w: handshake version %d, want %d", errFrame, v, handshakeVersion)
	}
	b = b[len(handshakeMagic)+1:]
	from, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, fmt.Errorf("%w: bad sender ID in handshake", errFrame)
	}
	to, k2 := binary.Uvarint(b[k:])
	switch {
	case k2 <= 0 || k+k2 != len(b):
		return 0, fmt.Errorf("%w: bad target ID in handshake", errFrame)
	case to != t.id:
		return 0, fmt.Errorf("%w: handshake addressed to node %d, this is node %d", errFrame, to, t.id)
	case t.peerMap()[from] == nil:
		return 0, fmt.Errorf("%w: handshake from unknown node %d", errFrame, from)
	}
	return from, nil
}

// readFrameLen reads a length prefix and checks it against max before
// anything is allocated for the payload.
func readFrameLen(br *bufio.Reader, max int) (int, error) {
	h, err := br.Peek(frameHeaderBytes)
	if err != nil {
		if len(h) > 0 {
			return 0, truncated(err)
		}
		return 0, err // clean end between frames
	}
	n := binary.BigEndian.Uint32(h)
	br.Discard(frameHeaderBytes)
	if n == 0 || uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: frame length %d outside [1, %d]", errFrame, n, max)
	}
	return int(n), nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated frame: %v", errFrame, err)
	}
	return err
}

// readFrames decodes and delivers messages until the connection ends.
// Counters are published whenever the read buffer runs dry, i.e. before
// the next blocking read, not per message.
func (t *TCP) readFrames(br *bufio.Reader, from uint64) error {
	var (
		frame []byte // for frames larger than the read buffer
		recv  typeCounts
		bytes uint64
		m     raftpb.Message
	)
	defer func() {
		recv.flushTo(&t.counters.recvByType)
		t.counters.bytesRecv.Add(bytes)
	}()
	for {
		if br.Buffered() < frameHeaderBytes {
			recv.flushTo(&t.counters.recvByType)
			t.counters.bytesRecv.Add(bytes)
			bytes = 0
		}
		n, err := readFrameLen(br, t.cfg.MaxFrameBytes)
		if err != nil {
			return err
		}
		if n <= br.Size() {
			var p []byte
			if p, err = br.Peek(n); err != nil {
				return truncated(err)
			}
			err = raftpb.UnmarshalMessage(p, &m, t.cfg.Limits) // copies what it keeps
			br.Discard(n)
		} else {
			if frame, err = readLargeFrame(br, n, frame); err != nil {
				return err
			}
			err = raftpb.UnmarshalMessage(frame, &m, t.cfg.Limits)
			if cap(frame) > keepFrameBytes {
				frame = nil
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errFrame, err)
		}
		if m.From != from || m.To != t.id {
			return fmt.Errorf("%w: message %d->%d on the connection from %d to %d", errFrame, m.From, m.To, from, t.id)
		}
		t.handler(m)
		recv.add(m.Type)
		bytes += uint64(frameHeaderBytes + n)
	}
}

// readLargeFrame reads an n-byte payload into buf, growing it only as
// data actually arrives (doubling from the read buffer size), so a peer
// that merely claims a huge frame cannot make us allocate it.
func readLargeFrame(br *bufio.Reader, n int, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*cap(buf), readBufBytes)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(br, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, truncated(err)
		}
	}
	return buf, nil
}
