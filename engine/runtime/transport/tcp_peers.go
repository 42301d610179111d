package transport

import (
	"errors"
	"fmt"
	"maps"
	"net"
)

// The peer set of a TCP transport changes at run time as the cluster's
// configuration does: AddPeer when a change adds a member (its address
// travels in the log with the change), RemovePeer once it is gone. This
// is the whole of the dynamic-membership surface; dialing and accepting
// are unchanged.

// ErrBadPeer: AddPeer got a zero ID, this node's own ID or an address
// that is not host:port.
var ErrBadPeer = errors.New("transport: bad peer")

func (t *TCP) peerMap() map[uint64]*peer { return *t.peers.Load() }

// AddPeer makes id reachable at addr (and accepted as a sender). A known
// peer at the same address is left alone; at another address it is
// replaced (its queued messages are dropped).
func (t *TCP) AddPeer(id uint64, addr string) error {
	if id == 0 || id == t.id {
		return fmt.Errorf("%w: id %d", ErrBadPeer, id)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: node %d address %q: %v", ErrBadPeer, id, addr, err)
	}
	t.peersMu.Lock()
	defer t.peersMu.Unlock()
	if t.closed.Load() {
		return errClosed
	}
	old := t.peerMap()
	if p := old[id]; p != nil && p.addr == addr {
		return nil
	}
	next := maps.Clone(old)
	if p := old[id]; p != nil {
		p.retire()
	}
	p := newPeer(t, id, addr)
	next[id] = p
	t.peers.Store(&next)
	if t.started {
		t.wg.Add(1)
		go p.writeLoop()
	}
	t.log.Info("transport: peer added", "peer", id, "addr", addr)
	return nil
}

// RemovePeer forgets id: its writer stops, its queue is dropped, its
// inbound connection is closed and later handshakes from it are refused.
// Removing an unknown peer does nothing.
func (t *TCP) RemovePeer(id uint64) {
	t.peersMu.Lock()
	defer t.peersMu.Unlock()
	old := t.peerMap()
	p := old[id]
	if p == nil || t.closed.Load() {
		return
	}
	next := maps.Clone(old)
	delete(next, id)
	t.peers.Store(&next)
	p.retire()
	t.mu.Lock()
	if c := t.inbound[id]; c != nil {
		c.Close()
	}
	t.mu.Unlock()
	t.log.Info("transport: peer removed", "peer", id)
}

// Peers returns the current peer addresses (this node excluded).
func (t *TCP) Peers() map[uint64]string {
	out := map[uint64]string{}
	for id, p := range t.peerMap() {
		out[id] = p.addr
	}
	return out
}

// retire stops the peer's writer (which drops what is queued) and
// interrupts a write blocked on its connection.
func (p *peer) retire() {
	close(p.stop)
	p.closeConn()
}

func (p *peer) removed() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}
