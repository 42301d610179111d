package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// WorkloadInfo is what summary.json says about the workload that ran, so
// a reader can tell a Maelstrom-faithful run from an extended one.
type WorkloadInfo struct {
	Name string `json:"name"`
	// MaelstromFaithful: the requests, fields, values, key rotation and
	// per-key concurrency are Maelstrom's lin-kv workload's.
	MaelstromFaithful bool     `json:"maelstrom_faithful"`
	Requests          []string `json:"requests"`
	Values            string   `json:"values"`
	// ThreadsPerKey client threads share each key (2 × nodes), the first
	// ReadersPerKey of them only read, the others write and cas (one
	// write to two cas), as Maelstrom's lin-kv generator does.
	ThreadsPerKey  int `json:"threads_per_key"`
	ReadersPerKey  int `json:"readers_per_key"`
	ConcurrentKeys int `json:"concurrent_keys"`
	// CreateFraction of the cas carry create_if_not_exists (0 in lin-kv).
	CreateFraction float64 `json:"create_fraction"`
	ProcessLimit   int     `json:"process_limit"`
	KeyOps         int     `json:"key_ops"`
	Rate           float64 `json:"rate"`
	TimeoutMs      int64   `json:"client_timeout_ms"`
}

// createFraction is the share of cas requests that carry
// create_if_not_exists in the lin-kv-create workload.
const createFraction = 0.1

func (c *Config) workloadInfo() WorkloadInfo {
	w := WorkloadInfo{
		Name: c.Workload, Requests: []string{`read {key}`, `write {key, value}`, `cas {key, from, to}`},
		Values: fmt.Sprintf("integers 0..%d", c.Values-1), ThreadsPerKey: 2 * c.Nodes, ReadersPerKey: c.Nodes,
		ConcurrentKeys: c.Concurrency / (2 * c.Nodes), ProcessLimit: max(c.ProcessLimit, 0), KeyOps: c.KeyOps,
		Rate: c.Rate, TimeoutMs: c.ClientTimeout().Milliseconds(),
	}
	if c.Workload == WorkloadLinKVCreate {
		w.Requests[2] = `cas {key, from, to} (create_if_not_exists: true on a tenth)`
		w.CreateFraction = createFraction
	}
	w.MaelstromFaithful = c.Workload == WorkloadLinKV && c.Values == 5 && c.KeyOps == 0 && c.ProcessLimit == 20
	return w
}

// keyGroup is one group of 2 × nodes client threads working on one key
// at a time, as Jepsen's independent concurrent generator runs them.
// The group moves to the next key when a new client process would be the
// ProcessLimit+1-th to use the key (Jepsen's process limit) or after
// its per-key operation limit.
type keyGroup struct {
	mu      sync.Mutex
	keys    *keyCounter
	rng     *rand.Rand
	limit   int // process limit; ≤ 0: none
	keyOps  int // per-key op limit; 0: none
	key     int
	procs   map[int]bool
	ops     int
	opLimit int
}

// keyCounter hands out keys in order, 0, 1, 2, … (Jepsen's (range)).
type keyCounter struct {
	mu   sync.Mutex
	next int
}

func (k *keyCounter) take() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.next
	k.next++
	return n
}

func newKeyGroup(keys *keyCounter, rng *rand.Rand, processLimit, keyOps int) *keyGroup {
	g := &keyGroup{keys: keys, rng: rng, limit: processLimit, keyOps: keyOps}
	g.rotate()
	return g
}

func (g *keyGroup) rotate() {
	g.key, g.procs, g.ops = g.keys.take(), map[int]bool{}, 0
	g.opLimit = 0
	if g.keyOps > 0 {
		// Jepsen draws each key's limit from (0.9..1.0) × the limit, so
		// keys do not all turn over at once.
		g.opLimit = max(1, int((0.9+0.1*g.rng.Float64())*float64(g.keyOps)))
	}
}

// keyFor returns the key process's next operation goes to.
func (g *keyGroup) keyFor(process int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if (g.opLimit > 0 && g.ops >= g.opLimit) ||
		(!g.procs[process] && g.limit > 0 && len(g.procs) >= g.limit) {
		g.rotate()
	}
	g.procs[process] = true
	g.ops++
	return g.key
}

// pacer spaces operation starts across all threads: each start is a
// uniform(0, 2/Rate) draw after the one before (Jepsen's gen/stagger
// around the whole workload). A start already in the past goes at once,
// so a backlog from slow answers is caught up.
type pacer struct {
	mu   sync.Mutex
	rng  *rand.Rand
	mean time.Duration
	next time.Time
}

func (p *pacer) slot() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next.IsZero() {
		p.next = time.Now()
	}
	s := p.next
	p.next = p.next.Add(time.Duration(p.rng.Int64N(2*int64(p.mean) + 1)))
	return s
}

