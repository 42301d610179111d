package engine

import (
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestVoteGranting pins §5.2 (one vote per term, term rules) and §5.4.1
// (the candidate's log must be at least as up to date).
func TestVoteGranting(t *testing.T) {
	const T = raftpb.MsgVote
	for _, tc := range []struct {
		name     string
		hs       raftpb.HardState
		log      []uint64 // terms of node 1's log
		in       raftpb.Message
		wantResp string // "grant", "reject" or "none"
		wantTerm uint64
		wantVote uint64
	}{
		{"fresh node grants", raftpb.HardState{}, nil,
			raftpb.Message{Type: T, From: 2, Term: 1}, "grant", 1, 2},
		{"stale term ignored (§5.1)", raftpb.HardState{Term: 3}, nil,
			raftpb.Message{Type: T, From: 2, Term: 2}, "none", 3, 0},
		{"one vote per term", raftpb.HardState{Term: 2, Vote: 3}, nil,
			raftpb.Message{Type: T, From: 2, Term: 2}, "reject", 2, 3},
		{"repeat request from the same candidate", raftpb.HardState{Term: 2, Vote: 2}, nil,
			raftpb.Message{Type: T, From: 2, Term: 2}, "grant", 2, 2},
		{"higher term clears the vote", raftpb.HardState{Term: 2, Vote: 3}, nil,
			raftpb.Message{Type: T, From: 2, Term: 3}, "grant", 3, 2},
		{"shorter log, same last term (§5.4.1)", raftpb.HardState{Term: 2}, []uint64{1, 2, 2},
			raftpb.Message{Type: T, From: 2, Term: 3, Index: 2, LogTerm: 2}, "reject", 3, 0},
		{"longer log, older last term (§5.4.1)", raftpb.HardState{Term: 2}, []uint64{1, 2},
			raftpb.Message{Type: T, From: 2, Term: 3, Index: 5, LogTerm: 1}, "reject", 3, 0},
		{"shorter log, newer last term", raftpb.HardState{Term: 3}, []uint64{1, 1, 1},
			raftpb.Message{Type: T, From: 2, Term: 4, Index: 1, LogTerm: 3}, "grant", 4, 2},
		{"equal logs", raftpb.HardState{Term: 2}, []uint64{1, 2},
			raftpb.Message{Type: T, From: 2, Term: 3, Index: 2, LogTerm: 2}, "grant", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{ID: 1, Voters: []uint64{1, 2, 3}, HardState: tc.hs, Entries: entsOf(tc.log...)})
			if err != nil {
				t.Fatal(err)
			}
			tc.in.To = 1
			step(t, c, tc.in)
			rd := takeReady(c)
			got := "none"
			if len(rd.MessagesAfterPersist) == 1 && rd.MessagesAfterPersist[0].Type == raftpb.MsgVoteResp {
				got = map[bool]string{false: "grant", true: "reject"}[rd.MessagesAfterPersist[0].Reject]
			}
			if len(rd.Messages) != 0 {
				t.Errorf("vote answers must wait for persistence, got Messages %s", msgsString(rd.Messages))
			}
			if got != tc.wantResp || c.Term() != tc.wantTerm || c.vote != tc.wantVote {
				t.Fatalf("resp=%s term=%d vote=%d, want %s %d %d", got, c.Term(), c.vote, tc.wantResp, tc.wantTerm, tc.wantVote)
			}
			if tc.wantVote != tc.hs.Vote && !rd.HardStateChanged {
				t.Fatal("vote changed without HardStateChanged")
			}
		})
	}
}

