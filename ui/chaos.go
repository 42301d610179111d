package ui

import (
	"sync"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/chaos/harness"
)

// maxChaosOps bounds what a chaos view keeps (the harness itself keeps
// at most its own history limit).
const maxChaosOps = 1_000_000

// ChaosOp is one client operation of a chaos run.
type ChaosOp struct {
	Client  int    `json:"client"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	From    string `json:"from,omitempty"`
	Missing bool   `json:"missing,omitempty"`
	// Mismatch: a cas whose precondition failed.
	Mismatch bool    `json:"mismatch,omitempty"`
	CallMs   float64 `json:"call_ms"`
	ReturnMs float64 `json:"return_ms"`
	Outcome  string  `json:"outcome"` // ok, fail, info
	Note     string  `json:"note,omitempty"`
}

// Nemesis is one fault action of a chaos run.
type Nemesis struct {
	AtMs   float64  `json:"at_ms"`
	Kind   string   `json:"kind"`
	Action string   `json:"action"`
	Text   string   `json:"text"`
	Nodes  []string `json:"nodes,omitempty"`
	Err    string   `json:"error,omitempty"`
}

// Verdict is the end of a chaos run.
type Verdict struct {
	Valid        bool     `json:"valid"`
	Linearizable bool     `json:"linearizable"`
	Verdict      string   `json:"verdict"`
	BadKey       string   `json:"bad_key,omitempty"`
	Problems     []string `json:"problems,omitempty"`
}

// Chaos collects a chaos run as it is recorded; it is the harness's
// Config.Observer. Its methods are safe for
// concurrent use and never block for long (one mutex, appends only).
type Chaos struct {
	mu      sync.Mutex
	title   string
	started time.Time
	ended   time.Time
	runAt   time.Time // the workload's start, from the harness
	ops     []ChaosOp
	nemesis []Nemesis
	verdict *Verdict
	err     string
}

// NewChaos returns an empty chaos view titled title (the command line).
func NewChaos(title string) *Chaos { return &Chaos{title: title, started: time.Now()} }

// Started records when the workload started (harness.Observer).
func (c *Chaos) Started(at time.Time) {
	c.mu.Lock()
	c.runAt = at
	c.mu.Unlock()
}

// Op records a finished operation (harness.Observer).
func (c *Chaos) Op(op check.Op) {
	v := ChaosOp{Client: op.Client, Kind: op.Kind.String(), Key: op.Key, Value: op.Value, From: op.From,
		Missing: op.Missing, Mismatch: op.Mismatch, CallMs: float64(op.Call) / 1e6, ReturnMs: float64(op.Return) / 1e6,
		Outcome: op.Outcome.String(), Note: op.Note}
	if op.Outcome == check.Info {
		v.ReturnMs = -1 // never returned: open to the end of the run
	}
	c.mu.Lock()
	if len(c.ops) < maxChaosOps {
		c.ops = append(c.ops, v)
	}
	c.mu.Unlock()
}

// Fault records a nemesis action (harness.Observer).
func (c *Chaos) Fault(a harness.Applied) {
	n := Nemesis{AtMs: a.AppliedMs, Kind: a.Kind, Action: a.Action, Text: a.Event.String(), Nodes: a.Nodes, Err: a.Err}
	c.mu.Lock()
	c.nemesis = append(c.nemesis, n)
	c.mu.Unlock()
}

// Finish records the run's summary, or the error that ended it early.
func (c *Chaos) Finish(s *harness.Summary, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = time.Now()
	if err != nil {
		c.err = err.Error()
	}
	if s == nil {
		return
	}
	c.verdict = &Verdict{Valid: s.Valid, Linearizable: s.Linearizable, Verdict: s.Verdict, BadKey: s.BadKey, Problems: s.Problems}
}

var _ harness.Observer = (*Chaos)(nil)

// ChaosPage is what /ui/api/chaos answers: the operations from since on.
type ChaosPage struct {
	Title string `json:"title"`
	// ElapsedMs is the time since the view started, to the run's end
	// once it ended.
	ElapsedMs float64 `json:"elapsed_ms"`
	// RunMs is the time since the workload started (operation and fault
	// times count from there), to the run's end once it ended.
	RunMs   float64   `json:"run_ms"`
	Since   int       `json:"since"`
	Next    int       `json:"next"`
	Ops     []ChaosOp `json:"ops"`
	Nemesis []Nemesis `json:"nemesis"`
	Done    bool      `json:"done"`
	Verdict *Verdict  `json:"verdict,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// maxPage bounds one answer.
const maxPage = 20_000

func (c *Chaos) page(since int) ChaosPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	since = min(since, len(c.ops))
	last := min(len(c.ops), since+maxPage)
	end := time.Now()
	if !c.ended.IsZero() {
		end = c.ended
	}
	var run float64
	if !c.runAt.IsZero() {
		run = float64(end.Sub(c.runAt)) / 1e6
	}
	return ChaosPage{Title: c.title, ElapsedMs: float64(end.Sub(c.started)) / 1e6, RunMs: run, Since: since, Next: last,
		Ops: append([]ChaosOp{}, c.ops[since:last]...), Nemesis: append([]Nemesis{}, c.nemesis...),
		Done: c.verdict != nil || c.err != "", Verdict: c.verdict, Error: c.err}
}