// worker is one client thread. Thread t talks to node t mod n as client
// c(t+1) for the whole run (Maelstrom's clients are reusable); a write or
// cas with an indeterminate outcome ends its Jepsen process, and the
// thread goes on as process t + k × Concurrency, as Jepsen's do.
type worker struct {
	cfg     Config
	thread  int
	reader  bool // reserved for reads (the first half of each group)
	rng     *rand.Rand
	net     *network
	table   *clientTable
	group   *keyGroup
	pace    *pacer
	node    string
	start   time.Time // history timestamps are nanoseconds since start
	timeout time.Duration
}

// newWorkers builds cfg.Concurrency threads in groups of 2 × nodes.
func newWorkers(cfg Config, seed uint64, net *network, table *clientTable, nodes []string, start time.Time) []*worker {
	per := 2 * cfg.Nodes
	keys := &keyCounter{}
	pace := &pacer{rng: rand.New(rand.NewPCG(seed, 0x70616365)), mean: time.Duration(float64(time.Second) / cfg.Rate)} // "pace"
	var groups []*keyGroup
	for g := range cfg.Concurrency / per {
		groups = append(groups, newKeyGroup(keys, rand.New(rand.NewPCG(seed, 0x6b657973+uint64(g))), cfg.ProcessLimit, cfg.KeyOps))
	}
	ws := make([]*worker, cfg.Concurrency)
	for t := range ws {
		ws[t] = &worker{
			cfg: cfg, thread: t, reader: t%per < cfg.Nodes,
			rng: rand.New(rand.NewPCG(seed, uint64(t)+1)), net: net, table: table,
			group: groups[t/per], pace: pace, node: nodes[t%len(nodes)], start: start,
			timeout: cfg.ClientTimeout(),
		}
	}
	return ws
}

func (w *worker) run(ctx context.Context, until time.Time) {
	client := fmt.Sprintf("c%d", w.thread+1)
	process := w.thread
	var msgID int64
	for ctx.Err() == nil {
		next := w.pace.slot()
		// A slot may lie in the past (a backlog); the run still ends on
		// the wall clock, as Jepsen's time limit does.
		if next.After(until) || !time.Now().Before(until) || !sleepCtx(ctx, time.Until(next)) {
			return
		}
		msgID++
		op := w.invoke(ctx, client, process, msgID)
		w.table.record(op)
		if op.Outcome == check.Info {
			process += w.cfg.Concurrency
		}
	}
}

// invoke sends one request and waits for its answer or the client
// timeout.
func (w *worker) invoke(ctx context.Context, client string, process int, msgID int64) check.Op {
	req, op := w.randomOp(process, msgID)
	op.Client = process
	body, _ := json.Marshal(req)
	line, _ := json.Marshal(envelope{Src: client, Dest: w.node, Body: body})
	ch := w.table.await(client, msgID)
	op.Call = int64(time.Since(w.start))
	w.net.send(client, w.node, append(line, '\n'), false)
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case b := <-ch:
		op.Return = int64(time.Since(w.start))
		if perr := classify(&op, b); perr != "" {
			w.table.protoErr("%s: %s (request %s)", w.node, perr, body)
			op.Note = perr
		}
	case <-timer.C:
		op.Outcome, op.Note = timeoutOutcome(op.Kind), "timeout"
	case <-ctx.Done():
		op.Outcome, op.Note = check.Info, "harness stopped"
	}
	if op.Outcome != check.OK {
		w.table.forget(client, msgID)
	}
	if op.Outcome == check.Info {
		op.Return = 0
	}
	if op.Note == "" {
		op.Note = w.node
	} else {
		op.Note = w.node + ": " + op.Note
	}
	return op
}

// timeoutOutcome: Maelstrom's client fails a read that timed out (reads
// are idempotent) and leaves a write or cas indeterminate.
func timeoutOutcome(k check.Kind) check.Outcome {
	if k == check.Read {
		return check.Fail
	}
	return check.Info
}

// randomOp draws the next request: a read on reader threads; otherwise
// write or cas, one to two (Jepsen's (gen/mix [w cas cas])), values from
// 0..Values-1.
func (w *worker) randomOp(process int, msgID int64) (request, check.Op) {
	k := w.group.keyFor(process)
	req := request{MsgID: msgID, Key: k}
	op := check.Op{Key: fmt.Sprint(k)}
	switch {
	case w.reader:
		req.Type, op.Kind = "read", check.Read
	case w.rng.IntN(3) == 0:
		v := w.rng.IntN(w.cfg.Values)
		req.Type, req.Value, op.Kind, op.Value = "write", &v, check.Write, fmt.Sprint(v)
	default:
		from, to := w.rng.IntN(w.cfg.Values), w.rng.IntN(w.cfg.Values)
		req.Type, req.From, req.To = "cas", &from, &to
		req.Create = w.cfg.Workload == WorkloadLinKVCreate && w.rng.Float64() < createFraction
		op.Kind, op.From, op.Value, op.CreateIfMissing = check.Cas, fmt.Sprint(from), fmt.Sprint(to), req.Create
	}
	return req, op
}
