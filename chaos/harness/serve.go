package harness

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
	"github.com/raftbench/raftbench/engine/runtime/localports"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// ServeTarget makes a run start `raftbench serve` processes (Config.Bin
// is the raftbench binary, Config.Args more serve flags such as
// --lease-reads) instead of Maelstrom node binaries. Everything else is
// the same run: the same workload, schedule, checker and summary.
//
//   - Node nX listens on 127.0.0.1 ports the harness picks (its Raft
//     port and HTTP port stay the same across restarts) and keeps its WAL
//     in the run's data directory for nX, which survives kills.
//   - Clients go through the HTTP API: the workload's lin-kv requests
//     are sent, as Maelstrom messages, to a gateway per node that makes
//     the matching HTTP call on that node (GET /kv/k, PUT /kv/k, POST
//     /kv/k/cas) and answers as a Maelstrom node would. Values are
//     decimal strings. A 503 is definite: the gateway follows its leader
//     hint once, as any serve client does (the operation was not done, so
//     this is not a retry of something that may have happened); any
//     other failure of a write or cas after the request was sent is
//     indeterminate (code 13), a read's is a failure.
//   - Partitions cut the nodes' Raft TCP links: every directed link
//     from → to goes through a proxy of the harness (linkproxy.go), and a
//     grudge "to ⇍ from" cuts that proxy. Client traffic is never
//     partitioned (as in Maelstrom). Loss and duplication of single
//     messages have no meaning on a TCP stream and are refused.
//   - Kills are SIGKILL and restart on the same data directory (or an
//     empty one with KillWipeData); pauses are SIGSTOP/SIGCONT.
//   - Disk and clock faults: the nodes run with --test-faults and the
//     gateway posts each fault to POST /admin/test-fault. A failed disk
//     (eio, enospc) fails the WAL, the node stops and serve exits, as
//     documented; the harness expects that exit and restarts the node on
//     its data directory when the disk is repaired.
//   - Secure: a development PKI (mtls.WriteDev, what `raftbench certs`
//     writes) and a token file in the run's data directory; every node
//     runs with --tls-dir and --auth-tokens, so the nodes speak mutual
//     TLS to each other (through the proxies, which never see plain
//     text), the gateway speaks HTTPS trusting the run's CA and sends a
//     write token for the workload and an admin token for /admin/. An
//     answer 401 or 403 is a protocol error: the run is then invalid.
type ServeTarget struct {
	Secure bool
}

// serveCluster is the harness's side of a serve cluster: ports, link
// proxies, PKI and tokens, and one HTTP gateway client per node.
type serveCluster struct {
	cfg      Config
	names    []string
	ids      map[string]uint64
	byID     map[uint64]string
	raftAddr map[string]string
	httpAddr map[string]string
	links    map[[2]string]*linkProxy // {from, to}
	tlsDir   string
	tokens   string // token file
	work     map[string]*httpapi.Client
	admin    map[string]*httpapi.Client
	// faults posts fault commands (with adminToken in secure mode).
	faults     *http.Client
	adminToken string

	mu          sync.Mutex
	leaseVictim string // the leader a lease-break holds isolated
	leaseBreaks []LeaseBreak
}

func (s *serveCluster) noteLeaseVictim(name string, at time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaseVictim = name
	s.leaseBreaks = append(s.leaseBreaks, LeaseBreak{AtMs: ms(at), Leader: name})
}

func (s *serveCluster) takeLeaseVictim() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.leaseVictim
	s.leaseVictim = ""
	return v
}

// serveTokenRoles are the tokens the harness writes in secure mode.
var serveTokenRoles = []string{"write", "admin"}

