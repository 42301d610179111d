package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/testfaults"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
)

// ServeConfig is one `raftbench serve` process.
type ServeConfig struct {
	// Name is this node's name in Peers (e.g. "n1").
	Name string
	// Peers maps every node's name to its Raft (TCP transport) address;
	// with Transport "nats" the addresses are unused (may be empty).
	Peers map[string]string
	// Transport is "tcp" (default) or "nats": nodes reach each other
	// only through the NATS broker at NATSURL, on the subjects of
	// Cluster (engine/runtime/transport/nats).
	Transport string
	NATSURL   string
	Cluster   string
	// Dir is the node's data directory.
	Dir string
	// HTTPAddr is where the HTTP API listens.
	HTTPAddr      string
	UnsafeNoFsync bool
	TickInterval  time.Duration
	// LeaseReads answers linearizable reads from the leader's lease
	// instead of a quorum round (engine.Config.LeaseReads), assuming no
	// node's clock runs more than MaxClockDrift (default 0.1) slower or
	// faster than another's.
	LeaseReads    bool
	MaxClockDrift float64
	// Snapshot policy and streaming (zero: the node's defaults).
	SnapshotEvery          uint64
	SnapshotLogRatio       float64
	ResidentLogRatio       float64
	SnapshotChunkBytes     int
	SnapshotChunksInFlight int
	// SnapshotWriteRate paces the node's snapshot files to this many
	// bytes per second (wal.Options.SnapshotWriteRate; 0: unpaced).
	SnapshotWriteRate int64
	// AppendSegments writes the log's segments by appending, each commit
	// fsynced, instead of into files of zeros prepared ahead with
	// fdatasync (wal.Options.AppendSegments).
	AppendSegments bool
	// RecycleSegments is wal.Options.RecycleSegments: how many segment
	// files a snapshot frees are kept to become later segments instead
	// of new files of zeros (0: the WAL's default; negative: none).
	RecycleSegments int
	// MinSyncInterval starts a group commit no sooner than this long
	// after the previous one (wal.Options.MinSyncInterval; 0: at once),
	// for disks that stall above a budget of flushes per second.
	MinSyncInterval time.Duration
	Logger          *slog.Logger
	// TLSDir, when set, secures both listeners with the files `raftbench
	// certs` wrote there (ca.pem, node-<id>.pem, node-<id>-key.pem):
	// mutual TLS between nodes, HTTPS for the API (client certificates
	// verified when offered). Empty: plain TCP and HTTP, for benchmarks;
	// the log and GET /security say so.
	TLSDir string
	// TLSWatch, if positive, polls the certificate files at that period
	// and reloads them when they change; Reload reloads on demand (the
	// command sends SIGHUP there).
	TLSWatch time.Duration
	Reload   <-chan struct{}
	// Auth, when set, protects the API (see AuthPolicy); nil leaves
	// every route open.
	Auth *AuthPolicy
	// Limits bound the HTTP listener (zero: defaults).
	Limits Limits
	// Ready, if set, is called once both listeners are bound (with
	// NATS, raftAddr is the node's subject).
	Ready func(httpAddr, raftAddr string)
	// Extra, if set, is called once the node runs and returns more routes
	// for the HTTP server (pattern → handler; the browser view) and a
	// function called at shutdown before the server drains.
	Extra func(n *node.Node, g prometheus.Gatherer) (routes map[string]http.Handler, stop func())
	// Join lists HTTP URLs of members of a running cluster (TCP only):
	// the node starts from the cluster's bootstrap configuration and
	// asks the leader to add it as a learner; an operator then promotes
	// it. Peers then names only this node and its Raft address.
	Join []string
	// NodeID is the Raft ID of a joining node (0: one above every ID the
	// cluster knows).
	NodeID uint64
	// TestFaults, tests only (serve --test-faults): the WAL writes
	// through its fault-injecting disk, the node reads its clock, and
	// POST /admin/test-fault (admin role under auth) takes a
	// testfaults.Command. A disk fault that fails the WAL stops the node
	// and Serve returns its error.
	TestFaults *testfaults.Faults
}

