package explore

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// Coverage is what an exploration covered.
type Coverage struct {
	States       uint64  `json:"distinct_states"`
	Transitions  uint64  `json:"transitions"`
	DepthReached int     `json:"depth_reached"`
	Seconds      float64 `json:"seconds"`
	StatesPerSec float64 `json:"states_per_sec"`
	// NewByDepth[d] counts the distinct states first reached at depth d
	// (the BFS frontier at each depth).
	NewByDepth []uint64 `json:"new_states_by_depth"`
	// Pruned counts states over MaxInFlight (kept, not expanded).
	Pruned uint64 `json:"pruned_over_in_flight"`
	// Actions counts transitions by action kind; Messages the delivered
	// messages by type.
	Actions  map[string]uint64 `json:"actions"`
	Messages map[string]uint64 `json:"messages_delivered"`
	// ReplayedActions counts actions executed to rebuild states (the
	// cost of cloning a state by replaying its path).
	ReplayedActions uint64 `json:"replayed_actions"`
	// PeakHeapBytes is the largest heap seen at a progress sample.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// Complete: every state within the budgets was expanded.
	Complete bool `json:"complete"`
	// Stopped says why an incomplete run stopped.
	Stopped string `json:"stopped,omitempty"`
}

// Result is an exploration's outcome: coverage and, if an invariant
// broke, the shortest counterexample found.
type Result struct {
	Config         Config          `json:"config"`
	Coverage       Coverage        `json:"coverage"`
	Counterexample *Counterexample `json:"counterexample,omitempty"`
}

// Options are the caller's hooks.
type Options struct {
	// Progress, if set, is called about every ProgressEvery with the
	// coverage so far (the only use of the wall clock).
	Progress      func(Coverage)
	ProgressEvery time.Duration
	// Copy builds every child state from a deep copy of its parent
	// instead of replaying the child's path from the initial state. Both
	// give the same exploration (tested); replay is the default because
	// it measured faster at the depths explored (results/explore.md).
	Copy bool
}

// searchNode is one distinct state in the search tree: its parent and
// the action that reached it. A state is rebuilt by replaying the path.
type searchNode struct {
	parent int32
	depth  uint8
	act    compact
}

type search struct {
	cfg   Config
	opts  Options
	nodes []searchNode
	seen  map[uint64]uint8 // state hash -> smallest depth reached
	cov   Coverage
	start time.Time
	last  time.Time
	acts  []Action
	cx    *Counterexample
	full  bool
}

// Run explores cfg's state space.
func Run(cfg Config, opts Options) (*Result, error) {
	if cfg.Strategy == "" {
		cfg.Strategy = "bfs"
	}
	if cfg.LivenessSteps == 0 {
		cfg.LivenessSteps = 200
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = 2 * time.Second
	}
	s := &search{cfg: cfg, opts: opts, seen: map[uint64]uint8{}, start: time.Now()}
	s.last = s.start
	s.cov.Actions, s.cov.Messages = map[string]uint64{}, map[string]uint64{}
	w, err := newWorld(&s.cfg)
	if err != nil {
		return nil, err
	}
	w.checkState()
	s.seen[w.stateHash()] = 0
	s.nodes = append(s.nodes, searchNode{parent: -1})
	s.cov.States = 1
	s.cov.NewByDepth = []uint64{1}
	if w.violation != nil {
		s.cx = s.counterexample(0, w.violation)
	} else {
		switch cfg.Strategy {
		case "bfs":
			err = s.bfs()
		case "dfs":
			err = s.dfs()
		default:
			err = s.iddfs()
		}
	}
	if err != nil {
		return nil, err
	}
	s.finish()
	return &Result{Config: s.cfg, Coverage: s.cov, Counterexample: s.cx}, nil
}

// path returns the actions from the initial state to node i.
func (s *search) path(i int32) []compact {
	var p []compact
	for ; i > 0; i = s.nodes[i].parent {
		p = append(p, s.nodes[i].act)
	}
	for a, b := 0, len(p)-1; a < b; a, b = a+1, b-1 {
		p[a], p[b] = p[b], p[a]
	}
	return p
}

// replay rebuilds the state at the end of path.
func (s *search) replay(path []compact) (*world, error) {
	w, err := newWorld(&s.cfg)
	if err != nil {
		return nil, err
	}
	for _, c := range path {
		a := Action{Kind: c.kind, Node: uint64(c.node), MsgHash: c.msg}
		if err := w.do(&a); err != nil {
			return nil, fmt.Errorf("explore: replay diverged (the core is not deterministic?): %w", err)
		}
	}
	s.cov.ReplayedActions += uint64(len(path))
	return w, nil
}