// TestSplitVote pins §5.2: two candidates in the same term can split the
// votes; nobody wins that term, and randomized timeouts resolve it in a
// later one.
func TestSplitVote(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.PreVote = false })
	for _, id := range []uint64{1, 2} {
		c := cl.cores[id]
		for c.Role() != Candidate {
			c.Tick()
		}
	}
	r1, r2 := takeReady(cl.cores[1]), takeReady(cl.cores[2])
	// Node 3 hears candidate 1 first, node 4 hears candidate 2 first.
	order := []raftpb.Message{}
	for _, m := range r1.MessagesAfterPersist {
		if m.To == 3 {
			order = append(order, m)
		}
	}
	for _, m := range r2.MessagesAfterPersist {
		if m.To == 4 {
			order = append(order, m)
		}
	}
	for _, ms := range [][]raftpb.Message{r1.MessagesAfterPersist, r2.MessagesAfterPersist} {
		for _, m := range ms {
			if m.To != 3 && m.To != 4 || (m.From == 1 && m.To == 4) || (m.From == 2 && m.To == 3) {
				order = append(order, m)
			}
		}
	}
	for _, m := range order {
		cl.deliver(m)
	}
	cl.stabilize()
	// Each candidate got 2 of 4 votes: both lost term 1 and nobody leads.
	for _, id := range cl.ids {
		if c := cl.cores[id]; c.Role() == Leader || c.Term() != 1 || c.Leader() != 0 {
			t.Fatalf("node %d: %v term %d lead %d, want no leader in term 1 (split vote)", id, c.Role(), c.Term(), c.Leader())
		}
	}
	// Ticking everyone: the randomized timeouts elect exactly one leader
	// in a later term.
	for i := 0; i < 200 && cl.leader() == 0; i++ {
		for _, id := range cl.ids {
			cl.cores[id].Tick()
		}
		cl.stabilize()
	}
	l := cl.leader()
	if l == 0 || cl.cores[l].Term() < 2 {
		t.Fatalf("no leader after split vote (leader %d)", l)
	}
}

// TestStaleLeaderStepsDown pins §5.1: any message with a higher term
// turns a leader into a follower of that term.
func TestStaleLeaderStepsDown(t *testing.T) {
	for _, tc := range []struct {
		in       raftpb.Message
		wantLead uint64
	}{
		{raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, Term: 5}, 2},
		{raftpb.Message{Type: raftpb.MsgApp, From: 2, Term: 5, Index: 0}, 2},
		{raftpb.Message{Type: raftpb.MsgAppResp, From: 3, Term: 5}, 0},
		{raftpb.Message{Type: raftpb.MsgVote, From: 3, Term: 5, Index: 9, LogTerm: 9}, 0},
		{raftpb.Message{Type: raftpb.MsgHeartbeatResp, From: 3, Term: 5}, 0},
	} {
		cl := newCluster(t, 3, func(c *Config) { c.CheckQuorum = false })
		cl.elect(1)
		tc.in.To = 1
		step(t, cl.cores[1], tc.in)
		c := cl.cores[1]
		if c.Role() != Follower || c.Term() != 5 || c.Leader() != tc.wantLead {
			t.Errorf("%v: %v term %d lead %d, want follower term 5 lead %d", tc.in, c.Role(), c.Term(), c.Leader(), tc.wantLead)
		}
	}
	// Whole cluster: the old leader, cut off while 2 was elected, learns
	// the new term from the new leader's heartbeat after healing.
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.isolate(1)
	cl.elect(2)
	cl.heal()
	cl.cores[2].Tick()
	cl.stabilize()
	if c := cl.cores[1]; c.Role() != Follower || c.Leader() != 2 || c.Term() != cl.cores[2].Term() {
		t.Fatalf("old leader: %v lead %d term %d", c.Role(), c.Leader(), c.Term())
	}
}

