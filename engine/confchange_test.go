package engine

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// addNode adds a core for id to cl, configured with voters.
func (cl *cluster) addNode(id uint64, voters []uint64) {
	c, err := New(Config{ID: id, Voters: voters, Seed: 1, PreVote: true, CheckQuorum: true})
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.cores[id] = c
	cl.ids = append(cl.ids, id)
}

// TestConfChangeAddVoter pins thesis §4.1: a new voter counts as soon as
// the change is in the leader's log, catches up, and the quorum grows.
func TestConfChangeAddVoter(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.addNode(4, []uint64{1, 2, 3, 4})
	l := cl.cores[1]
	if err := l.ProposeConfChange(Change(AddVoter, 4)); err != nil {
		t.Fatal(err)
	}
	if got := l.Voters(); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("leader voters %v right after appending the change", got)
	}
	if err := l.ProposeConfChange(Change(AddVoter, 5)); !errors.Is(err, ErrConfChangeInProgress) {
		t.Fatalf("second change while the first is uncommitted: %v", err)
	}
	cl.stabilize()
	l.Tick()
	cl.stabilize()
	for _, id := range cl.ids {
		if got := cl.cores[id].Voters(); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
			t.Fatalf("node %d voters %v", id, got)
		}
	}
	if st := l.Status(); st.Progress[4].Match != st.LastIndex {
		t.Fatalf("new voter not caught up: %+v", st.Progress[4])
	}
	// With 4 voters, the leader plus one follower is no longer a quorum.
	cl.isolate(3)
	cl.isolate(4)
	l.Propose([]byte("x"))
	cl.stabilize()
	if l.log.committed == l.log.lastIndex() {
		t.Fatal("committed with 2 of 4 voters")
	}
}

// TestConfChangeRemoveLeader pins thesis §4.2.2: a leader that removes
// itself keeps leading until the change commits, then steps down; the
// remaining voters elect a leader among themselves.
func TestConfChangeRemoveLeader(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	l := cl.cores[1]
	if err := l.ProposeConfChange(Change(RemoveVoter, 1)); err != nil {
		t.Fatal(err)
	}
	if l.Role() != Leader {
		t.Fatal("leader stepped down before its removal committed")
	}
	cl.stabilize()
	if l.Role() != Follower {
		t.Fatalf("removed leader is %v after commit", l.Role())
	}
	for _, id := range []uint64{2, 3} {
		if got := cl.cores[id].Voters(); !slices.Equal(got, []uint64{2, 3}) {
			t.Fatalf("node %d voters %v", id, got)
		}
	}
	cl.ids = []uint64{2, 3} // node 1 is gone
	cl.elect(2)
	cl.cores[2].Propose([]byte("after"))
	cl.stabilize()
	if cl.cores[2].log.committed != cl.cores[2].log.lastIndex() {
		t.Fatal("two-voter cluster did not commit")
	}
}

// TestConfChangeRevertedOnTruncation pins §4.1 "a server always uses the
// latest configuration in its log": when an uncommitted change is
// replaced by a new leader's entries, the follower's configuration
// reverts.
func TestConfChangeRevertedOnTruncation(t *testing.T) {
	f := newCore(t, 2, []uint64{1, 2, 3}, 0, nil, nil)
	cc := raftpb.Entry{Term: 1, Index: 1, Type: raftpb.EntryConfChange, Data: Change(RemoveVoter, 3).Encode()}
	stepT(t, f, raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, Entries: []raftpb.Entry{cc}})
	if got := f.Voters(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("voters after appending the change: %v", got)
	}
	f.electionElapsed = f.cfg.ElectionTicks // lease lapsed; a new leader from term 2
	stepT(t, f, raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 2,
		Entries: []raftpb.Entry{{Term: 2, Index: 1, Type: raftpb.EntryNoop}}})
	if got := f.Voters(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("voters after the change was truncated: %v", got)
	}
}