// NATSSnapshotChunkBytes is the snapshot chunk size over NATS unless
// ServeConfig.SnapshotChunkBytes says otherwise.
const NATSSnapshotChunkBytes = 256 << 10

// ParsePeers parses "n1=127.0.0.1:7001,n2=127.0.0.1:7002".
func ParsePeers(s string) (map[string]string, error) {
	peers := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("peer %q: want name=host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("peer %s: address %q: %v", name, addr, err)
		}
		if _, dup := peers[name]; dup {
			return nil, fmt.Errorf("peer %s listed twice", name)
		}
		peers[name] = addr
	}
	if len(peers) == 0 {
		return nil, errors.New("no peers given")
	}
	return peers, nil
}

// NodeIDs assigns Raft IDs: 1 + the position of each name in sorted
// order, so every process given the same --peers agrees.
func NodeIDs(peers map[string]string) map[string]uint64 {
	names := make([]string, 0, len(peers))
	for n := range peers {
		names = append(names, n)
	}
	slices.Sort(names)
	ids := make(map[string]uint64, len(names))
	for i, n := range names {
		ids[n] = uint64(i + 1)
	}
	return ids
}

// ParsePeerNames parses "n1,n2,n3" (names only, for the NATS transport;
// "name=addr" parts are accepted and their addresses ignored).
func ParsePeerNames(s string) (map[string]string, error) {
	peers := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if name == "" {
			continue
		}
		if _, dup := peers[name]; dup {
			return nil, fmt.Errorf("peer %s listed twice", name)
		}
		peers[name] = ""
	}
	if len(peers) == 0 {
		return nil, errors.New("no peers given")
	}
	return peers, nil
}