func newServeCluster(cfg Config, dataDir string, names []string) (*serveCluster, error) {
	s := &serveCluster{cfg: cfg, names: names, raftAddr: map[string]string{}, httpAddr: map[string]string{},
		links: map[[2]string]*linkProxy{}, work: map[string]*httpapi.Client{}, admin: map[string]*httpapi.Client{},
		byID: map[uint64]string{}}
	addrs, err := localports.Pick(2 * len(names))
	if err != nil {
		return nil, err
	}
	peers := map[string]string{}
	for i, n := range names {
		s.raftAddr[n], s.httpAddr[n] = addrs[2*i], addrs[2*i+1]
		peers[n] = s.raftAddr[n]
	}
	s.ids = httpapi.NodeIDs(peers)
	for n, id := range s.ids {
		s.byID[id] = n
	}
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			p, err := newLinkProxy(from, to, s.raftAddr[to])
			if err != nil {
				s.close()
				return nil, err
			}
			s.links[[2]string{from, to}] = p
		}
	}
	scheme := "http"
	var tlsCfg *tls.Config
	tokens := map[string]string{}
	if cfg.Serve.Secure {
		scheme = "https"
		var err error
		if tlsCfg, tokens, err = s.writeSecurity(dataDir); err != nil {
			s.close()
			return nil, err
		}
	}
	s.adminToken = tokens["admin"]
	s.faults = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil}}
	for _, n := range names {
		base := scheme + "://" + s.httpAddr[n]
		opts := httpapi.ClientOptions{TLS: tlsCfg, DialTimeout: time.Second, MaxIdleConns: 64}
		opts.Token = tokens["write"]
		s.work[n] = httpapi.NewClientWithOptions(base, opts)
		opts.Token = tokens["admin"]
		s.admin[n] = httpapi.NewClientWithOptions(base, opts)
	}
	return s, nil
}

// writeSecurity writes the run's PKI and token file under dataDir and
// returns the gateway's TLS config and tokens by role.
func (s *serveCluster) writeSecurity(dataDir string) (*tls.Config, map[string]string, error) {
	s.tlsDir = filepath.Join(dataDir, "tls")
	ids := make([]uint64, 0, len(s.ids))
	for _, id := range s.ids {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if _, err := mtls.WriteDev(s.tlsDir, mtls.DevOptions{Nodes: ids}); err != nil {
		return nil, nil, fmt.Errorf("serve target: certificates: %w", err)
	}
	caPEM, err := os.ReadFile(mtls.CAFile(s.tlsDir))
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, errors.New("serve target: the generated CA does not parse")
	}
	tokens := map[string]string{}
	var file strings.Builder
	for _, role := range serveTokenRoles {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		tokens[role] = hex.EncodeToString(b)
		fmt.Fprintf(&file, "%s chaos-%s %s\n", role, role, tokens[role])
	}
	s.tokens = filepath.Join(s.tlsDir, "tokens")
	if err := os.WriteFile(s.tokens, []byte(file.String()), 0o600); err != nil {
		return nil, nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, tokens, nil
}

// args are node name's serve arguments.
func (s *serveCluster) args(name, dataDir string) []string {
	var peers []string
	for _, n := range s.names {
		addr := s.raftAddr[n]
		if n != name {
			addr = s.links[[2]string{name, n}].addr()
		}
		peers = append(peers, n+"="+addr)
	}
	args := []string{"serve", "--id", name, "--peers", strings.Join(peers, ","), "--data", dataDir,
		"--http", s.httpAddr[name], "--no-ui"}
	if s.cfg.Serve.Secure {
		args = append(args, "--tls-dir", s.tlsDir, "--auth-tokens", s.tokens)
	}
	if s.cfg.processFaults() {
		args = append(args, s.cfg.TestFaultsFlag)
	}
	return append(args, s.cfg.Args...)
}

// setGrudge cuts exactly the links a grudge names (nil heals all).
func (s *serveCluster) setGrudge(g map[string][]string) {
	cut := map[[2]string]bool{}
	for to, froms := range g {
		for _, from := range froms {
			cut[[2]string{from, to}] = true
		}
	}
	for k, p := range s.links {
		p.setCut(cut[k])
	}
}

// linkCuts counts the connections partitions closed.
func (s *serveCluster) linkCuts() int {
	n := 0
	for _, p := range s.links {
		p.mu.Lock()
		n += p.cuts
		p.mu.Unlock()
	}
	return n
}

func (s *serveCluster) close() {
	for _, p := range s.links {
		p.close()
	}
	for _, c := range s.work {
		c.CloseIdleConnections()
	}
	for _, c := range s.admin {
		c.CloseIdleConnections()
	}
	if s.faults != nil {
		s.faults.CloseIdleConnections()
	}
}

// leader asks every node's /status who leads and returns the name most
// of them agree on among those that say they lead ("" if none).
func (s *serveCluster) leader(ctx context.Context) string {
	for _, n := range s.names {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		st, err := s.admin[n].Status(cctx)
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.ID {
			return s.byID[st.ID]
		}
	}
	return ""
}

// readyPoll is how often a starting serve node is asked for /status.
const readyPoll = 50 * time.Millisecond

// startServeProc starts node name as a serve process and its gateway;
// init_ok is the node answering /status.
func startServeProc(env procEnv, s *serveCluster, name string, incarnation int) (*proc, error) {
	args := s.args(name, env.dataDir)
	cmd := exec.Command(env.cfg.Bin, args...)
	cmd.Stderr, cmd.Stdout = env.logFile, env.logFile
	setProcAttr(cmd)
	fmt.Fprintf(env.logFile, "=== harness: starting %s (incarnation %d) at %s: %s %v\n",
		name, incarnation, time.Now().Format(time.RFC3339Nano), env.cfg.Bin, args)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, inbox: make(chan []byte, inboxLines),
		initOK: make(chan struct{}), done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
		if !p.expected.Load() {
			env.crashed(p, p.exitErr)
		}
	}()
	go s.awaitReady(p)
	go s.gateway(env, p)
	return p, nil
}

