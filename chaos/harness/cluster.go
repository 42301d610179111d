package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// maxProblems bounds the problems kept for the summary; the count goes on.
const maxProblems = 100

// cluster owns the node processes, routes their output through the
// network and injects process faults.
type cluster struct {
	cfg     Config
	names   []string
	dataDir string
	net     *network
	clients *clientTable
	serve   *serveCluster // Config.Serve: ports, link proxies, gateways

	mu          sync.Mutex
	procs       map[string]*proc
	logs        map[string]*os.File
	incarnation map[string]int
	killed      map[string]bool
	paused      map[string]bool
	diskFailed  map[string]bool // disk failed (eio, enospc) and not yet repaired
	// diskFailedInc is the incarnation whose disk failed: a node a kill's
	// stop restarted since then runs on a new disk already.
	diskFailedInc map[string]int
	// diskStops counts disk-failed nodes that had stopped by themselves
	// when the disk was repaired; diskRunning those still running (they
	// had written nothing since the fault).
	diskStops, diskRunning int
	problems               []string
	nProblems              int
	protoErrs              int
	crashes                int
}

func newCluster(cfg Config, dataDir string, net *network, clients *clientTable) *cluster {
	return &cluster{
		cfg: cfg, names: serverNames(cfg.Nodes), dataDir: dataDir, net: net, clients: clients,
		procs: map[string]*proc{}, logs: map[string]*os.File{}, incarnation: map[string]int{},
		killed: map[string]bool{}, paused: map[string]bool{}, diskFailed: map[string]bool{},
		diskFailedInc: map[string]int{},
	}
}

func (c *cluster) isServer(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.logs[name]
	return ok
}

