package explore

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// FormatVersion names the counterexample file format (see doc.go).
const FormatVersion = "raftbench-explore-counterexample/1"

// Counterexample is a shortest action sequence that breaks an invariant,
// with the state after every action. It is the JSON file format.
type Counterexample struct {
	Format    string    `json:"format"`
	Config    Config    `json:"config"`
	Violation Violation `json:"violation"`
	Actions   []Action  `json:"actions"`
	Steps     []Step    `json:"steps"`
}

// Step is the state after one action (Steps[0]: the initial state).
type Step struct {
	Index     int         `json:"index"`
	Action    *Action     `json:"action,omitempty"`
	Notes     []string    `json:"notes,omitempty"`
	Nodes     []NodeState `json:"nodes"`
	InFlight  []string    `json:"in_flight"`
	Violation *Violation  `json:"violation,omitempty"`
}

// NodeState is one node's state as a reader wants it.
type NodeState struct {
	ID            uint64   `json:"id"`
	Incarnation   uint32   `json:"incarnation"`
	Role          string   `json:"role"`
	Term          uint64   `json:"term"`
	Vote          uint64   `json:"vote"`
	Leader        uint64   `json:"leader"`
	Commit        uint64   `json:"commit"`
	Applied       uint64   `json:"applied"`
	LogTerms      []uint64 `json:"log_terms"`
	DurableLast   uint64   `json:"durable_last_index"`
	DurableTerm   uint64   `json:"durable_term"`
	DurableVote   uint64   `json:"durable_vote"`
	PendingWrites int      `json:"pending_writes"`
}

