package harness

import (
	"io"
	"net"
	"sync"
	"time"
)

// linkProxy carries one directed Raft link of a serve cluster: node
// `from` dials it as its address for node `to`, and it forwards the
// connection to `to`'s real Raft listener. raftbench's TCP transport
// sends a peer's messages only over the connection it dialled (the
// reverse direction carries nothing but the close), so cutting this
// proxy silences exactly from → to, which is what a partition grudge
// "to ⇍ from" asks.
//
// While cut, existing connections are closed and new ones are accepted
// and held without a byte forwarded (a black hole, as dropped packets
// look to the dialler: a TLS handshake then times out); healing closes
// the held ones, so the dialler reconnects, and no stream is ever
// spliced after lost bytes. It works for any TCP protocol, TLS included,
// since it never reads what it forwards.
type linkProxy struct {
	from, to string
	target   string // to's real Raft address
	ln       net.Listener

	mu     sync.Mutex
	cut    bool
	closed bool
	live   map[net.Conn]net.Conn // accepted → dialled, forwarding
	held   map[net.Conn]bool     // accepted while cut
	cuts   int                   // connections closed by cuts
}

// linkDialTimeout bounds the proxy's dial to the target.
const linkDialTimeout = time.Second

func newLinkProxy(from, to, target string) (*linkProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &linkProxy{from: from, to: to, target: target, ln: ln,
		live: map[net.Conn]net.Conn{}, held: map[net.Conn]bool{}}
	go p.acceptLoop()
	return p, nil
}

func (p *linkProxy) addr() string { return p.ln.Addr().String() }

func (p *linkProxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *linkProxy) handle(c net.Conn) {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		c.Close()
		return
	case p.cut:
		p.held[c] = true
		p.mu.Unlock()
		go p.discard(c)
		return
	}
	p.mu.Unlock()
	d, err := net.DialTimeout("tcp", p.target, linkDialTimeout)
	if err != nil {
		c.Close() // the target is down: the dialler sees the link fail
		return
	}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		c.Close()
		d.Close()
		return
	}
	p.live[c] = d
	p.mu.Unlock()
	var once sync.Once
	end := func() {
		once.Do(func() {
			c.Close()
			d.Close()
			p.mu.Lock()
			delete(p.live, c)
			p.mu.Unlock()
		})
	}
	go func() { _, _ = io.Copy(d, c); end() }()
	go func() { _, _ = io.Copy(c, d); end() }()
}

// discard reads and drops what a held connection sends until it closes.
func (p *linkProxy) discard(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
}

// setCut cuts (true) or heals (false) the link.
func (p *linkProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut == cut {
		return
	}
	p.cut = cut
	if cut {
		for c, d := range p.live {
			c.Close()
			d.Close()
			p.cuts++
		}
		return
	}
	for c := range p.held {
		c.Close()
	}
}

func (p *linkProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c, d := range p.live {
		c.Close()
		d.Close()
	}
	for c := range p.held {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}
