package ui

import (
	"strings"
	"testing"

	"github.com/raftbench/raftbench/chaos/explore"
)

// TestRecordCounterexample reads a counterexample written by
// `raftbench explore --bug ack-before-persist --out FILE`: one step per
// action after the initial state, each delivered message matched to the
// action that sent it, the violation on the last step.
func TestRecordCounterexample(t *testing.T) {
	raw, err := explore.ReadFile("testdata/explore-counterexample.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := RecordCounterexample(raw, "explore --replay cx.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Steps) != len(raw.Actions)+1 || rec.Report.Passed || rec.Report.Failure == nil {
		t.Fatalf("%d steps for %d actions, report %+v", len(rec.Steps), len(raw.Actions), rec.Report)
	}
	last := rec.Steps[len(rec.Steps)-1]
	if last.Failure == nil || last.Failure.Invariant != "acked-durable-quorum" || rec.Report.Failure.Event != last.No {
		t.Errorf("violation not on the last step: %+v", last)
	}
	sent := map[uint64]bool{}
	for i, s := range rec.Steps {
		for _, m := range s.Sent {
			sent[m.ID] = true
		}
		if i == 0 {
			continue
		}
		a := raw.Actions[i-1]
		if a.Kind == explore.Deliver {
			if s.Msg == nil || !sent[s.Msg.ID] || !s.Delivered || !strings.HasPrefix(a.Msg, s.Msg.Type+" ") {
				t.Errorf("step %d delivers %q: replay message %+v", i, a.Msg, s.Msg)
			}
		}
	}
	if len(rec.Report.Final) != 3 || rec.Report.Final[0].Role != "leader" {
		t.Errorf("final states %+v", rec.Report.Final)
	}
	for _, bad := range []*explore.Counterexample{nil, {Format: explore.FormatVersion},
		{Format: explore.FormatVersion, Steps: []explore.Step{{InFlight: []string{"garbage"}}}}} {
		if _, err := RecordCounterexample(bad, "x"); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
