package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

func init() { addCommand(newBusDemoCmd()) }

// busDemoConfig is one bus-demo run.
type busDemoConfig struct {
	natsURL  string
	cluster  string
	nodes    int
	requests int
	fsync    bool
	timeout  time.Duration // per request
	dataDir  string        // parent of the temporary data directory
	// restartAfter > 0 stops the embedded broker after that many
	// requests for brokerDown, then restarts it.
	restartAfter int
	brokerDown   time.Duration
}

// busDemoSummary is what the demo prints at the end (and tests check).
type busDemoSummary struct {
	Requests, Committed, Failed int
	Elapsed                     time.Duration
	Latencies                   []time.Duration
	Leaders                     []uint64 // distinct leaders seen, in order
	Bus                         transport.Stats
	AllApplied                  bool // every node applied every committed request
	Embedded                    bool
	URL                         string
	BrokerRestarts              int
}

func newBusDemoCmd() *cobra.Command {
	cfg := busDemoConfig{}
	c := &cobra.Command{
		Use:   "bus-demo",
		Short: "A Raft cluster whose nodes talk only through a NATS message bus",
		Long: `bus-demo starts --nodes raftbench nodes in this process that reach each
other only through a NATS broker (each node subscribes to
raftbench.<cluster>.node.<id>), sends --requests client writes one after the
other through the leader, prints each commit as it is acknowledged (index
order, leader, latency, how many nodes have applied it) and a summary with
what the bus carried. A commit is first applied on the leader; followers
apply it when the leader's next message tells them it is committed.
With --restart-broker-after K the embedded broker is stopped after request K
for --broker-down and restarted: the requests in between wait for the
cluster to recover, and none is lost.

Without --nats-url it starts an embedded NATS server on 127.0.0.1 (random
port), so it works on a machine with only Go.`,
		Example: `  raftbench bus-demo --nodes 5 --requests 20
  raftbench bus-demo --nats-url nats://127.0.0.1:4222 --nodes 3 --requests 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.nodes < 1 || cfg.nodes > cluster.MaxNodes {
				return usageError("--nodes %d must be in [1, %d]", cfg.nodes, cluster.MaxNodes)
			}
			if cfg.requests < 1 {
				return usageError("--requests %d must be positive", cfg.requests)
			}
			if err := natstr.ValidName(cfg.cluster); err != nil {
				return usageError("--cluster: %v", err)
			}
			if cfg.natsURL != "" {
				if _, err := natstr.ParseURL(cfg.natsURL); err != nil {
					return usageError("--nats-url: %v", err)
				}
				if cfg.restartAfter > 0 {
					return usageError("--restart-broker-after needs the embedded broker (no --nats-url)")
				}
			}
			ctx, stop := signalContext()
			defer stop()
			_, err := runBusDemo(ctx, cmd.OutOrStdout(), cfg)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.natsURL, "nats-url", "", "an existing NATS broker (default: start an embedded one on 127.0.0.1)")
	f.StringVar(&cfg.cluster, "cluster", "bus-demo", "cluster name: the subject token under raftbench.")
	f.IntVar(&cfg.nodes, "nodes", 5, "cluster size")
	f.IntVar(&cfg.requests, "requests", 20, "client requests to send")
	f.BoolVar(&cfg.fsync, "fsync", true, "fsync each node's WAL")
	f.DurationVar(&cfg.timeout, "request-timeout", 5*time.Second, "give up on one request after this long")
	f.IntVar(&cfg.restartAfter, "restart-broker-after", 0, "stop the embedded broker after this many requests, then restart it (0: never)")
	f.DurationVar(&cfg.brokerDown, "broker-down", time.Second, "with --restart-broker-after: how long the broker stays down")
	f.StringVar(&cfg.dataDir, "data-dir", "", "parent of the nodes' temporary data directory (default: the system's)")
	return c
}

// appliedCounter wraps each node's state machine to count, per request
// key, how many nodes have applied it.
type appliedCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *appliedCounter) get(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[key]
}

type countingSM struct {
	*kv.Store
	a *appliedCounter
}

func (s countingSM) Apply(cmd []byte) []byte {
	res := s.Store.Apply(cmd)
	if c, err := kv.DecodeCommand(cmd); err == nil {
		s.a.mu.Lock()
		s.a.n[string(c.Key)]++
		s.a.mu.Unlock()
	}
	return res
}

func runBusDemo(ctx context.Context, w io.Writer, cfg busDemoConfig) (*busDemoSummary, error) {
	sum := &busDemoSummary{Requests: cfg.requests, URL: cfg.natsURL}
	w = &lockedWriter{w: w} // the broker restart prints from a timer
	var srv *natsserver.Server
	if cfg.natsURL == "" {
		var err error
		if srv, err = natsserver.Start(natsserver.Options{}); err != nil {
			return nil, err
		}
		defer srv.Stop()
		sum.URL, sum.Embedded = srv.URL(), true
	}
	dir, err := os.MkdirTemp(cfg.dataDir, "raftbench-bus-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	where := sum.URL
	if sum.Embedded {
		where += " (embedded NATS server)"
	}
	fmt.Fprintf(w, "bus: %s\n", where)
	fmt.Fprintf(w, "cluster %q: %d nodes, each subscribed to %s.%s.node.<id>\n", cfg.cluster, cfg.nodes, natstr.DefaultPrefix, cfg.cluster)

	var (
		trMu sync.Mutex
		trs  []*natstr.Transport
	)
	build := natstr.Factory(natstr.Config{URL: sum.URL, Cluster: cfg.cluster})
	applied := &appliedCounter{n: map[string]int{}}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := cluster.StartInProc(sctx, cluster.Config{
		Nodes: cfg.nodes, Dir: dir, Fsync: cfg.fsync,
		NewStateMachine: func(uint64) node.StateMachine { return countingSM{kv.NewStore(), applied} },
		Transport: func(id uint64, peers []uint64) (transport.Transport, error) {
			tr, err := build(id, peers)
			if err == nil {
				trMu.Lock()
				trs = append(trs, tr.(*natstr.Transport))
				trMu.Unlock()
			}
			return tr, err
		},
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bus-demo: start the cluster: %w", err)
	}
	defer c.Stop()
	noteLeader := func() uint64 {
		l := c.Leader()
		if l == nil {
			return 0
		}
		if len(sum.Leaders) == 0 || sum.Leaders[len(sum.Leaders)-1] != l.ID() {
			sum.Leaders = append(sum.Leaders, l.ID())
			fmt.Fprintf(w, "leader: n%d (term %d), elected %v after start\n", l.ID(), l.Term(), time.Since(start).Round(time.Millisecond))
		}
		return l.ID()
	}
	noteLeader()

	var restart *time.Timer
	defer func() {
		if restart != nil {
			restart.Stop() // else the deferred srv.Stop waits for the restart, then stops it
		}
	}()
	begin := time.Now()
	for i := 1; i <= cfg.requests; i++ {
		if ctx.Err() != nil {
			break
		}
		key, val := fmt.Sprintf("request-%d", i), fmt.Sprintf("value-%d", i)
		rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		t0 := time.Now()
		res, err := c.Propose(rctx, kv.EncodeWrite([]byte(key), []byte(val)))
		lat := time.Since(t0)
		cancel()
		if err == nil {
			var r kv.Result
			if r, err = kv.DecodeResult(res); err == nil && r.Status != kv.StatusOK {
				err = fmt.Errorf("status %v", r.Status)
			}
		}
		if err != nil {
			sum.Failed++
			fmt.Fprintf(w, "request %d/%d: %s = %s FAILED after %v: %v\n", i, cfg.requests, key, val, lat.Round(time.Microsecond), err)
			continue
		}
		sum.Committed++
		sum.Latencies = append(sum.Latencies, lat)
		leader := noteLeader()
		fmt.Fprintf(w, "commit %d/%d: %s = %s  via leader n%d in %v, applied on %d/%d nodes so far\n",
			i, cfg.requests, key, val, leader, lat.Round(time.Microsecond), applied.get(key), cfg.nodes)
		if srv != nil && i == cfg.restartAfter {
			fmt.Fprintf(w, "broker: stopped; restarting it in %v\n", cfg.brokerDown)
			srv.Stop()
			restart = time.AfterFunc(cfg.brokerDown, func() {
				if err := srv.Restart(); err != nil {
					fmt.Fprintf(w, "broker: restart failed: %v\n", err)
					return
				}
				fmt.Fprintf(w, "broker: restarted at %s\n", srv.URL())
			})
			sum.BrokerRestarts++
		}
	}
	sum.Elapsed = time.Since(begin)
	// Followers learn a commit with the leader's next message; wait for
	// every node to apply every committed request.
	deadline := time.Now().Add(5 * time.Second)
	for !sum.AllApplied && time.Now().Before(deadline) && ctx.Err() == nil {
		sum.AllApplied = true
		for i := 1; i <= cfg.requests; i++ {
			if n := applied.get(fmt.Sprintf("request-%d", i)); n > 0 && n < cfg.nodes {
				sum.AllApplied = false
			}
		}
		if !sum.AllApplied {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if sum.AllApplied {
		fmt.Fprintf(w, "replicas: all %d nodes applied every commit %v after the last one\n", cfg.nodes, (time.Since(begin) - sum.Elapsed).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "replicas: some nodes had not applied every commit 5 s after the last one\n")
	}
	trMu.Lock()
	for _, tr := range trs {
		s := tr.Stats()
		sum.Bus.Sent += s.Sent
		sum.Bus.Received += s.Received
		sum.Bus.Dropped += s.Dropped
		sum.Bus.BytesSent += s.BytesSent
		sum.Bus.Writes += s.Writes
		sum.Bus.Reconnects += s.Reconnects
	}
	trMu.Unlock()
	printBusDemoSummary(w, sum)
	if ctx.Err() != nil {
		return sum, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if !sum.AllApplied {
		return sum, errors.New("bus-demo: not every node applied every commit")
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("bus-demo: %d of %d requests failed", sum.Failed, sum.Requests)
	}
	return sum, nil
}

func printBusDemoSummary(w io.Writer, s *busDemoSummary) {
	fmt.Fprintf(w, "\nsummary: %d requests, %d committed, %d failed in %v", s.Requests, s.Committed, s.Failed, s.Elapsed.Round(time.Millisecond))
	if s.Elapsed > 0 {
		fmt.Fprintf(w, " (%.0f commits/s, one request at a time)", float64(s.Committed)/s.Elapsed.Seconds())
	}
	fmt.Fprintln(w)
	if n := len(s.Latencies); n > 0 {
		l := slices.Clone(s.Latencies)
		slices.Sort(l)
		fmt.Fprintf(w, "latency: min %v, median %v, max %v\n", l[0].Round(time.Microsecond), l[n/2].Round(time.Microsecond), l[n-1].Round(time.Microsecond))
	}
	leaders := ""
	for i, id := range s.Leaders {
		if i > 0 {
			leaders += " -> "
		}
		leaders += fmt.Sprintf("n%d", id)
	}
	fmt.Fprintf(w, "leaders: %s\n", leaders)
	fmt.Fprintf(w, "bus: %d Raft messages in %d publishes, %d bytes, %d dropped, %d reconnects\n",
		s.Bus.Sent, s.Bus.Writes, s.Bus.BytesSent, s.Bus.Dropped, s.Bus.Reconnects)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
