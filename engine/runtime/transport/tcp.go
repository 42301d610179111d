package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// Wire format of a TCP connection (one direction only: the dialer writes,
// the acceptor reads; each node dials every peer it sends to):
//
//	frame     = length:u32 big-endian  payload[length]     (1 <= length <= MaxFrameBytes)
//	first frame (handshake) payload = "RBFT" version:u8(=1) from:uvarint to:uvarint
//	later frames' payload           = one raftpb message (raftpb.AppendMessage)
//
// The acceptor checks that the handshake names a configured peer and this
// node, and that every message's From and To match the handshake.

const (
	handshakeMagic   = "RBFT"
	handshakeVersion = 1
	frameHeaderBytes = 4
)

// TCPConfig configures a TCP transport. Zero fields take the defaults
// noted on them.
type TCPConfig struct {
	ID uint64 // this node, non-zero
	// ListenAddr is where peers connect to. Default: Peers[ID] if
	// present, else "127.0.0.1:0" (an ephemeral port; see Addr).
	ListenAddr string
	// Listener, if set, is used instead of listening on ListenAddr (tests
	// bind every node's port before building any config). Close closes it.
	Listener net.Listener
	// Peers maps node IDs to addresses; this node's own entry is allowed
	// (and used for ListenAddr) but never dialled.
	Peers map[uint64]string
	// MaxFrameBytes bounds one frame, hence one message. Default 64 MiB.
	MaxFrameBytes int
	// QueueLimit and QueueBytes bound each peer's send queue in messages
	// and in entry/context/snapshot bytes. Defaults 4096 and 64 MiB.
	QueueLimit int
	QueueBytes int
	// DialTimeout bounds a dial and an inbound handshake. Default 1 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to a peer; a peer that stops reading
	// loses its connection. Default 5 s.
	WriteTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff, which
	// doubles per failed dial, with jitter. Defaults 20 ms and 1 s.
	BackoffMin, BackoffMax time.Duration
	// Limits bound what a decoded message may carry. Default
	// raftpb.DefaultLimits.
	Limits raftpb.Limits
	// TLS, when set, turns on mutual TLS (see tls.go): every connection
	// is TLS 1.3, both ends present a certificate signed by the cluster
	// CA, and the certificate's identity must be the node ID claimed.
	// Nil is plain TCP (benchmarks; anything that reaches the port can
	// claim to be a peer).
	TLS *mtls.Store
	// Logger receives connection events and errors. Default: discard.
	Logger *slog.Logger
	// Registerer, if non-nil, receives the transport's metrics (see
	// NewStatsCollector). Wrap it with a node label when several
	// transports share one registry.
	Registerer prometheus.Registerer
}

func (c *TCPConfig) setDefaults() error {
	if c.ID == 0 {
		return errors.New("transport: TCPConfig.ID must be non-zero")
	}
	if c.ListenAddr == "" {
		c.ListenAddr = c.Peers[c.ID]
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 20
	}
	if c.MaxFrameBytes > 1<<31-1 {
		return fmt.Errorf("transport: MaxFrameBytes %d does not fit the 4-byte length prefix", c.MaxFrameBytes)
	}
	setDefault(&c.QueueLimit, 4096)
	setDefault(&c.QueueBytes, 64<<20)
	setDefault(&c.DialTimeout, time.Second)
	setDefault(&c.WriteTimeout, 5*time.Second)
	setDefault(&c.BackoffMin, 20*time.Millisecond)
	setDefault(&c.BackoffMax, time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for id, addr := range c.Peers {
		if id == 0 || addr == "" {
			return fmt.Errorf("transport: bad peer %d=%q", id, addr)
		}
	}
	return nil
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// TCP is a Transport over TCP. See the package documentation for its
// guarantees and the wire format above.
type TCP struct {
	cfg TCPConfig
	id  uint64
	ln  net.Listener
	// peers is replaced, never modified, under peersMu (AddPeer,
	// RemovePeer); readers load it without a lock.
	peers    atomic.Pointer[map[uint64]*peer]
	peersMu  sync.Mutex
	counters counters
	refused  [numAuthReasons]atomic.Uint64
	log      *slog.Logger

	handler   Handler
	startOnce sync.Once
	started   bool // under peersMu: writers run for added peers
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}      // closed by Close
	ctx       context.Context    // cancelled by Close; aborts dials
	cancel    context.CancelFunc //
	wg        sync.WaitGroup     // every goroutine the transport starts

	mu      sync.Mutex            // guards inbound and conns
	inbound map[uint64]net.Conn   // latest handshaken conn per peer
	conns   map[net.Conn]struct{} // every accepted conn, for Close
}

// NewTCP binds the listen address (so Addr works at once) but accepts and
// dials nothing until Start.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return nil, fmt.Errorf("transport: listen on %s: %w", cfg.ListenAddr, err)
		}
	}
	t := &TCP{
		cfg: cfg, id: cfg.ID, ln: ln, log: cfg.Logger.With("node", cfg.ID),
		done:    make(chan struct{}),
		inbound: map[uint64]net.Conn{}, conns: map[net.Conn]struct{}{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	peers := map[uint64]*peer{}
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			peers[id] = newPeer(t, id, addr)
		}
	}
	t.peers.Store(&peers)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(NewStatsCollector(t.Stats)); err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: register metrics: %w", err)
		}
	}
	return t, nil
}

// Addr is the bound listen address.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Stats returns the transport's counters.
func (t *TCP) Stats() Stats { return t.counters.stats() }

// QueuedMessages is the number of messages waiting in send queues.
func (t *TCP) QueuedMessages() int {
	n := 0
	for _, p := range t.peerMap() {
		n += p.q.Len()
	}
	return n
}

// Start begins accepting inbound connections (delivering to h) and
// starts one writer per peer.
func (t *TCP) Start(h Handler) error {
	if h == nil {
		return errors.New("transport: nil Handler")
	}
	if t.closed.Load() {
		return errClosed
	}
	err := errStarted
	t.startOnce.Do(func() {
		err = nil
		t.handler = h
		t.peersMu.Lock()
		peers := t.peerMap()
		t.wg.Add(1 + len(peers))
		go t.acceptLoop()
		for _, p := range peers {
			go p.writeLoop()
		}
		t.started = true
		t.peersMu.Unlock()
	})
	return err
}

// Send queues each message for its peer's writer. It never blocks on the
// network; see the package documentation for what it retains. Messages
// must carry From == this node's ID.
func (t *TCP) Send(msgs []raftpb.Message) {
	if t.closed.Load() {
		t.counters.drop(DropClosed, uint64(len(msgs)))
		return
	}
	peers := t.peerMap()
	for i := range msgs {
		m := &msgs[i]
		p := peers[m.To]
		switch {
		case !m.Type.Valid() || m.From != t.id:
			// The receiver would close the connection over either.
			t.counters.drop(DropInvalid, 1)
		case p == nil:
			t.counters.drop(DropUnknownPeer, 1)
		default:
			if r, ok := p.enqueue(m); !ok {
				t.counters.drop(r, 1)
			}
		}
	}
}

// Close stops accepting, closes every connection, drops what is queued
// and waits for all of the transport's goroutines. Idempotent; must not
// be called from the Handler.
func (t *TCP) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		close(t.done)
		t.cancel()
		t.ln.Close()
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.mu.Unlock()
		t.peersMu.Lock() // no peer added or removed from here on
		peers := t.peerMap()
		for _, p := range peers {
			p.closeConn()
		}
		t.peersMu.Unlock()
		t.wg.Wait()
		for _, p := range peers {
			p.dropQueued(DropClosed)
		}
	})
	return nil
}
