package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/transport"
)

// DefaultPrefix is the first subject token of every cluster.
const DefaultPrefix = "raftbench"

// maxNameLen bounds a cluster name or prefix.
const maxNameLen = 64

// Config configures a NATS transport. Zero fields take the defaults noted
// on them.
type Config struct {
	// URL is the broker, e.g. nats://127.0.0.1:4222 (several URLs of one
	// NATS cluster may be given comma-separated). Schemes nats, tls, ws
	// and wss.
	URL string
	// Cluster names the Raft cluster: one subject token (see ValidName).
	Cluster string
	// Prefix is the first subject token. Default DefaultPrefix.
	Prefix string
	// ID is this node, non-zero.
	ID uint64
	// Peers are the node IDs this node sends to and accepts messages
	// from; this node's own ID may be listed and is skipped.
	Peers []uint64
	// MaxPayload caps one publish below the server's max_payload (0: the
	// server's). Mostly for tests.
	MaxPayload int
	// QueueLimit and QueueBytes bound each peer's send queue in messages
	// and in entry/context/snapshot bytes. Defaults 4096 and 64 MiB.
	QueueLimit int
	QueueBytes int
	// ConnectTimeout bounds the first connection (and each reconnect
	// dial). Default 2 s.
	ConnectTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff, which
	// doubles per failed attempt, with jitter. Defaults 20 ms and 1 s.
	BackoffMin, BackoffMax time.Duration
	// Limits bound what a decoded message may carry. Default
	// raftpb.DefaultLimits.
	Limits raftpb.Limits
	// LossRate is fault injection for tests and chaos runs: the writer
	// drops this fraction of messages instead of publishing them
	// (counted with reason "random"). Must be 0 in production.
	LossRate float64
	// Logger receives connection events and errors. Default: discard.
	Logger *slog.Logger
	// Registerer, if non-nil, receives the transport's metrics: the TCP
	// transport's series (transport.NewStatsCollector), with writes and
	// frames counting publishes and the messages in them.
	Registerer prometheus.Registerer
}

// ValidName reports whether s can be a cluster name or prefix: 1 to 64
// letters, digits, '-' or '_'. That makes it exactly one subject token
// with no wildcard, so clusters cannot see each other's subjects.
func ValidName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("name %.20q... longer than %d bytes", s, maxNameLen)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return fmt.Errorf("name %q: character %q not allowed (letters, digits, '-' and '_' only: no dots or wildcards)", s, r)
		}
	}
	return nil
}

// Subject is the subject node id of cluster receives on.
func Subject(prefix, cluster string, id uint64) string {
	return prefix + "." + cluster + ".node." + strconv.FormatUint(id, 10)
}