func TestConfChangeCodec(t *testing.T) {
	for _, cc := range []ConfChange{
		Change(RemoveVoter, 1<<40),
		{Changes: []ConfChangeSingle{{Type: AddLearner, Node: 4, Addr: "127.0.0.1:7004"}, {Type: AddVoter, Node: 5}}, Transition: TransitionJointExplicit},
		{Leave: true},
	} {
		got, err := DecodeConfChange(cc.Encode())
		if err != nil || !reflect.DeepEqual(got, cc) {
			t.Fatalf("round trip of %v: %+v %v", cc, got, err)
		}
	}
	// The original single-voter encoding (type, node big-endian) still decodes.
	if got, err := DecodeConfChange(append([]byte{2}, 0, 0, 0, 0, 0, 0, 0, 7)); err != nil || !reflect.DeepEqual(got, Change(RemoveVoter, 7)) {
		t.Fatalf("legacy encoding: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1, 2}, append([]byte{9}, make([]byte, 8)...), append([]byte{1}, make([]byte, 8)...),
		{confChangeVersion, 0, 0}, {confChangeVersion, 1, 1, 1, 2, 0}, {confChangeVersion, 6, 0}, {confChangeVersion, 0, 1, 9, 1, 0},
		{confChangeVersion, 0, 2, 1, 1, 0, 3, 1, 0}} {
		if _, err := DecodeConfChange(bad); !errors.Is(err, ErrBadConfChange) {
			t.Errorf("decode %v: %v", bad, err)
		}
	}
}

// confEnt is a membership-change entry at index of term.
func confEnt(index, term uint64, typ ConfChangeType, node uint64) raftpb.Entry {
	return raftpb.Entry{Term: term, Index: index, Type: raftpb.EntryConfChange, Data: Change(typ, node).Encode()}
}

// TestRemovedButUncommittedStillCampaigns pins thesis §4.1: "a server
// that is not part of its own latest configuration should still start
// new elections, as it might still be needed until the C_new entry is
// committed. It does not count its own vote in elections unless it is
// part of its latest configuration." Node 1 restarts with the log below
// and times out (or gets MsgTimeoutNow); the votes it asks for are a
// majority of its latest configuration.
func TestRemovedButUncommittedStillCampaigns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		voters    []uint64 // configuration at the start of the log
		log       []raftpb.Entry
		commit    uint64
		wantAsked []uint64 // vote requests sent (nil: it stays a follower)
		wantWinAt int      // grants (from wantAsked, in order) that make it leader
	}{
		{"voter in its latest configuration", []uint64{1, 2, 3}, nil, 0, []uint64{2, 3}, 1},
		{"own removal in the log, uncommitted", []uint64{1, 2, 3, 4},
			[]raftpb.Entry{confEnt(1, 1, RemoveVoter, 1)}, 0, []uint64{2, 3, 4}, 2},
		{"own removal committed: stays quiet", []uint64{1, 2, 3, 4},
			[]raftpb.Entry{confEnt(1, 1, RemoveVoter, 1)}, 1, nil, 0},
		{"never a member (a spare)", []uint64{2, 3, 4}, nil, 0, nil, 0},
		// A learner never leads, even while the change that made it one
		// looks uncommitted to it (simulator seed 3263: a lagging node
		// whose latest configuration named it a learner won an election).
		{"made a learner, uncommitted: stays quiet", []uint64{1, 2, 3, 4},
			[]raftpb.Entry{confEnt(1, 1, RemoveVoter, 1), confEnt(2, 1, AddLearner, 1)}, 0, nil, 0},
		{"added, then removal uncommitted", []uint64{2, 3, 4},
			[]raftpb.Entry{confEnt(1, 1, AddVoter, 1), confEnt(2, 1, RemoveVoter, 1)}, 1, []uint64{2, 3, 4}, 2},
	} {
		for _, how := range []string{"timeout", "MsgTimeoutNow"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				c, err := New(Config{ID: 1, Voters: tc.voters, PreVote: false, Entries: tc.log,
					HardState: raftpb.HardState{Term: 1, Commit: tc.commit}, Applied: tc.commit})
				if err != nil {
					t.Fatal(err)
				}
				if how == "timeout" {
					for i := 0; i < 2*c.cfg.ElectionTicks; i++ {
						c.Tick()
					}
				} else {
					step(t, c, raftpb.Message{Type: raftpb.MsgTimeoutNow, From: 2, To: 1, Term: 1})
				}
				var asked []uint64
				for _, m := range takeReady(c).MessagesAfterPersist {
					if m.Type == raftpb.MsgVote {
						asked = append(asked, m.To)
					}
				}
				if !slices.Equal(asked, tc.wantAsked) {
					t.Fatalf("asked %v for votes, want %v (role %v)", asked, tc.wantAsked, c.Role())
				}
				// Its own vote counts only if it is in its latest configuration.
				for i := 0; i < tc.wantWinAt; i++ {
					if c.Role() != Candidate {
						t.Fatalf("%v after %d grants, want candidate", c.Role(), i)
					}
					step(t, c, raftpb.Message{Type: raftpb.MsgVoteResp, From: tc.wantAsked[i], To: 1, Term: c.Term()})
				}
				if tc.wantWinAt > 0 && c.Role() != Leader {
					t.Fatalf("%v after %d grants, want leader", c.Role(), tc.wantWinAt)
				}
			})
		}
	}
}

// restart replaces id's core by one built from its durable state (the
// harness persists every Ready at once), as after a crash.
func (cl *cluster) restart(id uint64) {
	old := cl.cores[id]
	c, err := New(Config{ID: id, Voters: old.baseConf.Voters, Seed: 2, PreVote: old.cfg.PreVote,
		CheckQuorum: old.cfg.CheckQuorum, HardState: old.hardState(),
		Entries: old.log.all(), Applied: old.log.applied})
	if err != nil {
		cl.t.Fatalf("restart %d: %v", id, err)
	}
	cl.cores[id] = c
}

