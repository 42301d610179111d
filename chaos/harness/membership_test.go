package harness

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMembershipNemesis runs raft-maelstrom under configuration changes
// (remove, add back as a learner, promote, transfer, demote, promote),
// partitions and kills: the history must be linearizable, the summary
// must count the changes performed, and the final heal must leave every
// node a voter.
func TestMembershipNemesis(t *testing.T) {
	// Safety (a valid, linearizable history; every node a voter after
	// the heal) is checked on every run. Coverage (the changes were made)
	// needs the nemesis's turns to land while nodes are up to answer: on
	// a machine busy with other tests' processes the harness's turns run
	// late and every change may be skipped or go unanswered (one CI run
	// of many: none performed), so a run that made too few gets one more,
	// twice as long, with another schedule.
	var problems []string
	for attempt, a := range []struct {
		seed int64
		time time.Duration
	}{{3, 12 * time.Second}, {4, 24 * time.Second}} {
		cfg := Config{
			Bin: raftBin, Nodes: 3, Time: a.time, Quiet: 2 * time.Second,
			Rate: 100, Concurrency: 6, Latency: 2 * time.Millisecond,
			Nemesis:         []string{NemesisMembership, NemesisPartition, NemesisKill},
			NemesisInterval: time.Second, NodeTargets: []string{TargetOne},
			Seed: a.seed, Out: t.TempDir(), Log: testLog{t},
		}
		s := runOK(t, cfg)
		if !s.Valid || !s.Linearizable || s.UnexpectedExits != 0 {
			t.Fatalf("valid=%v verdict=%s exits=%d problems=%v", s.Valid, s.Verdict, s.UnexpectedExits, s.Problems)
		}
		m := s.Membership
		if m == nil {
			t.Fatal("summary has no membership section")
		}
		if m.Final == nil || len(m.Final.Voters) != cfg.Nodes || len(m.Final.Learners) != 0 {
			t.Fatalf("after the heal: %+v, want all %d nodes voters", m.Final, cfg.Nodes)
		}
		t.Logf("attempt %d: performed %v refused %v skipped %v unknown %v; faults %v", attempt+1, m.Performed, m.Refused, m.Skipped, m.Unknown, s.FaultCounts)
		if problems = membershipCoverage(m); len(problems) == 0 {
			return
		}
		t.Logf("attempt %d made too few changes: %v", attempt+1, problems)
	}
	t.Errorf("membership changes not made: %v", problems)
}

// membershipCoverage says which kinds of change a run did not show
// made. A removal or an add-learner may time out (its node killed or cut
// off before it answered) and still happen (unknown): a learner added
// back proves a removal did, and a promotion with no demotion performed
// proves a learner was added.
func membershipCoverage(m *MembershipSummary) []string {
	var problems []string
	learnerAdded := m.Performed[MemberAddLearner] > 0 ||
		(m.Unknown[MemberAddLearner] > 0 && m.Performed[MemberPromote] > 0 && m.Performed[MemberDemote] == 0)
	if !learnerAdded {
		problems = append(problems, "no add-learner performed")
	}
	if m.Performed[MemberPromote] == 0 {
		problems = append(problems, "no promote performed")
	}
	if m.Performed[MemberRemove]+m.Unknown[MemberRemove] == 0 {
		problems = append(problems, "no removal attempted")
	}
	return problems
}

// TestMembershipNemesisNeedsSupport: a node that does not understand the
// harness's membership message makes the run fail before the workload,
// with a clear error, instead of reporting a run without changes.
func TestMembershipNemesisNeedsSupport(t *testing.T) {
	cfg := toyConfig(t, 1, NemesisMembership)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "this node does not support membership changes") {
		t.Fatalf("toy node under the membership nemesis: summary %v, error %v", s, err)
	}
	assertNoToyProcesses(t)
	cfg.Nodes = 2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "membership needs at least 3 nodes") {
		t.Fatalf("2 nodes: %v", err)
	}
}

