package ui

import (
	"sync"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
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

// Chaos collects a chaos run as it is recorded. Its methods are safe for
// concurrent use and never block for long (one mutex, appends only).
type Chaos struct {
	mu      sync.Mutex
	title   string
	started time.Time
	ops     []ChaosOp
	nemesis []Nemesis
	verdict *Verdict
	err     string
}

// NewChaos returns an empty chaos view titled title (the command line).
func NewChaos(title string) *Chaos { return &Chaos{title: title, started: time.Now()} }

// Op records a finished operation.
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

// Fault records a nemesis action applied atMs after the workload started.
func (c *Chaos) Fault(n Nemesis) {
	c.mu.Lock()
	c.nemesis = append(c.nemesis, n)
	c.mu.Unlock()
}

// Finish records the verdict (or the error that ended the run early).
func (c *Chaos) Finish(v *Verdict, err error) {
	c.mu.Lock()
	c.verdict = v
	if err != nil {
		c.err = err.Error()
	}
	c.mu.Unlock()
}

// ChaosPage is what /ui/api/chaos answers: the operations from since on.
type ChaosPage struct {
	Title     string    `json:"title"`
	ElapsedMs float64   `json:"elapsed_ms"`
	Since     int       `json:"since"`
	Next      int       `json:"next"`
	Ops       []ChaosOp `json:"ops"`
	Nemesis   []Nemesis `json:"nemesis"`
	Done      bool      `json:"done"`
	Verdict   *Verdict  `json:"verdict,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// maxPage bounds one answer.
const maxPage = 20_000

func (c *Chaos) page(since int) ChaosPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	since = min(since, len(c.ops))
	end := min(len(c.ops), since+maxPage)
	return ChaosPage{Title: c.title, ElapsedMs: float64(time.Since(c.started)) / 1e6, Since: since, Next: end,
		Ops: append([]ChaosOp{}, c.ops[since:end]...), Nemesis: append([]Nemesis{}, c.nemesis...),
		Done: c.verdict != nil || c.err != "", Verdict: c.verdict, Error: c.err}
}