// ParseURL checks a broker URL list and returns it normalised for the
// client. It refuses what the client would misread (no host, unknown
// scheme) with an error naming the problem.
func ParseURL(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", errors.New("nats: empty broker URL")
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "nats://" + part
		}
		u, err := url.Parse(part)
		if err != nil {
			return "", fmt.Errorf("nats: malformed broker URL %q: %v", part, err)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return "", fmt.Errorf("nats: broker URL %q: scheme %q, want nats, tls, ws or wss", part, u.Scheme)
		}
		if u.Hostname() == "" {
			return "", fmt.Errorf("nats: broker URL %q has no host", part)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return "", fmt.Errorf("nats: broker URL %q: bad port %q", part, p)
			}
		}
		if u.Path != "" && u.Path != "/" {
			return "", fmt.Errorf("nats: broker URL %q: unexpected path %q", part, u.Path)
		}
		out = append(out, u.String())
	}
	return strings.Join(out, ","), nil
}

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("nats: Config.ID must be non-zero")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if err := ValidName(c.Prefix); err != nil {
		return fmt.Errorf("nats: prefix: %w", err)
	}
	if err := ValidName(c.Cluster); err != nil {
		return fmt.Errorf("nats: cluster: %w", err)
	}
	u, err := ParseURL(c.URL)
	if err != nil {
		return err
	}
	c.URL = u
	for _, p := range c.Peers {
		if p == 0 {
			return errors.New("nats: peer ID 0")
		}
	}
	if c.LossRate < 0 || c.LossRate >= 1 {
		return fmt.Errorf("nats: LossRate %v outside [0, 1)", c.LossRate)
	}
	if c.MaxPayload < 0 {
		return fmt.Errorf("nats: MaxPayload %d", c.MaxPayload)
	}
	setDefault(&c.QueueLimit, 4096)
	setDefault(&c.QueueBytes, 64<<20)
	setDefault(&c.ConnectTimeout, 2*time.Second)
	setDefault(&c.BackoffMin, 20*time.Millisecond)
	setDefault(&c.BackoffMax, time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Errors NewTransport returns, for callers that explain them.
var (
	// ErrUnreachable: no broker answered at the URL.
	ErrUnreachable = errors.New("nats: broker unreachable")
	errClosed      = errors.New("nats: transport closed")
	errStarted     = errors.New("nats: transport already started")
)

// Transport is a transport.Transport over NATS. See the package
// documentation for subjects, payload layout and guarantees.
type Transport struct {
	cfg      Config
	id       uint64
	nc       *natsgo.Conn
	subject  string
	peers    map[uint64]*peer // fixed after New
	counters counters
	log      *slog.Logger

	maxPayload atomic.Int64 // usable bytes per publish

	handler   transport.Handler
	sub       atomic.Pointer[natsgo.Subscription]
	startOnce sync.Once
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup // writer goroutines

	hmu sync.RWMutex // held for reading while the Handler runs; Close takes it to fence

	logMu   sync.Mutex
	lastLog map[string]time.Time // rate limit for repeated warnings
}

// New connects to the broker (failing at once, with ErrUnreachable, if
// none answers within ConnectTimeout) but subscribes and sends nothing
// until Start.
func New(cfg Config) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	t := &Transport{
		cfg: cfg, id: cfg.ID, subject: Subject(cfg.Prefix, cfg.Cluster, cfg.ID),
		peers: map[uint64]*peer{}, done: make(chan struct{}),
		log:     cfg.Logger.With("node", cfg.ID, "transport", "nats"),
		lastLog: map[string]time.Time{},
	}
	for _, id := range cfg.Peers {
		if id != cfg.ID && t.peers[id] == nil {
			t.peers[id] = newPeer(t, id)
		}
	}
	nc, err := natsgo.Connect(cfg.URL,
		natsgo.Name(fmt.Sprintf("raftbench %s node %d", cfg.Cluster, cfg.ID)),
		natsgo.Timeout(cfg.ConnectTimeout),
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(t.reconnectDelay),
		// No buffering while disconnected: publishes fail fast and
		// the writer drops them (see "Broker loss").
		natsgo.ReconnectBufSize(-1),
		natsgo.PingInterval(2*time.Second),
		natsgo.MaxPingsOutstanding(2),
		natsgo.DisconnectErrHandler(t.onDisconnect),
		natsgo.ReconnectHandler(t.onReconnect),
		natsgo.ErrorHandler(t.onAsyncError),
	)
	if err != nil {
		if errors.Is(err, natsgo.ErrNoServers) {
			return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, cfg.URL, err)
		}
		return nil, fmt.Errorf("nats: connect to %s: %w", cfg.URL, err)
	}
	t.nc = nc
	t.counters.connects.Add(1)
	t.refreshMaxPayload()
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(transport.NewStatsCollector(t.Stats)); err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats: register metrics: %w", err)
		}
	}
	return t, nil
}

// Subject is the subject this node receives on.
func (t *Transport) Subject() string { return t.subject }

// MaxPayload is the largest publish this transport makes, in bytes.
func (t *Transport) MaxPayload() int { return int(t.maxPayload.Load()) }

// Connected says whether the broker connection is up.
func (t *Transport) Connected() bool { return t.nc.IsConnected() }

// Stats returns the transport's counters.
func (t *Transport) Stats() transport.Stats {
	s := t.counters.stats()
	if sub := t.sub.Load(); sub != nil {
		// Messages the client library dropped because this node read
		// too slowly (its pending limits): the receiver's queue was full.
		if n, err := sub.Dropped(); err == nil && n > 0 {
			s.DroppedBy[transport.DropQueueFull] += uint64(n)
			s.Dropped += uint64(n)
		}
	}
	return s
}

func (t *Transport) refreshMaxPayload() {
	mp := t.nc.MaxPayload()
	if c := int64(t.cfg.MaxPayload); c > 0 && (mp <= 0 || c < mp) {
		mp = c
	}
	if mp <= 0 {
		mp = 1 << 20
	}
	t.maxPayload.Store(mp)
}

func (t *Transport) reconnectDelay(attempts int) time.Duration {
	if attempts > 1 {
		t.counters.dialFailures.Add(1)
	}
	d := t.cfg.BackoffMin
	for i := 1; i < attempts && d < t.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.BackoffMax)
	// Jitter over the upper half, so nodes that lost the same broker do
	// not reconnect in lockstep.
	return d/2 + rand.N(d/2+1)
}

func (t *Transport) onDisconnect(_ *natsgo.Conn, err error) {
	if t.closed.Load() {
		return
	}
	t.counters.connErrors.Add(1)
	t.log.Warn("nats: lost the broker; reconnecting with backoff", "err", err)
}

