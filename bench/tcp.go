package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/localports"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// The "tcp" target talks to a cluster of `raftbench serve` processes
// through the HTTP API's own Go client (engine/embed/httpapi.Client), so the
// figures measure the API users get. Answers map as the API documents
// them: a value, "key does not exist" (httpapi.ErrNotFound) and a cas
// mismatch (httpapi.ErrPrecondition) are results; a 503, or a
// connection that could not be made (httpapi.NotSent), means definitely
// not done and is tried again on another node; a 504 or any other
// failure leaves the outcome unknown (ErrIndeterminate). Requests carry
// no session: only definite refusals are retried, and those need none.
//
// Options: "endpoints" (comma-separated base URLs of a running cluster;
// without it the target starts TargetConfig.Nodes `raftbench serve`
// processes on loopback ports, data in TargetConfig.Dir), "bin" (the
// raftbench binary to start; default: this executable), "tls" ("on":
// the started cluster runs secured: a development PKI and token file in
// TargetConfig.Dir, mutual TLS between nodes, HTTPS with a bearer token
// from the clients; with endpoints it says the cluster is secured, and
// "ca" and "token" name the CA file and the token). Each node gets
// its own keep-alive connection pool (tcpMaxIdlePerNode idle connections).
func init() { Register("tcp", openTCP) }

const (
	// tcpRetryFor bounds how long a request keeps trying other nodes
	// after 503s (no leader, busy) before it is reported unavailable.
	tcpRetryFor = 10 * time.Second
	// tcpMaxIdlePerNode bounds each node's idle keep-alive connections.
	tcpMaxIdlePerNode = 1024
	tcpStartTimeout   = 60 * time.Second
)

type tcpNode struct {
	api *httpapi.Client
	id  uint64 // Raft ID from /status (0 if unknown)
}

type tcpTarget struct {
	fsync    bool // as TargetConfig said: for a cluster given by endpoints, what the user says it runs with
	secure   bool // mutual TLS between nodes, HTTPS and a token from clients
	ca       string
	token    string
	nodes    []*tcpNode
	pref     atomic.Int64 // index of the node to try first (the leader, when known)
	leaderCh atomic.Uint64
	lastLdr  atomic.Uint64

	mu    sync.Mutex
	procs []*exec.Cmd
	logs  []*os.File
}

func openTCP(ctx context.Context, cfg TargetConfig) (Target, error) {
	for k := range cfg.Options {
		if k != "endpoints" && k != "bin" && k != "tls" && k != "ca" && k != "token" {
			return nil, fmt.Errorf("tcp target: unknown option %q (known: endpoints, bin, tls, ca, token)", k)
		}
	}
	if cfg.ElectionTimeout != 0 {
		return nil, errors.New("tcp target: the election timeout is the serve processes' own setting; --election-timeout applies to in-process targets")
	}
	t := &tcpTarget{fsync: cfg.Fsync, ca: cfg.Options["ca"], token: cfg.Options["token"]}
	switch cfg.Options["tls"] {
	case "", "off":
	case "on":
		t.secure = true
	default:
		return nil, fmt.Errorf("tcp target: tls=%q: want on or off", cfg.Options["tls"])
	}
	var bases []string
	if eps := cfg.Options["endpoints"]; eps != "" {
		var err error
		if bases, err = parseEndpoints(eps); err != nil {
			return nil, err
		}
	} else {
		var err error
		if bases, err = t.startProcesses(cfg); err != nil {
			t.Close()
			return nil, err
		}
	}
	opts := httpapi.ClientOptions{MaxIdleConns: tcpMaxIdlePerNode, Token: t.token}
	if t.secure {
		tc, err := t.clientTLS()
		if err != nil {
			t.Close()
			return nil, err
		}
		opts.TLS = tc
	}
	for _, b := range bases {
		t.nodes = append(t.nodes, &tcpNode{api: httpapi.NewClientWithOptions(b, opts)})
	}
	sctx, cancel := context.WithTimeout(ctx, tcpStartTimeout)
	defer cancel()
	if err := t.waitLeader(sctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// parseEndpoints accepts "host:port" or "http://host:port" entries.
func parseEndpoints(s string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("tcp target: endpoint %q: want http://host:port", e)
		}
		out = append(out, strings.TrimRight(e, "/"))
	}
	if len(out) == 0 {
		return nil, errors.New("tcp target: no endpoints")
	}
	return out, nil
}