// start spawns every node and waits until all answered init.
func (c *cluster) start() error {
	logDir := filepath.Join(c.cfg.Out, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	for _, name := range c.names {
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(nodeDataDir(c.dataDir, name), 0o755); err != nil {
			return err
		}
		c.mu.Lock()
		c.logs[name] = f
		c.mu.Unlock()
	}
	if c.cfg.Serve != nil {
		s, err := newServeCluster(c.cfg, c.dataDir, c.names)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.serve = s
		c.mu.Unlock()
		c.net.onGrudge = s.setGrudge
	}
	for _, name := range c.names {
		if _, err := c.spawn(name); err != nil {
			return err
		}
	}
	for _, name := range c.names {
		if err := c.proc(name).waitInit(initTimeout); err != nil {
			return fmt.Errorf("%w (see %s)", err, filepath.Join(logDir, name+".log"))
		}
	}
	return nil
}

func (c *cluster) spawn(name string) (*proc, error) {
	c.mu.Lock()
	c.incarnation[name]++
	env := procEnv{
		cfg: c.cfg, nodes: c.names, dataDir: nodeDataDir(c.dataDir, name), logFile: c.logs[name],
		route: c.route, protoErr: c.protoErr, crashed: c.crashed, serve: c.serve,
	}
	inc := c.incarnation[name]
	c.mu.Unlock()
	p, err := startProc(env, name, inc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return p, nil
}

func (c *cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// route sends a node's line on: to another node or to a client.
func (c *cluster) route(p *proc, dest string, line []byte) {
	switch {
	case c.isServer(dest):
		c.net.send(p.name, dest, line, true)
	case strings.HasPrefix(dest, "c"):
		c.net.send(p.name, dest, line, false)
	default:
		c.protoErr("%s: message to unknown destination %q: %.200s", p.name, dest, line)
	}
}

// deliver is the network's sink.
func (c *cluster) deliver(d delivery) {
	if c.isServer(d.dest) {
		if p := c.proc(d.dest); p != nil && !p.deliver(d.line) {
			c.net.countDropped()
		}
		return
	}
	c.clients.deliver(d)
}

func (c *cluster) protoErr(format string, args ...any) {
	c.mu.Lock()
	c.protoErrs++
	c.mu.Unlock()
	c.problem("protocol: "+format, args...)
}

func (c *cluster) crashed(p *proc, err error) {
	c.mu.Lock()
	c.crashes++
	c.mu.Unlock()
	c.problem("%s exited on its own: %v (see logs/%s.log)", p.name, err, p.name)
}

func (c *cluster) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.nProblems++
	keep := len(c.problems) < maxProblems
	if keep {
		c.problems = append(c.problems, msg)
	}
	c.mu.Unlock()
	if keep {
		fmt.Fprintln(c.cfg.Log, "problem:", msg)
	}
}

// kill SIGKILLs the named nodes.
func (c *cluster) kill(names []string) {
	for _, name := range names {
		if p := c.proc(name); p != nil {
			p.kill()
		}
		c.mu.Lock()
		c.killed[name] = true
		c.mu.Unlock()
	}
}

// restart starts killed nodes again, each with a fresh init, and waits
// for their init_ok: on the data directory they had (KillKeepData) or on
// an empty one (KillWipeData). Until init_ok nothing else reaches a node.
func (c *cluster) restart(ctx context.Context, names []string) error {
	var errs []string
	for _, name := range names {
		c.mu.Lock()
		dead := c.killed[name]
		delete(c.killed, name)
		if dead {
			delete(c.paused, name) // a new process is not paused
		}
		c.mu.Unlock()
		if !dead {
			continue
		}
		var err error
		if c.cfg.KillMode == KillWipeData {
			err = wipeDir(nodeDataDir(c.dataDir, name))
		}
		var p *proc
		if err == nil {
			p, err = c.spawn(name)
		}
		if err == nil {
			err = p.waitInit(initTimeout)
		}
		if err != nil {
			errs = append(errs, err.Error())
			c.problem("restart: %v", err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// wipeDir empties dir, keeping the directory itself.
func wipeDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("wiping %s: %w", dir, err)
	}
	return os.MkdirAll(dir, 0o755)
}

func (c *cluster) pause(names []string, on bool) {
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	for _, name := range names {
		if p := c.proc(name); p != nil {
			p.signal(sig)
		}
		c.mu.Lock()
		c.paused[name] = on
		c.mu.Unlock()
	}
}

// faultLine sends a node one fault-injection line (see maelstrom's
// faults.go for the format).
func (c *cluster) faultLine(name string, body map[string]any) {
	p := c.proc(name)
	c.mu.Lock()
	dead := c.killed[name]
	c.mu.Unlock()
	if p == nil || dead {
		return // a node that is down has no disk or clock to disturb
	}
	c.sendFault(p, body)
}

func (c *cluster) sendFault(p *proc, body map[string]any) {
	name := p.name
	body["type"] = "raftbench_fault"
	b, _ := json.Marshal(body)
	line, _ := json.Marshal(envelope{Src: controlClient, Dest: name, Body: b})
	if !p.deliver(append(line, '\n')) {
		fmt.Fprintf(c.cfg.Log, "chaos: fault line to %s not delivered (node restarting or inbox full)\n", name)
	}
}

// diskFault starts a disk fault on the named nodes. A failing disk
// (eio, enospc) stops the node, documented behaviour: its exit is
// expected, and the disk's repair restarts it on its data directory.
func (c *cluster) diskFault(names []string, mode string) {
	for _, name := range names {
		if mode != DiskSlow {
			p := c.proc(name)
			c.mu.Lock()
			if p == nil || c.killed[name] {
				c.mu.Unlock()
				continue // not running: nothing to fail
			}
			c.killed[name], c.diskFailed[name] = true, true
			c.diskFailedInc[name] = c.incarnation[name]
			c.mu.Unlock()
			p.expected.Store(true)
			c.sendFault(p, map[string]any{"fault": "disk", "mode": mode})
			continue
		}
		c.faultLine(name, map[string]any{"fault": "disk", "mode": mode})
	}
}

// diskRepair ends the disk faults on the named nodes: a slow disk is
// healthy again, a failed one is replaced and its node restarted.
func (c *cluster) diskRepair(ctx context.Context, names []string) error {
	var restart []string
	for _, name := range names {
		c.mu.Lock()
		failed := c.diskFailed[name]
		restarted := c.incarnation[name] != c.diskFailedInc[name]
		delete(c.diskFailed, name)
		delete(c.diskFailedInc, name)
		c.mu.Unlock()
		if !failed {
			c.faultLine(name, map[string]any{"fault": "disk", "mode": "ok"})
			continue
		}
		if restarted {
			continue // a kill's stop restarted it already, on a good disk
		}
		if p := c.proc(name); p != nil {
			select {
			case <-p.done:
				c.mu.Lock()
				c.diskStops++
				c.mu.Unlock()
			default:
				c.mu.Lock()
				c.diskRunning++
				c.mu.Unlock()
				p.kill()
			}
		}
		c.mu.Lock()
		c.killed[name] = true // so restart starts it, whatever ran meanwhile
		c.mu.Unlock()
		restart = append(restart, name)
	}
	return c.restart(ctx, restart)
}

// clockFault makes the named nodes' clocks jump or drift, or (mode
// "ok") puts them right.
func (c *cluster) clockFault(names []string, e Event) {
	for _, name := range names {
		body := map[string]any{"fault": "clock", "mode": e.Mode}
		switch e.Mode {
		case ClockJump:
			body["offset_ms"] = e.OffsetMs
		case ClockDrift:
			body["rate"] = e.Rate
		}
		c.faultLine(name, body)
	}
}

// healProcesses resumes paused nodes and restarts killed ones.
func (c *cluster) healProcesses(ctx context.Context) error {
	if c.cfg.processFaults() {
		c.mu.Lock()
		var failed []string
		for n := range c.diskFailed {
			failed = append(failed, n)
		}
		c.mu.Unlock()
		if err := c.diskRepair(ctx, failed); err != nil {
			return err
		}
		for _, n := range c.names {
			c.mu.Lock()
			dead := c.killed[n]
			c.mu.Unlock()
			if !dead {
				c.faultLine(n, map[string]any{"fault": "disk", "mode": "ok"})
				c.faultLine(n, map[string]any{"fault": "clock", "mode": "ok"})
			}
		}
	}
	c.mu.Lock()
	var paused, killed []string
	for n, on := range c.paused {
		if on {
			paused = append(paused, n)
		}
	}
	for n := range c.killed {
		killed = append(killed, n)
	}
	c.mu.Unlock()
	c.pause(paused, false)
	return c.restart(ctx, killed)
}

// shutdown stops every node (in parallel, each within stopGrace) and
// closes the logs. Safe to call more than once.
func (c *cluster) shutdown() {
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	c.mu.Lock()
	for _, f := range c.logs {
		f.Close()
	}
	if c.serve != nil {
		c.serve.close()
	}
	c.mu.Unlock()
}

func (c *cluster) snapshot() (problems []string, nProblems, protoErrs, crashes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...), c.nProblems, c.protoErrs, c.crashes
}
