package ui

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/raftbench/raftbench/chaos/explore"
	"github.com/raftbench/raftbench/chaos/sim"
)

// cxStepUs is the virtual time an action takes in the replay, so that
// messages animate between the action that sent them and the one that
// delivered them.
const cxStepUs = 10_000

// msgText matches raftpb.Message.String(): "MsgApp 1->2 t1 idx=0 lt=0 c=0 ents=[1..1] ...".
var msgText = regexp.MustCompile(`^(\S+) (\d+)->(\d+) t(\d+) idx=(\d+) lt=(\d+) c=(\d+)(?: ents=\[(\d+)\.\.(\d+)\])?`)

func parseMsg(s string) (sim.StepMsg, error) {
	m := msgText.FindStringSubmatch(s)
	if m == nil {
		return sim.StepMsg{}, fmt.Errorf("message %q: not in raftpb.Message's text form", s)
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(m[i], 10, 64); return v }
	out := sim.StepMsg{Type: m[1], From: n(2), To: n(3), Term: n(4), Index: n(5), LogTerm: n(6), Commit: n(7),
		Reject: strings.Contains(s, "reject")}
	if m[8] != "" {
		out.Entries = int(n(9) - n(8) + 1)
	}
	return out, nil
}

// RecordCounterexample turns an exploration counterexample (its steps,
// as explore.Replay or explore.ReadFile give them) into a replay: one
// step per action (step 0 is the initial state), messages in flight from
// the action that sent them to the one that delivered, dropped or
// duplicated them, the violation on its step.
func RecordCounterexample(cx *explore.Counterexample, title string) (*Recording, error) {
	if cx == nil || len(cx.Steps) == 0 {
		return nil, fmt.Errorf("counterexample: no steps")
	}
	rec := &Recording{Title: title, Params: fmt.Sprintf("exploration counterexample, %d actions", len(cx.Steps)-1)}
	// Messages are matched across steps by their text: a copy that
	// appears is sent, one that disappears is gone (delivered or dropped).
	live := map[string][]int{} // text → indexes into msgs of copies in flight
	type flight struct {
		msg  sim.StepMsg
		step int
	}
	var msgs []flight
	gone := map[int]int{} // msgs index → step at which it left
	perStep := make([][]int, len(cx.Steps))
	took := make([]int, len(cx.Steps)) // msgs index the step's action consumed (-1 none)
	for i, st := range cx.Steps {
		took[i] = -1
		count := map[string]int{}
		for _, t := range st.InFlight {
			count[t]++
		}
		for t, ids := range live {
			for len(ids) > count[t] { // copies that left: the action's message first
				j := ids[0]
				ids = ids[1:]
				gone[j] = i
				if st.Action != nil && st.Action.Msg == t && took[i] < 0 {
					took[i] = j
				}
			}
			live[t] = ids
		}
		for t, c := range count {
			for len(live[t]) < c {
				m, err := parseMsg(t)
				if err != nil {
					return nil, fmt.Errorf("counterexample step %d: %w", i, err)
				}
				m.ID = uint64(len(msgs) + 1)
				msgs = append(msgs, flight{m, i})
				live[t] = append(live[t], len(msgs)-1)
				perStep[i] = append(perStep[i], len(msgs)-1)
			}
		}
	}
	last := len(cx.Steps)
	for j := range msgs {
		at, ok := gone[j]
		if !ok {
			at = last
		}
		msgs[j].msg.DeliverAtUs = int64(at) * cxStepUs
	}
	var prev []sim.NodeState
	for i, st := range cx.Steps {
		s := sim.Step{No: uint64(i), AtUs: int64(i) * cxStepUs, Kind: "initial"}
		text := fmt.Sprintf("#%d initial state", i)
		if a := st.Action; a != nil {
			s.Kind, s.Node = a.Kind.String(), int(a.Node)
			text = fmt.Sprintf("#%d %s n%d", i, a.Kind, a.Node)
			if a.Msg != "" {
				text += " " + a.Msg
			}
		}
		if len(st.Notes) > 0 {
			text += "  // " + strings.Join(st.Notes, "; ")
		}
		if j := took[i]; j >= 0 {
			m := msgs[j].msg
			s.Msg = &m
			s.Delivered = st.Action.Kind == explore.Deliver || st.Action.Kind == explore.Duplicate
		}
		for _, j := range perStep[i] {
			s.Sent = append(s.Sent, msgs[j].msg)
		}
		for _, n := range st.Nodes {
			// A crash and its restart are one action in an exploration:
			// a node is never down between steps.
			s.Nodes = append(s.Nodes, sim.NodeState{ID: n.ID, Up: true, Role: strings.ToLower(n.Role), Term: n.Term, Vote: n.Vote, Lead: n.Leader,
				Commit: n.Commit, Applied: n.Applied, LastIndex: uint64(len(n.LogTerms))})
		}
		if v := st.Violation; v != nil {
			s.Failure = &sim.Failure{Kind: "safety", Invariant: v.Invariant, Detail: v.Detail, Event: uint64(i), AtUs: s.AtUs}
			text += "  // FAILURE: " + v.Invariant
		}
		s.Text = text
		rec.Report.Final = s.Nodes
		if statesEqual(s.Nodes, prev) {
			s.Nodes = nil
		} else {
			prev = s.Nodes
		}
		rec.Steps = append(rec.Steps, s)
	}
	rec.Report.Events = uint64(len(rec.Steps))
	rec.Report.VirtualUs = int64(len(rec.Steps)) * cxStepUs
	// A file's violation is always set; a replay that no longer fails
	// on this build has no step with one.
	failed := false
	for _, st := range cx.Steps {
		failed = failed || st.Violation != nil
	}
	rec.Report.Passed = !failed
	if v := cx.Violation; failed {
		rec.Report.Failure = &sim.Failure{Kind: "safety", Invariant: v.Invariant, Detail: v.Detail, Event: uint64(len(cx.Steps) - 1)}
		for _, s := range rec.Steps {
			if s.Failure != nil {
				rec.Report.Failure.Event = s.No
			}
		}
	}
	return rec, nil
}

func statesEqual(a, b []sim.NodeState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !nodeStateEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