// startProcesses starts cfg.Nodes `raftbench serve` processes. Names are
// zero-padded (n01, n02, ...) so their sorted order, which serve uses to
// assign Raft IDs, is their numeric order.
func (t *tcpTarget) startProcesses(cfg TargetConfig) ([]string, error) {
	if cfg.Nodes < 1 || cfg.Nodes > 99 {
		return nil, fmt.Errorf("tcp target: nodes %d must be in [1, 99]", cfg.Nodes)
	}
	bin := cfg.Options["bin"]
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("tcp target: find raftbench binary: %w", err)
		}
	}
	addrs, err := localports.Pick(2 * cfg.Nodes)
	if err != nil {
		return nil, fmt.Errorf("tcp target: reserve ports: %w", err)
	}
	names := make([]string, cfg.Nodes)
	peers := make([]string, cfg.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%02d", i+1)
		peers[i] = names[i] + "=" + addrs[i]
	}
	var bases []string
	scheme, secArgs := "http://", []string(nil)
	if t.secure {
		var err error
		if secArgs, err = t.writeSecurity(cfg); err != nil {
			return nil, err
		}
		scheme = "https://"
	}
	for i, name := range names {
		httpAddr := addrs[cfg.Nodes+i]
		args := []string{"serve", "--id", name, "--peers", strings.Join(peers, ","),
			"--data", filepath.Join(cfg.Dir, name), "--http", httpAddr, "--log-level", "warn"}
		args = append(args, secArgs...)
		if !cfg.Fsync {
			args = append(args, "--unsafe-no-fsync")
		}
		if err := t.spawn(bin, args, filepath.Join(cfg.Dir, name+".log")); err != nil {
			return nil, err
		}
		bases = append(bases, scheme+httpAddr)
	}
	return bases, nil
}

func (t *tcpTarget) spawn(bin string, args []string, logPath string) error {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("tcp target: start %s: %w", bin, err)
	}
	t.mu.Lock()
	t.procs = append(t.procs, cmd)
	t.logs = append(t.logs, logf)
	t.mu.Unlock()
	return nil
}