// Validate reports the first problem with cfg.
func (cfg *ServeConfig) Validate() error {
	_, known := cfg.Peers[cfg.Name]
	nats := cfg.Transport == "nats"
	switch {
	case cfg.Name == "":
		return errors.New("--id is required")
	case len(cfg.Peers) == 0:
		return errors.New("--peers is required")
	case cfg.Transport != "" && cfg.Transport != "tcp" && !nats:
		return fmt.Errorf("--transport %q: want tcp or nats", cfg.Transport)
	case !nats && (cfg.NATSURL != "" || cfg.Cluster != ""):
		return errors.New("--nats-url and --cluster need --transport nats")
	case !known || (!nats && cfg.Peers[cfg.Name] == ""):
		return fmt.Errorf("--id %q is not one of the --peers", cfg.Name)
	case cfg.SnapshotWriteRate < 0:
		return fmt.Errorf("--snapshot-write-rate %d: want bytes per second (0: unpaced)", cfg.SnapshotWriteRate)
	case len(cfg.Join) > 0 && nats:
		return errors.New("--join works with --transport tcp only")
	case len(cfg.Join) > 0 && len(cfg.Peers) != 1:
		return errors.New("with --join, --peers names only this node (name=its Raft address); the cluster supplies the rest")
	case len(cfg.Join) == 0 && cfg.NodeID != 0:
		return errors.New("--node-id needs --join")
	case cfg.Dir == "":
		return errors.New("--data is required")
	case cfg.HTTPAddr == "":
		return errors.New("--http is required")
	case cfg.TickInterval < 0:
		return errors.New("--tick must be positive")
	}
	if nats {
		if _, err := natstr.ParseURL(cfg.NATSURL); err != nil {
			return fmt.Errorf("--nats-url: %w", err)
		}
		if err := natstr.ValidName(cfg.Cluster); err != nil {
			return fmt.Errorf("--cluster: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
		return fmt.Errorf("--http %q: %v", cfg.HTTPAddr, err)
	}
	return nil
}

// Serve runs the node until ctx is cancelled, then shuts down cleanly.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids := NodeIDs(cfg.Peers)
	id := ids[cfg.Name]
	addrs := make(map[uint64]string, len(ids))
	voters := make([]uint64, 0, len(ids))
	for name, nid := range ids {
		addrs[nid] = cfg.Peers[name]
		voters = append(voters, nid)
	}
	slices.Sort(voters)
	var js joinState
	if len(cfg.Join) > 0 {
		var err error
		js, err = prepareJoin(ctx, cfg.Dir, cfg.Join, cfg.NodeID, cfg.Logger)
		if err != nil {
			return err
		}
		self := addrs[id]
		id, voters, addrs = js.ID, js.BootstrapVoters, map[uint64]string{}
		for pid, a := range js.Peers {
			addrs[pid] = a
		}
		addrs[id] = self
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	trReg := prometheus.WrapRegistererWith(prometheus.Labels{"node": fmt.Sprint(id)}, reg)
	var certs *mtls.Store
	if cfg.TLSDir != "" {
		var err error
		if certs, err = mtls.Load(mtls.NodeFiles(cfg.TLSDir, id)); err != nil {
			return fmt.Errorf("--tls-dir: %w", err)
		}
		if got := certs.Identity(); got.Node != id {
			return fmt.Errorf("--tls-dir: %s is %s, but this node is %s", mtls.NodeFiles(cfg.TLSDir, id).Cert, got, mtls.NodeURI(id))
		}
		go reloadCerts(ctx, certs, cfg)
	} else {
		cfg.Logger.Warn("security: PLAIN mode: Raft traffic is unauthenticated TCP and the API is plain HTTP; use --tls-dir outside benchmarks")
	}
	if cfg.Auth == nil {
		cfg.Logger.Warn("security: the HTTP API is open: anyone who reaches it may write; use --auth-tokens or client certificates")
	}
	var tr transport.Transport
	raftAddr := addrs[id]
	if cfg.Transport == "nats" {
		ntr, err := natstr.New(natstr.Config{URL: cfg.NATSURL, Cluster: cfg.Cluster, ID: id, Peers: voters,
			Logger: cfg.Logger, Registerer: trReg})
		if err != nil {
			return err
		}
		tr, raftAddr = ntr, ntr.Subject()
		if cfg.SnapshotChunkBytes == 0 {
			// A publish carries at most the broker's max_payload (1 MiB
			// by default): keep a chunk and its header well below it.
			cfg.SnapshotChunkBytes = NATSSnapshotChunkBytes
		}
	} else {
		ttr, err := transport.NewTCP(transport.TCPConfig{ID: id, Peers: addrs, Logger: cfg.Logger, Registerer: trReg, TLS: certs})
		if err != nil {
			return err
		}
		tr = ttr
	}
	lim := cfg.Limits.withDefaults()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		tr.Close()
		return fmt.Errorf("--http %s: %w", cfg.HTTPAddr, err)
	}
	ln = LimitListener(ln, lim.MaxConns)
	if certs != nil {
		ln = tls.NewListener(ln, certs.ServerConfig(false))
	}
	ncfg := node.Config{ID: id, Voters: voters, Dir: cfg.Dir, UnsafeNoFsync: cfg.UnsafeNoFsync,
		Transport: tr, StateMachine: kv.NewStore(), TickInterval: cfg.TickInterval,
		Engine:        engine.Config{LeaseReads: cfg.LeaseReads, MaxClockDrift: cfg.MaxClockDrift},
		SnapshotEvery: cfg.SnapshotEvery, SnapshotLogRatio: cfg.SnapshotLogRatio, ResidentLogRatio: cfg.ResidentLogRatio, SnapshotChunkBytes: cfg.SnapshotChunkBytes,
		SnapshotChunksInFlight: cfg.SnapshotChunksInFlight,
		Registerer:             reg, Logger: cfg.Logger}
	ncfg.WALOptions.SnapshotWriteRate = cfg.SnapshotWriteRate
	ncfg.WALOptions.AppendSegments = cfg.AppendSegments
	ncfg.WALOptions.RecycleSegments = cfg.RecycleSegments
	ncfg.WALOptions.MinSyncInterval = cfg.MinSyncInterval
	if cfg.TestFaults != nil {
		cfg.Logger.Warn("TEST FAULTS on: this node's disk and clock obey POST /admin/test-fault (tests only)")
		ncfg.WALOptions.FS, ncfg.Clock = cfg.TestFaults.Disk, cfg.TestFaults.Clock
	}
	n, err := node.Start(ncfg)
	if err != nil {
		ln.Close()
		tr.Close()
		return err
	}
	if err := js.save(cfg.Dir); err != nil {
		n.Stop()
		ln.Close()
		return fmt.Errorf("--join: save %s: %w", joinFile, err)
	}
	var extra map[string]http.Handler
	stopExtra := func() {}
	if cfg.Extra != nil {
		extra, stopExtra = cfg.Extra(n, reg)
	}
	if cfg.TestFaults != nil {
		extra = withTestFaultRoute(extra, cfg.TestFaults, cfg.Logger)
	}
	sec := Security{Raft: "plain-tcp", HTTP: "plain-http", Auth: "none"}
	if certs != nil {
		sec.Raft, sec.HTTP = "mutual-tls", "https"
	} else if cfg.Transport == "nats" {
		sec.Raft = "nats-plain"
	}
	if cfg.Auth != nil {
		sec.Auth = authSummary(cfg.Auth)
	}
	h, err := NewServer(Config{Node: n, Gatherer: reg, Logger: cfg.Logger, Extra: extra, PeerAddrs: addrs,
		RequireAddr: cfg.Transport != "nats", Security: &sec})
	if err != nil {
		stopExtra()
		n.Stop()
		ln.Close()
		return err
	}
	var handler http.Handler = h
	if cfg.Auth != nil {
		handler = Protect(h, cfg.Auth, cfg.Logger)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		IdleTimeout: lim.IdleTimeout, WriteTimeout: lim.WriteTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Logger.Info("serving", "name", cfg.Name, "id", id, "http", ln.Addr().String(), "raft", raftAddr,
		"raft_security", sec.Raft, "http_security", sec.HTTP, "auth", sec.Auth)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String(), raftAddr)
	}
	joinCtx, stopJoin := context.WithCancel(ctx)
	defer stopJoin()
	if len(cfg.Join) > 0 && !n.AppliedConf().IsMember(id) {
		go addSelf(joinCtx, cfg.Join, id, raftAddr, cfg.Logger)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	case <-n.Done():
		serveErr = n.Err()
	}
	stopExtra()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(shutCtx)
	stopErr := n.Stop()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutErr, stopErr)
}

// reloadCerts re-reads the node's certificates on cfg.Reload and, with
// TLSWatch, when the files change, until ctx ends. A failed reload keeps
// the loaded certificates and is logged.
func reloadCerts(ctx context.Context, certs *mtls.Store, cfg ServeConfig) {
	onErr := func(err error) {
		cfg.Logger.Error("security: certificate reload failed; keeping the loaded ones", "err", err)
	}
	if cfg.TLSWatch > 0 {
		go certs.Watch(ctx, cfg.TLSWatch, onErr)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-cfg.Reload:
			if err := certs.Reload(); err != nil {
				onErr(err)
				continue
			}
			cfg.Logger.Info("security: certificates reloaded", "not_after", certs.NotAfter())
		}
	}
}

// authSummary describes a policy for /security (no token material).
func authSummary(p *AuthPolicy) string {
	s := fmt.Sprintf("%d tokens, client certificates: %s", len(p.Tokens), p.ClientCertRole)
	for _, c := range []struct {
		on   bool
		name string
	}{{p.ProtectReads, "reads"}, {p.ProtectMetrics, "metrics"}, {p.ProtectUI, "ui"}} {
		if c.on {
			s += ", " + c.name + " protected"
		}
	}
	return s
}
