package ui

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/raftbench/raftbench/chaos/sim"
)

// MaxReplaySteps bounds a recording: a run with more events is refused
// rather than held in memory.
const MaxReplaySteps = 500_000

// Recording is one simulator run, step by step, with the simulator's own
// report beside it so the viewer can be checked against it.
type Recording struct {
	Seed uint64 `json:"seed"`
	// Title names a recording that is not a simulator seed (an
	// exploration counterexample).
	Title  string `json:"title,omitempty"`
	Params string `json:"params"`
	// Steps are the run's events in order. A step's Nodes is nil when no
	// node's state changed since the previous step (the viewer carries
	// the last states forward).
	Steps  []sim.Step `json:"steps"`
	Report Report     `json:"report"`
}

// Report is what the simulator said about the run.
type Report struct {
	Events    uint64          `json:"events"`
	Passed    bool            `json:"passed"`
	Failure   *sim.Failure    `json:"failure,omitempty"`
	TraceHash string          `json:"trace_hash"`
	Faults    string          `json:"faults"`
	Final     []sim.NodeState `json:"final"` // every node's state after the last event
	VirtualUs int64           `json:"virtual_us"`
	Ops       uint64          `json:"ops"`
}

// RecordSim runs one seed with an observer and returns its recording and
// the simulator's result. opts.Observer is replaced.
func RecordSim(seed uint64, opts sim.Options) (*Recording, sim.Result, error) {
	rec := &Recording{Seed: seed}
	var last []sim.NodeState
	var tooLong bool
	opts.Observer = func(st sim.Step) {
		if len(rec.Steps) >= MaxReplaySteps {
			tooLong = true
			return
		}
		if slices.EqualFunc(st.Nodes, last, nodeStateEqual) {
			st.Nodes = nil
		} else {
			last = st.Nodes
		}
		rec.Steps = append(rec.Steps, st)
	}
	res := sim.Run(seed, opts)
	if tooLong {
		return nil, res, fmt.Errorf("ui: seed %d ran %d events; a replay keeps at most %d", seed, res.Stats.Events, MaxReplaySteps)
	}
	rec.Params = res.Params.String()
	rec.Report = Report{Events: res.Stats.Events, Passed: res.Failure == nil, Failure: res.Failure,
		TraceHash: fmt.Sprintf("%016x", res.TraceHash), Faults: sim.FaultSummary(res.Stats), Final: last,
		VirtualUs: res.Stats.VirtualUs, Ops: res.Stats.OpsOK + res.Stats.OpsFail + res.Stats.OpsInfo}
	return rec, res, nil
}

func nodeStateEqual(a, b sim.NodeState) bool {
	return a.ID == b.ID && a.Up == b.Up && a.Dead == b.Dead && a.Role == b.Role && a.Term == b.Term &&
		a.Vote == b.Vote && a.Lead == b.Lead && a.Commit == b.Commit && a.Applied == b.Applied &&
		a.LastIndex == b.LastIndex && a.Snapshot == b.Snapshot && slices.Equal(a.Voters, b.Voters)
}

// Replays holds the recordings a view serves, by seed.
type Replays struct {
	mu   sync.RWMutex
	runs map[uint64]*Recording
}

// NewReplays returns an empty set.
func NewReplays() *Replays { return &Replays{runs: map[uint64]*Recording{}} }

// Add makes rec available at /ui/sim?seed=N.
func (r *Replays) Add(rec *Recording) {
	r.mu.Lock()
	r.runs[rec.Seed] = rec
	r.mu.Unlock()
}

// Get returns the recording of seed, or nil.
func (r *Replays) Get(seed uint64) *Recording {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.runs[seed]
}

// Seeds lists the recorded seeds in order.
func (r *Replays) Seeds() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]uint64, 0, len(r.runs))
	for s := range r.runs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
