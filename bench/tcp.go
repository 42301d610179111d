package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

	"github.com/raftbench/raftbench/engine/kv"
)

// The "tcp" target talks to a cluster of `raftbench serve` processes
// over their HTTP API:
//
//	GET  /kv/{key}      200 body=value, 404 key does not exist
//	PUT  /kv/{key}      body=value, 2xx ok
//	POST /kv/{key}/cas  {"from":"..","to":".."}: 2xx ok, 404 missing, 409 mismatch
//	503: definitely not done (tried again on another node); 504 or
//	anything else: outcome unknown.
//
// Options: "endpoints" (comma-separated base URLs of a running cluster;
// without it the target starts TargetConfig.Nodes `raftbench serve`
// processes on loopback ports, data in TargetConfig.Dir), "bin" (the
// raftbench binary to start; default: this executable). Each node gets
// its own keep-alive connection pool.
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
	base   string // e.g. http://127.0.0.1:8001
	client *http.Client
	id     uint64 // Raft ID from /status (0 if unknown)
}

type tcpTarget struct {
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
		if k != "endpoints" && k != "bin" {
			return nil, fmt.Errorf("tcp target: unknown option %q (known: endpoints, bin)", k)
		}
	}
	t := &tcpTarget{}
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
	for _, b := range bases {
		t.nodes = append(t.nodes, &tcpNode{base: b, client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: tcpMaxIdlePerNode,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}})
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

// freePorts reserves n loopback ports by binding and releasing them.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
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
	addrs, err := freePorts(2 * cfg.Nodes)
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
	for i, name := range names {
		httpAddr := addrs[cfg.Nodes+i]
		args := []string{"serve", "--id", name, "--peers", strings.Join(peers, ","),
			"--data", filepath.Join(cfg.Dir, name), "--http", httpAddr, "--log-level", "warn"}
		if !cfg.Fsync {
			args = append(args, "--unsafe-no-fsync")
		}
		if err := t.spawn(bin, args, filepath.Join(cfg.Dir, name+".log")); err != nil {
			return nil, err
		}
		bases = append(bases, "http://"+httpAddr)
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

type tcpStatus struct {
	ID     uint64 `json:"id"`
	Leader uint64 `json:"leader"`
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
		st, err := n.status(ctx)
		if err != nil {
			return 0, err
		}
		n.id = st.ID
		if st.Leader == 0 || (i > 0 && st.Leader != leader) {
			return 0, nil
		}
		leader = st.Leader
	}
	return leader, nil
}

func (n *tcpNode) status(ctx context.Context) (tcpStatus, error) {
	var st tcpStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s/status: HTTP %d", n.base, resp.StatusCode)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	return st, err
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

type casJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type errJSON struct {
	Leader uint64 `json:"leader"`
}

func (n *tcpNode) do(ctx context.Context, req Request) (kv.Result, uint64, error) {
	path := n.base + "/kv/" + url.PathEscape(string(req.Key))
	var method string
	var body io.Reader
	switch req.Op {
	case kv.OpRead:
		method = http.MethodGet
	case kv.OpWrite:
		method, body = http.MethodPut, bytes.NewReader(req.Value)
	case kv.OpCas:
		b, err := json.Marshal(casJSON{From: string(req.From), To: string(req.Value)})
		if err != nil {
			return kv.Result{}, 0, err
		}
		method, path, body = http.MethodPost, path+"/cas", bytes.NewReader(b)
	default:
		return kv.Result{}, 0, fmt.Errorf("tcp target: unknown op %v", req.Op)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return kv.Result{}, 0, err
	}
	resp, err := n.client.Do(hreq)
	if err != nil {
		return kv.Result{}, 0, transportError(ctx, err)
	}
	defer resp.Body.Close()
	return n.answer(req.Op, resp)
}

// transportError: a connection that was never made is a definite
// refusal; anything after the request may have been sent is unknown.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %w", errTryElsewhere, err)
	}
	return fmt.Errorf("%w: %w", ErrIndeterminate, err)
}

func (n *tcpNode) answer(op kv.Op, resp *http.Response) (kv.Result, uint64, error) {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if op != kv.OpRead {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return kv.Result{Status: kv.StatusOK}, 0, nil
		}
		v, err := io.ReadAll(io.LimitReader(resp.Body, kv.MaxValueBytes+1))
		if err != nil {
			return kv.Result{}, 0, fmt.Errorf("%w: read body: %w", ErrIndeterminate, err)
		}
		if len(v) > kv.MaxValueBytes {
			return kv.Result{}, 0, fmt.Errorf("tcp target: %s: value larger than %d bytes", n.base, kv.MaxValueBytes)
		}
		return kv.Result{Status: kv.StatusOK, Value: v}, 0, nil
	case code == http.StatusNotFound && op != kv.OpWrite:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return kv.Result{Status: kv.StatusNotFound}, 0, nil
	case code == http.StatusConflict && op == kv.OpCas:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return kv.Result{Status: kv.StatusMismatch}, 0, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if code == http.StatusServiceUnavailable {
		var e errJSON
		_ = json.Unmarshal(b, &e)
		return kv.Result{}, e.Leader, fmt.Errorf("%w: %s: HTTP 503: %s", errTryElsewhere, n.base, bytes.TrimSpace(b))
	}
	return kv.Result{}, 0, fmt.Errorf("%w: %s: HTTP %d: %s", ErrIndeterminate, n.base, code, bytes.TrimSpace(b))
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
		n.client.CloseIdleConnections()
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