// waitLeader polls every node's /status until all agree on a leader,
// learning each node's Raft ID on the way.
func (t *tcpTarget) waitLeader(ctx context.Context) error {
	var lastErr error
	for {
		leader, err := t.pollStatus(ctx)
		if err == nil && leader != 0 {
			for i, n := range t.nodes {
				if n.id == leader {
					t.pref.Store(int64(i))
				}
			}
			t.lastLdr.Store(leader)
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("nodes do not agree on a leader")
			}
			return fmt.Errorf("tcp target: cluster not ready: %w", lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (t *tcpTarget) pollStatus(ctx context.Context) (uint64, error) {
	var leader uint64
	for i, n := range t.nodes {
		st, err := n.api.Status(ctx)
		if err != nil {
			return 0, fmt.Errorf("%s/status: %w", n.api.Base(), err)
		}
		n.id = st.ID
		if st.Leader == 0 || (i > 0 && st.Leader != leader) {
			return 0, nil
		}
		leader = st.Leader
	}
	return leader, nil
}

func (t *tcpTarget) Name() string { return "tcp" }

// errTryElsewhere: this node definitely did not do it; try another.
var errTryElsewhere = errors.New("tcp target: node refused")

// Do sends req to the preferred node; on a definite refusal (503, or a
// connection that could not be made) it moves on to the next node,
// for up to tcpRetryFor.
func (t *tcpTarget) Do(ctx context.Context, req Request) (kv.Result, error) {
	deadline := time.Now().Add(tcpRetryFor)
	var lastErr error
	for attempt := 0; ; attempt++ {
		i := int(t.pref.Load()) % len(t.nodes)
		res, hint, err := t.nodes[i].do(ctx, req)
		if !errors.Is(err, errTryElsewhere) {
			return res, err
		}
		lastErr = err
		t.moveOn(i, hint)
		if attempt >= len(t.nodes) {
			// Every node refused once: back off a little (election).
			select {
			case <-ctx.Done():
				return kv.Result{}, ctx.Err()
			case <-time.After(time.Duration(min(attempt, 20)) * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			return kv.Result{}, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
		}
	}
}

// moveOn switches the preferred node after node i refused: to the
// leader it named, else to the next node.
func (t *tcpTarget) moveOn(i int, leaderHint uint64) {
	next := (i + 1) % len(t.nodes)
	if leaderHint != 0 {
		for j, n := range t.nodes {
			if n.id == leaderHint {
				next = j
			}
		}
		if t.lastLdr.Swap(leaderHint) != leaderHint {
			t.leaderCh.Add(1)
		}
	}
	t.pref.CompareAndSwap(int64(i), int64(next))
}

// do sends req to this node. The leader hint is the node a 503 named.
func (n *tcpNode) do(ctx context.Context, req Request) (kv.Result, uint64, error) {
	// The key must be copied anyway (Request buffers are reused); as a
	// string it also becomes the URL path.
	key := string(req.Key)
	var err error
	switch req.Op {
	case kv.OpRead:
		var v []byte
		if v, err = n.api.Get(ctx, key); err == nil {
			return kv.Result{Status: kv.StatusOK, Value: v}, 0, nil
		}
	case kv.OpWrite:
		err = n.api.Put(ctx, key, req.Value, httpapi.Session{})
	case kv.OpCas:
		err = n.api.Cas(ctx, key, string(req.From), string(req.Value), false, httpapi.Session{})
	default:
		return kv.Result{}, 0, fmt.Errorf("tcp target: unknown op %v", req.Op)
	}
	return n.answer(ctx, req.Op, err)
}

// answer maps the client's error (nil: done) to a result, or to an
// error the driver can classify.
func (n *tcpNode) answer(ctx context.Context, op kv.Op, err error) (kv.Result, uint64, error) {
	var se *httpapi.StatusError
	switch {
	case err == nil:
		return kv.Result{Status: kv.StatusOK}, 0, nil
	case errors.Is(err, httpapi.ErrNotFound) && op != kv.OpWrite:
		return kv.Result{Status: kv.StatusNotFound}, 0, nil
	case errors.Is(err, httpapi.ErrPrecondition) && op == kv.OpCas:
		return kv.Result{Status: kv.StatusMismatch}, 0, nil
	case errors.Is(err, httpapi.ErrValueTooLarge):
		return kv.Result{}, 0, fmt.Errorf("tcp target: %s: %w", n.api.Base(), err)
	case errors.As(err, &se) && se.Code == http.StatusServiceUnavailable:
		return kv.Result{}, se.Leader, fmt.Errorf("%w: %s: %w", errTryElsewhere, n.api.Base(), err)
	case errors.As(err, &se):
		return kv.Result{}, 0, fmt.Errorf("%w: %s: %w", ErrIndeterminate, n.api.Base(), err)
	case ctx.Err() != nil:
		return kv.Result{}, 0, ctx.Err()
	case httpapi.NotSent(err):
		return kv.Result{}, 0, fmt.Errorf("%w: %w", errTryElsewhere, err)
	}
	// Sent, perhaps done: a broken connection, a truncated answer.
	return kv.Result{}, 0, fmt.Errorf("%w: %s: %w", ErrIndeterminate, n.api.Base(), err)
}

// Stats knows only the leader changes this client noticed (from 503
// answers naming a new leader); fsync counts live in the processes'
// /metrics.
func (t *tcpTarget) Stats() TargetStats {
	return TargetStats{LeaderChanges: t.leaderCh.Load()}
}

// Close stops the processes this target started (SIGTERM, then SIGKILL
// after 10 s) and closes idle connections.
func (t *tcpTarget) Close() error {
	for _, n := range t.nodes {
		n.api.CloseIdleConnections()
	}
	t.mu.Lock()
	procs, logs := t.procs, t.logs
	t.procs, t.logs = nil, nil
	t.mu.Unlock()
	var errs []string
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Sprintf("%v: %v", p.Args[1:4], err))
			}
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
			errs = append(errs, fmt.Sprintf("%v: killed after 10 s", p.Args[1:4]))
		}
	}
	for _, l := range logs {
		l.Close()
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("tcp target: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Contract: `raftbench serve` nodes; reads are ReadIndex reads on any node.
func (t *tcpTarget) Contract() Contract {
	c := RaftContract(t.fsync, ReadsReadIndex, "ReadIndex on the node asked (a follower asks the leader for the read index), answered once applied >= it")
	c.Security = "PLAIN: unauthenticated TCP between nodes, plain HTTP without authentication from clients"
	if t.secure {
		c.Security = "mutual TLS 1.3 between nodes (cluster CA, node identities checked); HTTPS with a bearer token from clients"
	}
	return c
}

// writeSecurity writes a development PKI and a token file into cfg.Dir
// for a secured started cluster and returns serve's extra arguments.
func (t *tcpTarget) writeSecurity(cfg TargetConfig) ([]string, error) {
	dir := filepath.Join(cfg.Dir, "certs")
	ids := make([]uint64, cfg.Nodes)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	if _, err := mtls.WriteDev(dir, mtls.DevOptions{Nodes: ids, Force: true}); err != nil {
		return nil, fmt.Errorf("tcp target: certificates: %w", err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	t.token, t.ca = hex.EncodeToString(b), mtls.CAFile(dir)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("write bench "+t.token+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []string{"--tls-dir", dir, "--auth-tokens", tokens}, nil
}

// clientTLS trusts the cluster CA (t.ca).
func (t *tcpTarget) clientTLS() (*tls.Config, error) {
	if t.ca == "" {
		return nil, errors.New("tcp target: tls=on with endpoints needs ca=<CA file>")
	}
	pem, err := os.ReadFile(t.ca)
	if err != nil {
		return nil, fmt.Errorf("tcp target: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tcp target: %s holds no certificate", t.ca)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}