// awaitReady marks p ready once its HTTP API answers /status.
func (s *serveCluster) awaitReady(p *proc) {
	deadline := time.Now().Add(initTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), readyPoll*4)
		_, err := s.admin[p.name].Status(ctx)
		cancel()
		if err == nil {
			if p.ready.CompareAndSwap(false, true) {
				close(p.initOK)
			}
			return
		}
		select {
		case <-p.done:
			return
		case <-time.After(readyPoll):
		}
	}
}

// gateway serves the Maelstrom lines delivered to p over its HTTP API
// until p exits: fault lines in order, client requests concurrently.
func (s *serveCluster) gateway(env procEnv, p *proc) {
	for {
		select {
		case <-p.done:
			return
		case line := <-p.inbox:
			var e envelope
			if err := json.Unmarshal(line, &e); err != nil {
				env.protoErr("%s gateway: malformed line: %v", p.name, err)
				continue
			}
			var head struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(e.Body, &head)
			if head.Type == "raftbench_fault" {
				s.postFault(env, p, e.Body)
				continue
			}
			go s.serveRequest(env, p, e)
		}
	}
}

// postFault sends one fault command to the node's test-fault endpoint.
func (s *serveCluster) postFault(env procEnv, p *proc, body json.RawMessage) {
	var cmd map[string]any
	_ = json.Unmarshal(body, &cmd)
	delete(cmd, "type")
	b, _ := json.Marshal(cmd)
	req, err := http.NewRequest(http.MethodPost, s.admin[p.name].Base()+httpapi.TestFaultPath, strings.NewReader(string(b)))
	if err == nil {
		if s.adminToken != "" {
			req.Header.Set("Authorization", "Bearer "+s.adminToken)
		}
		var resp *http.Response
		if resp, err = s.faults.Do(req); err == nil {
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			resp.Body.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(env.cfg.Log, "chaos: fault %s to %s not applied: %v\n", b, p.name, err)
	}
}

// maelstrom error codes the gateway answers with.
const (
	codeUnavailable = 11 // definite: not done
	codeCrash       = 13 // indefinite: may have been done
)

// serveRequest makes one lin-kv request's HTTP call and answers it.
func (s *serveCluster) serveRequest(env procEnv, p *proc, e envelope) {
	var req request
	if err := json.Unmarshal(e.Body, &req); err != nil {
		env.protoErr("%s gateway: malformed request: %v", p.name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.cfg.ClientTimeout())
	defer cancel()
	reply := map[string]any{"in_reply_to": req.MsgID}
	key := strconv.Itoa(req.Key)
	target := p.name
	var err error
	var value []byte
	for attempt := 0; attempt < 2; attempt++ {
		c := s.work[target]
		switch req.Type {
		case "read":
			value, err = c.Get(ctx, key)
		case "write":
			if req.Value == nil {
				err = errors.New("write without a value")
				break
			}
			err = c.Put(ctx, key, []byte(strconv.Itoa(*req.Value)), httpapi.Session{})
		case "cas":
			if req.From == nil || req.To == nil {
				err = errors.New("cas without from or to")
				break
			}
			err = c.Cas(ctx, key, strconv.Itoa(*req.From), strconv.Itoa(*req.To), req.Create, httpapi.Session{})
		default:
			reply["type"], reply["code"], reply["text"] = "error", 10, "not supported: "+req.Type
			s.answer(env, p, e.Src, reply)
			return
		}
		// A definite refusal names the leader: go there once, as a
		// serve client does (nothing was done, so nothing is repeated).
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Code == http.StatusServiceUnavailable && se.Definite &&
			se.Leader != 0 && s.byID[se.Leader] != "" && s.byID[se.Leader] != target {
			target = s.byID[se.Leader]
			continue
		}
		break
	}
	var se *httpapi.StatusError
	switch {
	case err == nil && req.Type == "read":
		reply["type"], reply["value"] = "read_ok", jsonValue(value)
	case err == nil:
		reply["type"] = req.Type + "_ok"
	case errors.Is(err, httpapi.ErrNotFound):
		reply["type"], reply["code"], reply["text"] = "error", codeKeyMissing, "key does not exist"
	case errors.Is(err, httpapi.ErrPrecondition):
		reply["type"], reply["code"], reply["text"] = "error", codeMismatch, "precondition failed"
	case errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden):
		env.protoErr("%s gateway: the node refused the harness's credentials: %v", target, err)
		reply["type"], reply["code"], reply["text"] = "error", codeUnavailable, err.Error()
	case errors.As(err, &se) && se.Definite, httpapi.NotSent(err):
		reply["type"], reply["code"], reply["text"] = "error", codeUnavailable, err.Error()
	case ctx.Err() != nil:
		return // the client has timed out already: no answer, as a node would not
	default:
		reply["type"], reply["code"], reply["text"] = "error", codeCrash, err.Error()
	}
	s.answer(env, p, e.Src, reply)
}

// jsonValue is a stored value as a Maelstrom value: the integer the
// workload wrote, or (anything else) a JSON string the checker will not
// match.
func jsonValue(v []byte) json.RawMessage {
	if n, err := strconv.Atoi(string(v)); err == nil {
		return json.RawMessage(strconv.Itoa(n))
	}
	b, _ := json.Marshal(string(v))
	return b
}

func (s *serveCluster) answer(env procEnv, p *proc, client string, reply map[string]any) {
	body, _ := json.Marshal(reply)
	line, _ := json.Marshal(envelope{Src: p.name, Dest: client, Body: body})
	env.route(p, client, append(line, '\n'))
}

// validateServe refuses what a serve cluster cannot do.
func (c *Config) validateServe() []error {
	var errs []error
	if c.Serve == nil && contains(c.Nemesis, NemesisLeaseBreak) {
		return []error{errors.New("nemesis: lease-break needs a serve cluster (--serve)")}
	}
	if !(c.LeaseBreakRate >= 0.01 && c.LeaseBreakRate <= 10) {
		errs = append(errs, fmt.Errorf("lease-break-rate: %v is outside [0.01, 10]", c.LeaseBreakRate))
	}
	if !(c.ClockBound >= 0 && c.ClockBound < 10) {
		errs = append(errs, fmt.Errorf("clock-bound: %v is outside [0, 10)", c.ClockBound))
	}
	if c.Serve == nil {
		return errs
	}
	for _, n := range c.Nemesis {
		if n == NemesisLoss || n == NemesisDup {
			errs = append(errs, fmt.Errorf("nemesis: %s drops or repeats single messages, which a serve cluster's TCP links cannot (use partition)", n))
		}
		if n == NemesisMembership {
			errs = append(errs, errors.New("nemesis: membership speaks the Maelstrom raftbench_member message, which serve processes do not take (serve's membership is its /admin/ API)"))
		}
	}
	return errs
}

// ServeSummary is summary.json's account of a serve cluster.
type ServeSummary struct {
	// Security: "mutual-tls, https, token auth" or "plain-tcp, plain-http, no auth".
	Security string `json:"security"`
	// RaftLinkCuts counts the Raft connections partitions closed.
	RaftLinkCuts int `json:"raft_link_cuts"`
	// LeaseBreaks are the leaders the lease-break nemesis isolated.
	LeaseBreaks []LeaseBreak `json:"lease_breaks,omitempty"`
}

func (c *cluster) serveSummary() *ServeSummary {
	c.mu.Lock()
	s := c.serve
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	out := &ServeSummary{Security: "plain-tcp, plain-http, no auth", RaftLinkCuts: s.linkCuts()}
	s.mu.Lock()
	out.LeaseBreaks = append(out.LeaseBreaks, s.leaseBreaks...)
	s.mu.Unlock()
	if s.cfg.Serve.Secure {
		out.Security = "mutual-tls, https, token auth (write token for the workload, admin for faults)"
	}
	return out
}
