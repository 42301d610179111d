package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/testfaults"
	"github.com/raftbench/raftbench/ui"
)

func init() { addCommand(newServeCmd()) }

func newServeCmd() *cobra.Command {
	var (
		cfg                      httpapi.ServeConfig
		peers                    string
		logLevel                 string
		snapRatio, residentRatio float64
		uiPeers                  string
		noUI                     bool
		sec                      securityFlags
		testFault                bool
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run one node over TCP or NATS with an HTTP key-value API",
		Long: `serve runs one raftbench node: Raft over the TCP transport (or, with
--transport nats, over a NATS broker: --peers then lists names only), a WAL in
--data, and an HTTP API on --http:

  GET  /kv/{key}       linearizable read (200 value, 404 missing)
  PUT  /kv/{key}       write the body (204)
  POST /kv/{key}/cas   {"from":"..","to":"..","create_if_missing":bool}
                       (204 done, 404 missing, 409 precondition failed)
  GET  /status         JSON status;  GET /metrics  Prometheus
  GET  /ui/            read-only browser view of the cluster (--ui-peers names
                       the other nodes' HTTP addresses; --no-ui turns it off)
  /admin/...           membership (see raftbench member --help)

Optional X-Client-Id / X-Seq headers make retried writes apply once.
503 = definitely not done (retry), 504 = outcome unknown.
Node IDs are assigned by sorting the --peers names, so every process must be
given the same --peers list. Listens on 127.0.0.1 unless told otherwise.
With --transport nats the nodes never connect to each other: each receives on
the subject raftbench.<cluster>.node.<id>; serve fails at start if the broker
cannot be reached or the URL is malformed.

Security (see "A secure cluster" in the README): --tls-dir points at the files
'raftbench certs' wrote; the node then speaks mutual TLS to its peers (each
certificate must name the node ID it claims) and HTTPS to clients. Certificates
reload on SIGHUP and when the files change. --auth-tokens requires a bearer
token (or, with --client-cert-role, a client certificate) for writes and
/admin/; reads and /metrics stay open unless --protect-reads/--protect-metrics.
Without --tls-dir everything is plain (benchmarks) and the log says so.`,
		Example: `  raftbench serve --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
      --data /tmp/n1 --http 127.0.0.1:8001
  raftbench serve --transport nats --nats-url nats://127.0.0.1:4222 --cluster demo \
      --id n1 --peers n1,n2,n3 --data /tmp/n1 --http 127.0.0.1:8001
  # a fourth node joins the running cluster as a learner:
  raftbench serve --id n4 --peers n4=127.0.0.1:7004 --data /tmp/n4 --http 127.0.0.1:8004 \
      --join http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			parse := httpapi.ParsePeers
			if cfg.Transport == "nats" {
				parse = httpapi.ParsePeerNames
			}
			if cfg.Peers, err = parse(peers); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: --peers: %w", err)}
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: --log-level %q: want debug, info, warn or error", logLevel)}
			}
			cfg.SnapshotLogRatio = snapRatio
			if snapRatio <= 0 {
				cfg.SnapshotLogRatio = -1 // the node's "entries alone"
			}
			cfg.ResidentLogRatio = residentRatio
			if residentRatio <= 0 {
				cfg.ResidentLogRatio = -1 // the node's "whole log in memory"
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
			}
			if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
				return fmt.Errorf("serve: --data: %w", err)
			}
			if !noUI {
				others, err := ui.ParsePeerURLs(uiPeers)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("serve: --ui-peers: %w", err)}
				}
				tlsDir := sec.tlsDir
				cfg.Extra = func(n *node.Node, g prometheus.Gatherer) (map[string]http.Handler, func()) {
					client, err := uiPeerClient(tlsDir, n.Status().ID)
					if err != nil {
						cfg.Logger.Warn("browser view: the other nodes' panels will show unreachable", "err", err)
					}
					return ui.ForServe(cfg.Name, others, client)(n, g)
				}
			} else if uiPeers != "" {
				return &exitError{code: 2, err: fmt.Errorf("serve: --ui-peers with --no-ui")}
			}
			if err := sec.apply(&cfg); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Reload = reloadOnSIGHUP(ctx)
			if testFault {
				cfg.TestFaults = testfaults.New()
			}
			return httpapi.Serve(ctx, cfg)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Name, "id", "", "this node's name, one of the --peers names (required)")
	f.StringVar(&peers, "peers", "", "every node as name=host:port of its Raft transport, comma-separated (required; names only with --transport nats)")
	f.StringVar(&cfg.Transport, "transport", "tcp", "Raft transport: tcp or nats")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "--transport nats: the broker, e.g. nats://127.0.0.1:4222")
	f.StringVar(&cfg.Cluster, "cluster", "", "--transport nats: cluster name, one subject token (letters, digits, '-', '_')")
	f.StringVar(&cfg.Dir, "data", "", "data directory for the WAL (required)")
	f.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8001", "HTTP API listen address")
	f.BoolVar(&cfg.UnsafeNoFsync, "unsafe-no-fsync", false, "turn off fsync (benchmarks only: acknowledged writes can be lost)")
	f.DurationVar(&cfg.TickInterval, "tick", 10*time.Millisecond, "Raft tick interval (election timeout is 10-20 ticks)")
	f.BoolVar(&cfg.LeaseReads, "lease-reads", false, "answer reads from the leader's lease, without a quorum round (safe only while clocks drift less than --max-clock-drift)")
	f.Float64Var(&cfg.MaxClockDrift, "max-clock-drift", 0, "--lease-reads: the largest relative difference between two nodes' clock rates the lease assumes (default 0.1)")
	f.Uint64Var(&cfg.SnapshotEvery, "snapshot-every", 0, "take a snapshot and compact the log every this many applied entries (0: 100000)")
	f.Float64Var(&residentRatio, "resident-log-ratio", node.DefaultResidentLogRatio, "keep about this many times the last snapshot's size of applied log in memory; the rest only on disk (0: the whole log since the last snapshot)")
	f.Float64Var(&snapRatio, "snapshot-log-ratio", node.DefaultSnapshotLogRatio, "also wait for this many times the last snapshot's size of new log before the next snapshot (0: by --snapshot-every alone)")
	f.IntVar(&cfg.SnapshotChunkBytes, "snapshot-chunk-bytes", 0, "most snapshot bytes per message when streaming a snapshot to a follower (0: 1 MiB)")
	f.IntVar(&cfg.SnapshotChunksInFlight, "snapshot-chunks-in-flight", 0, "unacknowledged snapshot chunks per follower (0: 4)")
	f.Int64Var(&cfg.SnapshotWriteRate, "snapshot-write-rate", 0, "write snapshot files (own and received) at most this many bytes per second, spreading their disk traffic beside the log's fsyncs (0: unpaced)")
	f.BoolVar(&cfg.AppendSegments, "wal-append-segments", false, "write the log's segments by appending, each commit fsynced, instead of into files of zeros prepared ahead with commits made durable by fdatasync (the default: no journal commit per fsync, a segment's worth of extra writes per segment)")
	f.IntVar(&cfg.RecycleSegments, "wal-recycle-segments", 0, "keep up to this many of the segment files a snapshot frees and reuse them as new segments instead of writing new files of zeros, so the disk takes the log's bytes once (0: the WAL's default, 256; negative: none, every new segment is zeros)")
	f.DurationVar(&cfg.MinSyncInterval, "wal-min-sync-interval", 0, "start a log commit no sooner than this after the previous one, so one fsync carries more writes: for disks that stall above a budget of flushes per second (each write waits up to this much longer; 0: commit at once)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&uiPeers, "ui-peers", "", "the other nodes' HTTP addresses (name=http://host:port,...): the read-only browser view at /ui/ then shows the whole cluster")
	f.BoolVar(&noUI, "no-ui", false, "do not serve the browser view at /ui/")
	f.StringSliceVar(&cfg.Join, "join", nil, "HTTP URL(s) of members of a running cluster to join as a learner (--peers then names only this node)")
	f.Uint64Var(&cfg.NodeID, "node-id", 0, "with --join: this node's Raft ID (default: one above every ID the cluster knows)")
	sec.register(c)
	f.BoolVar(&testFault, "test-faults", false, "tests only: the disk and clock obey POST /admin/test-fault (the chaos harness)")
	_ = f.MarkHidden("test-faults")
	return c
}

// uiPeerClient is how the browser view reads the other nodes' state:
// plain HTTP without --tls-dir; with it, HTTPS trusting the cluster CA and
// presenting this node's certificate, which the other nodes' auth grants
// the admin role (so the view works with --protect-ui too). The
// certificate is read once: after a rotation, restart the node or its
// panels of the others show unreachable.
func uiPeerClient(tlsDir string, id uint64) (*http.Client, error) {
	if tlsDir == "" {
		return nil, nil
	}
	f := mtls.NodeFiles(tlsDir, id)
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster CA %s: no certificate", f.CA)
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
	}}, nil
}