// TestPreVoteDoesNotRaiseTerms pins thesis §9.6: a node cut off from the
// cluster keeps its term while it times out, so on return it does not
// depose the leader. Without pre-vote it does.
func TestPreVoteDoesNotRaiseTerms(t *testing.T) {
	for _, tc := range []struct {
		preVote        bool
		wantTerm3      uint64 // node 3's term after 100 lonely ticks
		wantLeaderKept bool
	}{
		{true, 1, true},
		{false, 0 /* >1, checked below */, false},
	} {
		cl := newCluster(t, 3, func(c *Config) { c.PreVote = tc.preVote; c.CheckQuorum = false })
		cl.elect(1)
		cl.isolate(3)
		for i := 0; i < 100; i++ {
			cl.cores[3].Tick()
			cl.stabilize()
		}
		t3 := cl.cores[3].Term()
		if tc.preVote && t3 != tc.wantTerm3 {
			t.Fatalf("pre-vote on: isolated node raised its term to %d", t3)
		}
		if !tc.preVote && t3 <= 1 {
			t.Fatalf("pre-vote off: isolated node kept term %d (test is not exercising anything)", t3)
		}
		cl.heal()
		cl.cores[1].Tick() // heartbeat
		cl.stabilize()
		kept := cl.cores[1].Role() == Leader && cl.cores[1].Term() == 1
		if kept != tc.wantLeaderKept {
			t.Fatalf("preVote=%v: leader kept=%v (node 1 %v term %d)", tc.preVote, kept, cl.cores[1].Role(), cl.cores[1].Term())
		}
	}
}

// TestPreVoteRefusedWhileLeaderAlive pins §9.6: a node that heard from a
// leader within the election timeout refuses pre-votes.
func TestPreVoteRefusedWhileLeaderAlive(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.CheckQuorum = false })
	cl.elect(1)
	c := cl.cores[2]
	step(t, c, raftpb.Message{Type: raftpb.MsgPreVote, From: 3, To: 2, Term: 2, Index: 99, LogTerm: 1})
	rd := takeReady(c)
	if len(rd.Messages) != 1 || !rd.Messages[0].Reject || c.Term() != 1 {
		t.Fatalf("pre-vote with live leader: %s term %d", msgsString(rd.Messages), c.Term())
	}
}

// TestCheckQuorum pins thesis §6.2: a leader that has not heard from a
// quorum for an election timeout steps down; without check-quorum it
// stays leader.
func TestCheckQuorum(t *testing.T) {
	for _, tc := range []struct {
		checkQuorum bool
		want        Role
	}{{true, Follower}, {false, Leader}} {
		cl := newCluster(t, 3, func(c *Config) { c.CheckQuorum = tc.checkQuorum })
		cl.elect(1)
		cl.isolate(1)
		for i := 0; i < 2*cl.cores[1].cfg.ElectionTicks; i++ {
			cl.cores[1].Tick()
			cl.stabilize()
		}
		if got := cl.cores[1].Role(); got != tc.want {
			t.Fatalf("checkQuorum=%v: isolated leader is %v, want %v", tc.checkQuorum, got, tc.want)
		}
	}
	// A leader that does hear from a quorum keeps leading.
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.isolate(3)
	for i := 0; i < 5*cl.cores[1].cfg.ElectionTicks; i++ {
		cl.cores[1].Tick()
		cl.stabilize()
	}
	if cl.cores[1].Role() != Leader {
		t.Fatal("leader with a live quorum stepped down")
	}
}

// TestCheckQuorumLease pins thesis §4.2.3: with check-quorum, a follower
// that heard from its leader recently ignores a higher-term vote request
// (no term change, no answer), unless it is a leadership transfer.
func TestCheckQuorumLease(t *testing.T) {
	for _, tc := range []struct {
		ctx      []byte
		wantTerm uint64
	}{{nil, 1}, {campaignTransfer, 2}} {
		cl := newCluster(t, 3, nil)
		cl.elect(1)
		c := cl.cores[2]
		step(t, c, raftpb.Message{Type: raftpb.MsgVote, From: 3, To: 2, Term: 2, Index: 9, LogTerm: 1, Context: tc.ctx})
		if c.Term() != tc.wantTerm {
			t.Fatalf("ctx=%q: term %d, want %d", tc.ctx, c.Term(), tc.wantTerm)
		}
	}
}
