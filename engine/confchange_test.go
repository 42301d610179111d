package engine

import (
	"errors"
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
	if err := l.ProposeConfChange(ConfChange{Type: AddVoter, Node: 4}); err != nil {
		t.Fatal(err)
	}
	if got := l.Voters(); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("leader voters %v right after appending the change", got)
	}
	if err := l.ProposeConfChange(ConfChange{Type: AddVoter, Node: 5}); !errors.Is(err, ErrConfChangeInProgress) {
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
	if err := l.ProposeConfChange(ConfChange{Type: RemoveVoter, Node: 1}); err != nil {
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
	cc := raftpb.Entry{Term: 1, Index: 1, Type: raftpb.EntryConfChange, Data: ConfChange{Type: RemoveVoter, Node: 3}.Encode()}
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
	cc := ConfChange{Type: RemoveVoter, Node: 1 << 40}
	got, err := DecodeConfChange(cc.Encode())
	if err != nil || got != cc {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1, 2}, append([]byte{9}, make([]byte, 8)...), append([]byte{1}, make([]byte, 8)...)} {
		if _, err := DecodeConfChange(bad); !errors.Is(err, ErrBadConfChange) {
			t.Errorf("decode %v: %v", bad, err)
		}
	}
}