// TestMembershipTargets: ops act on the node drawn, on the leader, or on
// the nodes the nemesis took out, and are skipped when nothing applies.
func TestMembershipTargets(t *testing.T) {
	names := []string{"n0", "n1", "n2", "n3", "n4"}
	st := &MemberStatus{Leader: "n1", Voters: []string{"n0", "n1", "n2", "n3"}, Learners: []string{"n4"}}
	for _, c := range []struct {
		e    Event
		out  []string
		want string
	}{
		{Event{Mode: MemberRemove, Nodes: []string{"n2"}}, nil, "n2"},
		{Event{Mode: MemberDemote, Shape: "leader"}, nil, "n1"},
		{Event{Mode: MemberRemove, Nodes: []string{"n4"}}, nil, "n3"}, // n4 is no voter: another one
		{Event{Mode: MemberPromote}, []string{"n4"}, "n4"},
		{Event{Mode: MemberAddLearner}, []string{"n4"}, ""}, // every node is a member
		{Event{Mode: MemberTransfer}, []string{"n2"}, "n3"}, // n4 is no voter: the last voter in order
	} {
		got, why := resolveMemberTarget(c.e, st, c.out, names, 3)
		if c.want == "" && got != "" || c.want != "" && got != c.want {
			t.Errorf("%s %v (out %v): %q (%s), want %q", c.e.Mode, c.e.Nodes, c.out, got, why, c.want)
		}
	}
	three := &MemberStatus{Leader: "n0", Voters: []string{"n0", "n1", "n2"}}
	if got, why := resolveMemberTarget(Event{Mode: MemberRemove, Nodes: []string{"n1"}}, three, nil, names, 3); got != "" || !strings.Contains(why, "keeps at least 3") {
		t.Errorf("remove below the floor: %q %q", got, why)
	}
	// The schedule is a function of the seed and cycles through the ops.
	cfg := Config{Nodes: 5, Time: 30 * time.Second, NemesisInterval: time.Second, Nemesis: []string{NemesisMembership}, Seed: 4}
	a, b := Schedule(cfg), Schedule(cfg)
	if len(a) < 7 || len(a) != len(b) {
		t.Fatalf("schedule: %d then %d events", len(a), len(b))
	}
	want := []string{MemberRemove, MemberAddLearner, MemberPromote, MemberTransfer, MemberDemote, MemberPromote}
	for i := 0; i < 6; i++ {
		if a[i].Mode != want[i] || a[i].Action != "change" || a[i].AtMs != b[i].AtMs {
			t.Fatalf("event %d: %+v, want %s", i, a[i], want[i])
		}
	}
}

// TestMembershipNemesisCatchesRemovedNodeServing: raft-maelstrom with
// --unsafe-removed-reads (a node outside its configuration answers reads
// from its local state, which no longer follows the log) must be caught
// by the checker under the membership nemesis alone: the teeth of the
// mode against the bug it exists for.
func TestMembershipNemesisCatchesRemovedNodeServing(t *testing.T) {
	cfg := Config{
		Bin: raftBin, Args: []string{"--unsafe-removed-reads"}, Nodes: 3, Time: 8 * time.Second, Quiet: time.Second,
		Rate: 200, Concurrency: 12, Latency: 2 * time.Millisecond,
		Nemesis: []string{NemesisMembership}, NemesisInterval: time.Second,
		Seed: 5, Out: t.TempDir(), Log: testLog{t},
	}
	s := runOK(t, cfg)
	if s.Linearizable {
		t.Fatalf("a removed node serving stale reads was not caught: verdict %s, membership %v", s.Verdict, s.Membership.Performed)
	}
	t.Logf("caught: verdict %s on key %s; membership performed %v", s.Verdict, s.BadKey, s.Membership.Performed)
}

// TestMembershipCoverage: the coverage rule on the summaries of two CI
// runs that failed the old rule, and on a run that made every change.
func TestMembershipCoverage(t *testing.T) {
	for _, c := range []struct {
		name               string
		performed, unknown map[string]int
		want               int // problems
	}{
		{"every change made", map[string]int{MemberAddLearner: 2, MemberPromote: 4, MemberRemove: 2, MemberDemote: 2}, nil, 0},
		// The add-learner went unanswered; the promotion of the node it
		// added followed, with no demotion performed.
		{"add-learner proved by a promotion", map[string]int{MemberPromote: 1, MemberRemove: 1}, map[string]int{MemberAddLearner: 1, MemberTransfer: 1}, 0},
		// A demotion could have made the learner the promotion found.
		{"a demotion explains the learner", map[string]int{MemberPromote: 1, MemberRemove: 1, MemberDemote: 1}, map[string]int{MemberAddLearner: 1}, 1},
		// A starved harness: nothing made.
		{"nothing made", map[string]int{}, map[string]int{MemberRemove: 1, MemberTransfer: 1}, 2},
	} {
		m := &MembershipSummary{Performed: c.performed, Unknown: c.unknown}
		if got := membershipCoverage(m); len(got) != c.want {
			t.Errorf("%s: problems %v, want %d", c.name, got, c.want)
		}
	}
}