func (w *world) snapshot(index int, a *Action) Step {
	st := Step{Index: index, Action: a, Notes: append([]string(nil), w.note...), InFlight: []string{}}
	for _, n := range w.n {
		s := n.core.Status()
		applied, _ := n.ap.Applied()
		hs := n.log.HardState()
		ns := NodeState{
			ID: n.id, Incarnation: n.inc, Role: n.core.Role().String(), Term: n.core.Term(),
			Vote: s.Vote, Leader: n.core.Leader(), Commit: n.commit, Applied: applied,
			DurableLast: n.log.LastIndex(), DurableTerm: hs.Term, DurableVote: hs.Vote, PendingWrites: n.log.Pending(),
			LogTerms: []uint64{},
		}
		for _, e := range n.view {
			ns.LogTerms = append(ns.LogTerms, e.Term)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	for _, m := range w.net {
		var msg raftpb.Message
		if err := raftpb.UnmarshalMessage(m.enc, &msg, raftpb.Limits{}); err == nil {
			st.InFlight = append(st.InFlight, msg.String())
		}
	}
	if w.violation != nil {
		v := *w.violation
		st.Violation = &v
	}
	return st
}

// counterexample replays the path to node i and records every step.
func (s *search) counterexample(i int32, v *Violation) *Counterexample {
	cx := &Counterexample{Format: FormatVersion, Config: s.cfg, Violation: *v}
	for _, c := range s.path(i) {
		cx.Actions = append(cx.Actions, Action{Kind: c.kind, Node: uint64(c.node), MsgHash: c.msg})
	}
	steps, _, err := Replay(cx)
	if err == nil {
		cx.Steps = steps
		for k := range cx.Actions {
			cx.Actions[k] = *steps[k+1].Action
		}
	}
	return cx
}

// Replay runs cx's actions from the initial state of cx.Config on this
// build and returns the state after each action (Steps[0] is the
// initial state) and the violation the last one produced, if any. For a
// liveness counterexample the fair suffix runs after the last action.
// An action that is not possible (a message not in flight) is an error:
// the file does not match this build's behaviour.
func Replay(cx *Counterexample) ([]Step, *Violation, error) {
	if cx.Format != FormatVersion {
		return nil, nil, fmt.Errorf("explore: counterexample format %q, want %q", cx.Format, FormatVersion)
	}
	cfg := cx.Config
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	w, err := newWorld(&cfg)
	if err != nil {
		return nil, nil, err
	}
	w.checkState()
	steps := []Step{w.snapshot(0, nil)}
	for k := range cx.Actions {
		a := cx.Actions[k]
		a.Msg = ""
		if err := w.do(&a); err != nil {
			return steps, nil, fmt.Errorf("action %d (%s): %w", k+1, cx.Actions[k], err)
		}
		steps = append(steps, w.snapshot(k+1, &a))
		if w.violation != nil && k+1 < len(cx.Actions) {
			return steps, w.violation, fmt.Errorf("explore: violation at action %d of %d", k+1, len(cx.Actions))
		}
	}
	if w.violation == nil && cx.Violation.Invariant == InvLiveness {
		if n, ok := runFairSuffix(w, cfg.LivenessSteps); !ok && w.violation == nil {
			w.violation = &Violation{Invariant: InvLiveness, Detail: fmt.Sprintf("no leader committed a new proposal within %d fault-free fair actions", n)}
		}
	}
	return steps, w.violation, nil
}

// ReadFile loads a counterexample file.
func ReadFile(path string) (*Counterexample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cx Counterexample
	if err := json.Unmarshal(b, &cx); err != nil {
		return nil, fmt.Errorf("explore: %s: %w", path, err)
	}
	if cx.Format != FormatVersion {
		return nil, fmt.Errorf("explore: %s: format %q, want %q", path, cx.Format, FormatVersion)
	}
	return &cx, nil
}

// WriteFile saves cx as indented JSON.
func (cx *Counterexample) WriteFile(path string) error {
	b, err := json.MarshalIndent(cx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Text lists the actions, one per line, with what each did.
func (cx *Counterexample) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s after %d actions: %s\n", cx.Violation.Invariant, len(cx.Actions), cx.Violation.Detail)
	for _, st := range cx.Steps[1:] {
		fmt.Fprintf(&b, "%3d. %s", st.Index, st.Action)
		if len(st.Notes) > 0 {
			fmt.Fprintf(&b, "  // %s", strings.Join(st.Notes, "; "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Mermaid draws the counterexample as the simulator's sequence diagram:
// deliveries as arrows (drops crossed out), node actions as notes.
func (cx *Counterexample) Mermaid() string {
	var lines []string
	for _, st := range cx.Steps[1:] {
		a := st.Action
		no := uint64(st.Index)
		switch a.Kind {
		case Deliver, Drop, Duplicate:
			m, ok := parseMsgText(a)
			if !ok {
				continue
			}
			if a.Kind == Duplicate {
				lines = append(lines, sim.MermaidNote(fmt.Sprintf("n%d", m.From), no, "duplicate "+a.Msg))
				continue
			}
			lines = append(lines, sim.MermaidMessage(no, &m, a.Kind == Drop))
		default:
			text := a.Kind.String()
			if len(st.Notes) > 0 {
				text += " " + strings.Join(st.Notes, ", ")
			}
			lines = append(lines, sim.MermaidNote(fmt.Sprintf("n%d", a.Node), no, text))
		}
		for _, n := range st.Notes {
			if a.Kind == Deliver && strings.Contains(n, "leader") {
				lines = append(lines, sim.MermaidNote(fmt.Sprintf("n%d", a.Node), no, n))
			}
		}
	}
	nodes := cx.Config.Nodes
	lines = append(lines, sim.MermaidNote(fmt.Sprintf("n1,n%d", nodes), uint64(len(cx.Actions)),
		"FAILURE "+cx.Violation.Invariant+" "+cx.Violation.Detail))
	return sim.MermaidDiagram(nodes, lines)
}

// parseMsgText recovers the fields a diagram shows from an action's
// message text (the format of raftpb.Message.String).
func parseMsgText(a *Action) (raftpb.Message, bool) {
	var m raftpb.Message
	var typ string
	n, _ := fmt.Sscanf(a.Msg, "%s %d->%d t%d idx=%d lt=%d c=%d", &typ, &m.From, &m.To, &m.Term, &m.Index, &m.LogTerm, &m.Commit)
	if n < 3 {
		return m, false
	}
	for _, t := range raftpb.AllMessageTypes() {
		if t.String() == typ {
			m.Type = t
		}
	}
	m.Reject = strings.Contains(a.Msg, " reject")
	if i := strings.Index(a.Msg, "ents=["); i >= 0 {
		var lo, hi uint64
		if k, _ := fmt.Sscanf(a.Msg[i:], "ents=[%d..%d]", &lo, &hi); k == 2 && hi >= lo {
			m.Entries = make([]raftpb.Entry, hi-lo+1)
		}
	}
	return m, true
}