// expand tries every action enabled at node i. It reports whether the
// search must stop (violation or state limit) and appends the children
// that are new states to next (BFS) or calls visit on them (DFS).
func (s *search) expand(i int32, base *world, limit int, visit func(child int32, w *world) error) (bool, error) {
	path := s.path(i)
	depth := len(path)
	var err error
	if base == nil {
		if base, err = s.replay(path); err != nil {
			return false, err
		}
	}
	s.acts = base.enabled(s.acts[:0])
	acts := append([]Action(nil), s.acts...)
	for k := range acts {
		var w *world
		switch {
		case s.opts.Copy:
			w = base.clone()
		case k == 0:
			w = base
		default:
			if w, err = s.replay(path); err != nil {
				return false, err
			}
		}
		a := acts[k]
		if err := w.do(&a); err != nil {
			return false, err
		}
		s.cov.Transitions++
		s.cov.Actions[a.Kind.String()]++
		if a.Kind == Deliver {
			s.cov.Messages[a.msgType.String()]++
		}
		h := w.stateHash()
		d, ok := s.seen[h]
		if ok && int(d) <= depth+1 && w.violation == nil {
			continue
		}
		if !ok {
			s.cov.States++
			for len(s.cov.NewByDepth) <= depth+1 {
				s.cov.NewByDepth = append(s.cov.NewByDepth, 0)
			}
			s.cov.NewByDepth[depth+1]++
		}
		s.seen[h] = uint8(depth + 1)
		s.cov.DepthReached = max(s.cov.DepthReached, depth+1)
		s.nodes = append(s.nodes, searchNode{parent: i, depth: uint8(depth + 1), act: a.compact()})
		child := int32(len(s.nodes) - 1)
		if w.violation != nil {
			s.cx = s.counterexample(child, w.violation)
			return true, nil
		}
		if s.cfg.Liveness {
			if v := s.liveness(s.path(child)); v != nil {
				s.cx = s.counterexample(child, v)
				return true, nil
			}
		}
		s.tick()
		if len(s.seen) >= s.cfg.MaxStates {
			s.cov.Stopped = fmt.Sprintf("state limit: %d distinct states kept (raise --max-states or tighten the budgets)", s.cfg.MaxStates)
			return true, nil
		}
		if len(w.net) > s.cfg.MaxInFlight {
			s.cov.Pruned++
			continue
		}
		if depth+1 < limit {
			if err := visit(child, w); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func (s *search) bfs() error {
	frontier := []int32{0}
	for depth := 0; depth < s.cfg.MaxDepth && len(frontier) > 0; depth++ {
		var next []int32
		for _, i := range frontier {
			stop, err := s.expand(i, nil, s.cfg.MaxDepth, func(c int32, _ *world) error { next = append(next, c); return nil })
			if err != nil || stop {
				return err
			}
		}
		frontier = next
	}
	s.full = true
	return nil
}

// iddfs deepens a depth-first search one level at a time; a state is
// expanded again only when reached by a shorter path than before.
func (s *search) iddfs() error {
	for limit := 1; limit <= s.cfg.MaxDepth; limit++ {
		s.seen = map[uint64]uint8{}
		s.nodes = s.nodes[:1]
		before := s.cov.States
		s.cov.States, s.cov.NewByDepth = 1, []uint64{1}
		stop, err := s.depthFirst(limit)
		if err != nil || stop {
			return err
		}
		if s.cov.States == before {
			break // the last level added nothing: the space is exhausted
		}
	}
	s.full = true
	return nil
}

// dfs reaches the depth bound under a state limit without crowding into
// one corner of the space: breadth-first until the frontier holds
// dfsFrontier states, then a depth-first search to the depth bound from
// each frontier state, each with an equal share of the states left (a
// plain depth-first search spends any limit below the first few
// actions: the crash budget, say, is then tried from one state only). A
// state is expanded again when reached by a shorter path than before
// (it has more depth left), so a run that no share and no limit stopped
// covers exactly what BFS covers.
func (s *search) dfs() error {
	frontier := []int32{0}
	depth := 0
	for ; depth < s.cfg.MaxDepth && len(frontier) > 0 && len(frontier) < dfsFrontier; depth++ {
		var next []int32
		for _, i := range frontier {
			stop, err := s.expand(i, nil, s.cfg.MaxDepth, func(c int32, _ *world) error { next = append(next, c); return nil })
			if err != nil || stop {
				return err
			}
		}
		frontier = next
	}
	cut := false
	for k, i := range frontier {
		share := uint64(max(1, (s.cfg.MaxStates-len(s.seen))/(len(frontier)-k)))
		from := s.cov.States
		var visit func(i int32, w *world) error
		visit = func(i int32, w *world) error {
			if s.cov.States-from >= share {
				cut = true
				return errShare
			}
			stop, err := s.expand(i, w, s.cfg.MaxDepth, visit)
			if err == nil && stop {
				err = errStop
			}
			return err
		}
		switch err := visit(i, nil); {
		case errors.Is(err, errStop):
			return nil
		case err != nil && !errors.Is(err, errShare):
			return err
		}
	}
	if cut {
		s.cov.Stopped = fmt.Sprintf("state limit: %d distinct states shared among %d subtrees at depth %d, some of them cut (raise --max-states or tighten the budgets)",
			s.cfg.MaxStates, len(frontier), depth)
		return nil
	}
	s.full = true
	return nil
}

// dfsFrontier is how wide dfs lets the breadth-first start grow.
const dfsFrontier = 2000

// errShare ends one subtree of dfs: its share of the states is spent.
var errShare = errors.New("explore: share spent")

// errStop unwinds a depth-first search once expand says stop (a
// violation or the state limit): no ancestor may go on to its next child.
var errStop = errors.New("explore: stop")

func (s *search) depthFirst(limit int) (bool, error) {
	var visit func(i int32, w *world) error
	visit = func(i int32, w *world) error {
		// The child's world is its state: its first child is built on it
		// (copy mode clones it; replay mode replays the others).
		stop, err := s.expand(i, w, limit, visit)
		if err == nil && stop {
			err = errStop
		}
		return err
	}
	w, err := newWorld(&s.cfg)
	if err != nil {
		return false, err
	}
	s.seen[w.stateHash()] = 0
	switch err := visit(0, w); {
	case errors.Is(err, errStop):
		return true, nil
	default:
		return false, err
	}
}

func (s *search) tick() {
	if s.cov.States%1024 != 0 || s.opts.Progress == nil {
		return
	}
	if now := time.Now(); now.Sub(s.last) >= s.opts.ProgressEvery {
		s.last = now
		s.sample()
		s.opts.Progress(s.cov)
	}
}

func (s *search) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.cov.PeakHeapBytes = max(s.cov.PeakHeapBytes, ms.HeapAlloc)
	s.cov.Seconds = time.Since(s.start).Seconds()
	if s.cov.Seconds > 0 {
		s.cov.StatesPerSec = float64(s.cov.States) / s.cov.Seconds
	}
}

func (s *search) finish() {
	s.sample()
	if s.cfg.Strategy == "dfs" {
		// A depth-first search first meets many states by long paths:
		// count each at the smallest depth it was reached.
		s.cov.NewByDepth = make([]uint64, s.cov.DepthReached+1)
		for _, d := range s.seen {
			s.cov.NewByDepth[d]++
		}
	}
	s.cov.Complete = s.full && s.cx == nil && s.cov.Stopped == ""
	if s.cx != nil {
		s.cov.Stopped = "violation: " + s.cx.Violation.Invariant
	}
}

// liveness runs a fault-free fair suffix from the end of path: messages
// delivered in send order, writes synced, the node with the most
// up-to-date log times out when nothing else can happen, one proposal at the leader. It
// returns a violation unless a leader is elected and the proposal
// commits within LivenessSteps actions.
func (s *search) liveness(path []compact) *Violation {
	w, err := s.replay(path)
	if err != nil {
		return &Violation{Invariant: InvLiveness, Detail: err.Error()}
	}
	steps, ok := runFairSuffix(w, s.cfg.LivenessSteps)
	if ok {
		return nil
	}
	if w.violation != nil {
		return w.violation
	}
	return &Violation{Invariant: InvLiveness, Detail: fmt.Sprintf("no leader committed a new proposal within %d fault-free fair actions", steps)}
}

// livenessSeq marks the suffix's proposal.
const livenessSeq = 1000

// runFairSuffix drives w fault-free; it reports how many actions it took
// and whether the suffix's proposal committed.
func runFairSuffix(w *world, limit int) (int, bool) {
	proposed := false
	want := metaOf(&raftpb.Entry{Type: raftpb.EntryNormal, Data: proposal(livenessSeq)})
	for step := 0; step < limit; step++ {
		if w.violation != nil {
			return step, false
		}
		for _, m := range w.committed {
			if proposed && m.Hash == want.Hash {
				return step, true
			}
		}
		var leader *node
		for _, n := range w.n {
			if n.core.Role() == engine.Leader && (leader == nil || n.core.Term() > leader.core.Term()) {
				leader = n
			}
		}
		switch {
		case len(w.net) > 0:
			a := Action{Kind: Deliver, MsgHash: w.net[0].hash}
			_ = w.do(&a)
		case pendingNode(w) != nil:
			a := Action{Kind: Sync, Node: pendingNode(w).id}
			_ = w.do(&a)
		case leader != nil && !proposed:
			proposed = true
			if err := leader.core.Propose(proposal(livenessSeq)); err == nil {
				w.drive(leader)
			} else {
				proposed = false
			}
		case leader != nil:
			leader.drv.Tick()
			w.drive(leader)
		default:
			// The node with the most up-to-date log stands: any other
			// could be refused forever (§5.4.1).
			best := w.n[0]
			for _, n := range w.n[1:] {
				if upToDate(n, best) {
					best = n
				}
			}
			a := Action{Kind: Timeout, Node: best.id}
			_ = w.do(&a)
		}
	}
	return limit, false
}

// upToDate reports whether a's log is strictly more up to date than b's.
func upToDate(a, b *node) bool {
	lt := func(n *node) uint64 {
		if len(n.view) == 0 {
			return 0
		}
		return n.view[len(n.view)-1].Term
	}
	if lt(a) != lt(b) {
		return lt(a) > lt(b)
	}
	return len(a.view) > len(b.view)
}

func pendingNode(w *world) *node {
	for _, n := range w.n {
		if n.log.Pending() > 0 {
			return n
		}
	}
	return nil
}