// TestRemovedLeaderWithLongestLogIsElected replays the deadlock of sim
// seed 252 (results/sim.md, core finding 3): leader 2 of {1,2,3,4}
// appends its own removal, which reaches nobody, and crashes; node 3
// dies. Nodes 1
// and 4 (still in {1,2,3,4}) need node 2's vote, which they cannot get:
// its log is longer. Only node 2 can be elected, by {1,4}, a majority of
// its latest configuration {1,3,4} (thesis §4.1). It then commits its
// removal, steps down (§4.2.2), and 1 or 4 take over.
func TestRemovedLeaderWithLongestLogIsElected(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.elect(2)
	for _, id := range cl.ids {
		cl.isolate(id)
	}
	if err := cl.cores[2].ProposeConfChange(Change(RemoveVoter, 2)); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	cl.restart(2)
	cl.heal()
	cl.isolate(3) // dead for good
	alive := []uint64{1, 2, 4}
	for i := 0; i < 50 && !(cl.leader() != 0 && cl.leader() != 2); i++ {
		for range cl.cores[1].cfg.ElectionTicks {
			for _, id := range alive {
				cl.cores[id].Tick()
			}
			cl.stabilize()
		}
	}
	l := cl.leader()
	if l != 1 && l != 4 {
		t.Fatalf("leader %d, want 1 or 4 (node 2: %v, commit %d of %d)", l, cl.cores[2].Role(),
			cl.cores[2].Status().Commit, cl.cores[2].Status().LastIndex)
	}
	for _, id := range alive {
		if got := cl.cores[id].Voters(); !slices.Equal(got, []uint64{1, 3, 4}) {
			t.Fatalf("node %d voters %v", id, got)
		}
	}
	cl.cores[l].Propose([]byte("after"))
	cl.stabilize()
	if st := cl.cores[l].Status(); st.Commit != st.LastIndex {
		t.Fatalf("new leader %d cannot commit: %+v", l, st)
	}
}

// TestStepAcceptsSendersOutsideConfiguration pins thesis §4.1: "servers
// process incoming RPC requests without consulting their current
// configurations". Node 1's log says {1,2,3}; node 9 is a leader or
// candidate of a configuration node 1 has not heard of yet. The answer
// (or what node 1 does) is the same as for a member. Bounds stay: no
// sender, a sender equal to the receiver, or another receiver is an
// error.
func TestStepAcceptsSendersOutsideConfiguration(t *testing.T) {
	snap := &raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 5, Term: 2, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 9}}}}
	for _, tc := range []struct {
		name    string
		in      raftpb.Message
		want    string // Messages then MessagesAfterPersist of the next Ready
		wantErr error
	}{
		{"MsgApp from the new leader", raftpb.Message{Type: raftpb.MsgApp, From: 9, Term: 2, Index: 1, LogTerm: 1,
			Entries: []raftpb.Entry{{Term: 2, Index: 2, Type: raftpb.EntryNoop}}, Commit: 2},
			"MsgAppResp 1->9 t2 idx=2 lt=0 c=0", nil},
		{"MsgHeartbeat", raftpb.Message{Type: raftpb.MsgHeartbeat, From: 9, Term: 2, Index: 1, Commit: 1},
			"MsgHeartbeatResp 1->9 t2 idx=1 lt=0 c=0", nil},
		{"MsgSnap", raftpb.Message{Type: raftpb.MsgSnap, From: 9, Term: 2, Snapshot: snap},
			"MsgAppResp 1->9 t2 idx=5 lt=0 c=0", nil},
		{"MsgVote, log up to date", raftpb.Message{Type: raftpb.MsgVote, From: 9, Term: 2, Index: 1, LogTerm: 1},
			"MsgVoteResp 1->9 t2 idx=0 lt=0 c=0", nil},
		{"MsgPreVote, log up to date", raftpb.Message{Type: raftpb.MsgPreVote, From: 9, Term: 2, Index: 1, LogTerm: 1},
			"MsgPreVoteResp 1->9 t2 idx=0 lt=0 c=0", nil},
		{"MsgTimeoutNow: campaigns", raftpb.Message{Type: raftpb.MsgTimeoutNow, From: 9, Term: 1},
			"MsgVote 1->2 t2 idx=1 lt=1 c=0; MsgVote 1->3 t2 idx=1 lt=1 c=0", nil},
		{"no sender", raftpb.Message{Type: raftpb.MsgApp, From: 0, Term: 2}, "", ErrStepWrongMessage},
		{"sender is the receiver", raftpb.Message{Type: raftpb.MsgApp, From: 1, Term: 2}, "", ErrStepWrongMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(t, 1, []uint64{1, 2, 3}, 1, []uint64{1}, nil)
			tc.in.To = 1
			if err := c.Step(tc.in); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Step: %v, want %v", err, tc.wantErr)
			}
			rd := takeReady(c)
			if got := msgsString(append(rd.Messages, rd.MessagesAfterPersist...)); got != tc.want {
				t.Fatalf("sent %q\nwant %q", got, tc.want)
			}
		})
	}
	c := newCore(t, 1, []uint64{1, 2, 3}, 1, []uint64{1}, nil)
	if err := c.Step(raftpb.Message{Type: raftpb.MsgApp, From: 9, To: 2, Term: 2}); !errors.Is(err, ErrStepWrongMessage) {
		t.Fatalf("message for node 2 given to node 1: %v", err)
	}
}

