package engine

import (
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestRestartAfterCrashBetweenSnapshotAndHardState: a follower at term 2
// gets a term-5 leader's MsgSnap; the Ready carries the snapshot and the
// hard state {Term: 5}. The driver persists the snapshot, then crashes
// before the hard state is durable (Ready's order: Snapshot, then
// HardState and Entries). The durable log now ends at term 5 under a
// hard state of term 2. New must start (it used to refuse with "last
// entry term above hard state term"), at the log's term with no vote: no
// vote of ours can exist in a term our hard state never reached, since
// votes leave only after their Ready is durable (§5.2).
func TestRestartAfterCrashBetweenSnapshotAndHardState(t *testing.T) {
	snap := &raftpb.SnapshotMeta{Index: 10, Term: 5, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
	for _, tc := range []struct {
		name     string
		hs       raftpb.HardState
		snap     *raftpb.SnapshotMeta
		ents     []raftpb.Entry
		wantTerm uint64
		wantVote uint64
	}{
		{"snapshot durable, hard state not", raftpb.HardState{Term: 2, Vote: 3, Commit: 4}, snap, nil, 5, 0},
		{"entries durable, hard state not", raftpb.HardState{Term: 2, Vote: 3, Commit: 1}, nil,
			[]raftpb.Entry{{Term: 1, Index: 1}, {Term: 4, Index: 2}}, 4, 0},
		{"snapshot and entries durable, hard state not", raftpb.HardState{Term: 5, Vote: 1}, snap,
			[]raftpb.Entry{{Term: 6, Index: 11}}, 6, 0},
		{"hard state durable too: vote kept", raftpb.HardState{Term: 5, Vote: 3, Commit: 10}, snap, nil, 5, 3},
		{"hard state ahead of the log: vote kept", raftpb.HardState{Term: 7, Vote: 2}, snap, nil, 7, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{ID: 1, Voters: []uint64{1, 2, 3}, HardState: tc.hs, Snapshot: tc.snap, Entries: tc.ents}
			if tc.snap != nil {
				cfg.Applied = tc.snap.Index
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c.Term() != tc.wantTerm || c.vote != tc.wantVote {
				t.Fatalf("term %d vote %d, want %d %d", c.Term(), c.vote, tc.wantTerm, tc.wantVote)
			}
			// The adopted term is news to stable storage: the next Ready
			// carries it, so it is durable before any vote of this term.
			if rd := takeReady(c); (tc.wantTerm != tc.hs.Term) != rd.HardStateChanged {
				t.Fatalf("HardStateChanged=%v for %+v", rd.HardStateChanged, rd.HardState)
			}
			// It can vote in the adopted term, once.
			step(t, c, raftpb.Message{Type: raftpb.MsgVote, From: 2, To: 1, Term: tc.wantTerm, Index: 99, LogTerm: 9})
			rd := takeReady(c)
			wantGrant := tc.wantVote == 0 || tc.wantVote == 2
			if len(rd.MessagesAfterPersist) != 1 || rd.MessagesAfterPersist[0].Reject == wantGrant {
				t.Fatalf("vote request in term %d: %s, want grant=%v", tc.wantTerm, msgsString(rd.MessagesAfterPersist), wantGrant)
			}
		})
	}
}