func (t *Transport) onReconnect(nc *natsgo.Conn) {
	t.counters.connects.Add(1)
	t.counters.reconnects.Add(1)
	t.refreshMaxPayload()
	t.log.Info("nats: reconnected to the broker", "url", nc.ConnectedUrlRedacted(), "max_payload", t.MaxPayload())
	for _, p := range t.peers {
		p.q.Kick()
	}
}

func (t *Transport) onAsyncError(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
	if t.closed.Load() {
		return
	}
	t.warnEvery("async", "nats: client error", "err", err)
}

// warnEvery logs msg at most once per five seconds per key.
func (t *Transport) warnEvery(key, msg string, args ...any) {
	now := time.Now()
	t.logMu.Lock()
	last, seen := t.lastLog[key]
	if seen && now.Sub(last) < 5*time.Second {
		t.logMu.Unlock()
		return
	}
	t.lastLog[key] = now
	t.logMu.Unlock()
	t.log.Warn(msg, args...)
}

// Start subscribes to this node's subject (delivering to h) and starts
// one writer per peer. It returns once the broker has the subscription.
func (t *Transport) Start(h transport.Handler) error {
	if h == nil {
		return errors.New("nats: nil Handler")
	}
	if t.closed.Load() {
		return errClosed
	}
	err := errStarted
	t.startOnce.Do(func() {
		t.handler = h
		sub, serr := t.nc.Subscribe(t.subject, t.receive)
		if serr != nil {
			err = fmt.Errorf("nats: subscribe %s: %w", t.subject, serr)
			return
		}
		// Bound what the client library holds for a slow node; beyond
		// it, messages are dropped and counted (Stats).
		if serr = sub.SetPendingLimits(t.cfg.QueueLimit, t.cfg.QueueBytes); serr != nil {
			err = fmt.Errorf("nats: pending limits: %w", serr)
			sub.Unsubscribe()
			return
		}
		if serr = t.nc.FlushTimeout(t.cfg.ConnectTimeout); serr != nil {
			err = fmt.Errorf("nats: subscribe %s: broker did not confirm: %w", t.subject, serr)
			sub.Unsubscribe()
			return
		}
		t.sub.Store(sub)
		err = nil
		t.wg.Add(len(t.peers))
		for _, p := range t.peers {
			go p.writeLoop()
		}
	})
	return err
}

// Send queues each message for its peer's writer. It never blocks on the
// network. Messages must carry From == this node's ID.
func (t *Transport) Send(msgs []raftpb.Message) {
	if t.closed.Load() {
		t.counters.drop(transport.DropClosed, uint64(len(msgs)))
		return
	}
	for i := range msgs {
		m := &msgs[i]
		p := t.peers[m.To]
		switch {
		case !m.Type.Valid() || m.From != t.id:
			t.counters.drop(transport.DropInvalid, 1)
		case p == nil:
			t.counters.drop(transport.DropUnknownPeer, 1)
		default:
			if r, ok := p.enqueue(m); !ok {
				t.counters.drop(r, 1)
				if r == transport.DropTooLarge {
					t.warnEvery("too_large", "nats: message larger than the broker's max_payload refused (raise max_payload on the server)",
						"to", m.To, "type", m.Type.String(), "approx_bytes", transport.ApproxSize(m), "max_payload", t.MaxPayload())
				}
			}
		}
	}
}

// Close stops the writers, unsubscribes, closes the connection and drops
// what is queued. After it returns the Handler is not called again.
// Idempotent; must not be called from the Handler.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		close(t.done)
		t.wg.Wait()
		if sub := t.sub.Load(); sub != nil {
			sub.Unsubscribe()
		}
		t.nc.Close()
		// Fence: a Handler call that began before closed was set has
		// finished once we hold the write lock.
		t.hmu.Lock()
		//lint:ignore SA2001 the empty critical section is the fence
		t.hmu.Unlock()
		for _, p := range t.peers {
			p.dropQueued(transport.DropClosed)
		}
	})
	return nil
}

// Factory returns a function that builds node id's transport from base
// (URL, cluster and limits shared by every node; ID and Peers set per
// call), in the shape engine/embed/cluster's Config.Transport takes. Each call
// opens its own broker connection, as separate processes would.
func Factory(base Config) func(id uint64, peers []uint64) (transport.Transport, error) {
	return func(id uint64, peers []uint64) (transport.Transport, error) {
		cfg := base
		cfg.ID, cfg.Peers = id, append([]uint64(nil), peers...)
		if base.Registerer != nil {
			cfg.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"transport_node": strconv.FormatUint(id, 10)}, base.Registerer)
		}
		return New(cfg)
	}
}