// TestLeaderIgnoresUntrackedPeers: a leader gets answers from a server
// it does not track (one it removed, or one whose addition it has not
// seen). They say nothing about its followers: no progress changes, no
// commit, no reply (before the fix, handleAppendResponse dereferenced a
// nil progress).
func TestLeaderIgnoresUntrackedPeers(t *testing.T) {
	for _, in := range []raftpb.Message{
		{Type: raftpb.MsgAppResp, From: 9, Term: 2, Index: 2},
		{Type: raftpb.MsgAppResp, From: 9, Term: 2, Index: 1, Reject: true, RejectHint: 0},
		{Type: raftpb.MsgHeartbeatResp, From: 9, Term: 2, Index: 2, Context: []byte("\x00\x00\x00\x00\x00\x00\x00\x01")},
	} {
		c := leaderWithReplicatingFollower(t, nil)
		before := c.Status()
		in.To = 1
		step(t, c, in)
		after := c.Status()
		if rd := takeReady(c); len(rd.Messages)+len(rd.MessagesAfterPersist) > 0 || after.Commit != before.Commit ||
			after.Role != Leader || len(after.Progress) != 2 {
			t.Fatalf("%v: changed the leader: %+v, sent %s", in, after, msgsString(rd.Messages))
		}
	}
}

// TestLaggingNodeCaughtUpByLeaderOutsideItsConfiguration replays sim
// seed 2422 (results/sim.md, core finding 4) in small: node 3 misses the
// entry adding node 4, and 4 becomes leader. To 3, the leader is not a
// member, yet with node 1 down, {2,3,4} is the only quorum of
// {1,2,3,4}: 3 must accept 4's appends for anything to commit.
func TestLaggingNodeCaughtUpByLeaderOutsideItsConfiguration(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.addNode(4, []uint64{1, 2, 3})
	cl.isolate(3)
	if err := cl.cores[1].ProposeConfChange(Change(AddVoter, 4)); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	cl.cores[1].Tick()
	cl.stabilize()
	if err := cl.cores[1].TransferLeadership(4); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if cl.leader() != 4 {
		t.Fatalf("leader %d, want 4", cl.leader())
	}
	if got := cl.cores[3].Voters(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("setup: node 3 voters %v, want the old configuration", got)
	}
	cl.heal()
	cl.isolate(1)
	l := cl.cores[4]
	l.Propose([]byte("x"))
	cl.stabilize()
	l.Tick()
	cl.stabilize()
	if st := l.Status(); st.Commit != st.LastIndex {
		t.Fatalf("leader 4 cannot commit with {2,3,4}: %+v", st)
	}
	if got := cl.cores[3].Voters(); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("node 3 voters %v after catching up", got)
	}
}

// TestRemovedServerCannotDisrupt pins thesis §4.2.3 without pre-vote or
// check-quorum: node 3 is removed while cut off, so it never learns it
// and keeps asking for votes at ever higher terms. Its log lacks the
// removal, so nobody would vote for it; the remaining voters do not
// adopt its terms either, and leader 1 keeps its term.
func TestRemovedServerCannotDisrupt(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.PreVote, c.CheckQuorum = false, false })
	cl.elect(1)
	cl.isolate(4)
	if err := cl.cores[1].ProposeConfChange(Change(RemoveVoter, 4)); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	term := cl.cores[1].Term()
	cl.heal()
	for i := 0; i < 5*cl.cores[4].cfg.ElectionTicks; i++ {
		cl.cores[4].Tick()
		cl.cores[1].Tick()
		cl.stabilize()
	}
	if cl.cores[4].Term() <= term+1 {
		t.Fatalf("node 4 at term %d: the test did not make it campaign", cl.cores[4].Term())
	}
	for _, id := range []uint64{1, 2, 3} {
		if c := cl.cores[id]; c.Term() != term || c.Leader() != 1 {
			t.Fatalf("node %d: term %d lead %d, want term %d lead 1", id, c.Term(), c.Leader(), term)
		}
	}
}
