package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// forceLeader makes c leader of the next term without an election (for
// scenarios that start from a figure of the paper) and drops the vote
// requests it would have sent.
func forceLeader(t *testing.T, c *Core) {
	t.Helper()
	c.becomeCandidate(false)
	if c.role != Leader {
		c.becomeLeader()
	}
	c.msgsAfter = nil
}

// newCore builds node id of voters with a log of the given terms.
func newCore(t *testing.T, id uint64, voters []uint64, term uint64, logTerms []uint64, mod func(*Config)) *Core {
	t.Helper()
	cfg := Config{ID: id, Voters: voters, HardState: raftpb.HardState{Term: term}, Entries: entsOf(logTerms...)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFigure7LogRepair pins §5.3 with the follower logs (a)-(f) of Figure
// 7: the term-8 leader brings each to exactly its own log, keeping
// matching entries, replacing conflicting ones, and thanks to the
// conflict-term hint needs at most one rejected probe per follower.
func TestFigure7LogRepair(t *testing.T) {
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	for _, tc := range []struct {
		name string
		term uint64
		log  []uint64
	}{
		{"a", 6, []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}},
		{"b", 4, []uint64{1, 1, 1, 4}},
		{"c", 6, []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},
		{"d", 7, []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},
		{"e", 4, []uint64{1, 1, 1, 4, 4, 4, 4}},
		{"f", 3, []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			voters := []uint64{1, 2, 3}
			lead := newCore(t, 1, voters, 7, leaderLog, nil)
			fol := newCore(t, 2, voters, tc.term, tc.log, nil)
			forceLeader(t, lead)
			cl := &cluster{t: t, ids: []uint64{1, 2}, cores: map[uint64]*Core{1: lead, 2: fol},
				cut: map[[2]uint64]bool{}, applied: map[uint64][]raftpb.Entry{}, reads: map[uint64][]ReadState{}}
			rejections := 0
			for i := 0; i < 20; i++ {
				var q []raftpb.Message
				for _, id := range cl.ids {
					for cl.cores[id].HasReady() {
						cl.processReady(id)
					}
				}
				q, cl.queue = cl.queue, nil
				if len(q) == 0 {
					break
				}
				for _, m := range q {
					if m.Type == raftpb.MsgAppResp && m.Reject {
						rejections++
					}
					if m.To == 2 || m.To == 1 {
						cl.deliver(m)
					}
				}
			}
			want := append(slices.Clone(leaderLog), 8) // plus the term-8 no-op
			if got := termsOf(fol); !slices.Equal(got, want) {
				t.Fatalf("follower log %v, want %v", got, want)
			}
			if rejections > 1 {
				t.Fatalf("%d rejected probes, want at most 1 (fast backtracking)", rejections)
			}
			if lead.log.committed != 11 {
				t.Fatalf("leader commit %d, want 11", lead.log.committed)
			}
		})
	}
}

// TestFigure8CommitRule pins §5.4.2 with Figure 8 (c): S1, leader of term
// 4, has replicated the term-2 entry at index 2 to a majority (S1, S2,
// S3). It must not count that as committed — S5 (log 1,3) could still be
// elected and overwrite it. Only once an entry of term 4 is on a majority
// do both commit.
func TestFigure8CommitRule(t *testing.T) {
	voters := []uint64{1, 2, 3, 4, 5}
	s1 := newCore(t, 1, voters, 3, []uint64{1, 2}, func(c *Config) { c.HardState.Commit = 1 })
	forceLeader(t, s1) // term 4, no-op at index 3
	takeReady(s1)
	s1.Persisted(3, 4)
	for _, step := range []struct {
		from, index uint64
		wantCommit  uint64
		why         string
	}{
		{2, 2, 1, "index 2 (term 2) on S1, S2"},
		{3, 2, 1, "index 2 on a majority (S1-S3) but of term 2: not committed by counting (§5.4.2)"},
		{2, 3, 1, "the term-4 no-op on S1, S2 only"},
		{3, 3, 3, "the no-op on a majority: it commits, and index 2 with it"},
	} {
		stepT(t, s1, raftpb.Message{Type: raftpb.MsgAppResp, From: step.from, To: 1, Term: 4, Index: step.index})
		if s1.log.committed != step.wantCommit {
			t.Fatalf("%s: commit %d, want %d", step.why, s1.log.committed, step.wantCommit)
		}
	}
}

func stepT(t *testing.T, c *Core, m raftpb.Message) { t.Helper(); step(t, c, m) }

// leaderWithReplicatingFollower returns leader 1 of {1,2,3} whose
// follower 2 is in replicate state and fully caught up.
func leaderWithReplicatingFollower(t *testing.T, mod func(*Config)) *Core {
	t.Helper()
	c := newCore(t, 1, []uint64{1, 2, 3}, 1, []uint64{1}, mod)
	forceLeader(t, c) // term 2, no-op at 2
	rd := takeReady(c)
	c.Persisted(2, 2)
	_ = rd
	for _, id := range []uint64{2, 3} {
		stepT(t, c, raftpb.Message{Type: raftpb.MsgAppResp, From: id, To: 1, Term: 2, Index: 2})
	}
	if pr := c.prs[2].pr; pr.State != tracker.StateReplicate || pr.Match != 2 {
		t.Fatalf("setup: follower 2 %v", pr)
	}
	takeReady(c)
	return c
}

func appsTo(ms []raftpb.Message, to uint64) []raftpb.Message {
	var out []raftpb.Message
	for _, m := range ms {
		if m.Type == raftpb.MsgApp && m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// TestPipeliningAndProbeFallback pins the pipelining rule (ARCHITECTURE.md,
// "The write path"; thesis §10.2.2): in replicate state the leader sends each
// new batch without waiting for acks; a rejection drops the follower back
// to probe, where only one MsgApp is outstanding.
func TestPipeliningAndProbeFallback(t *testing.T) {
	c := leaderWithReplicatingFollower(t, nil)
	for i, want := range []struct{ index, first uint64 }{{2, 3}, {3, 4}, {4, 5}} {
		if err := c.Propose([]byte("x")); err != nil {
			t.Fatal(err)
		}
		apps := appsTo(takeReady(c).Messages, 2)
		if len(apps) != 1 || apps[0].Index != want.index || apps[0].Entries[0].Index != want.first {
			t.Fatalf("batch %d: MsgApps to 2: %s", i, msgsString(apps))
		}
	}
	if n := c.prs[2].pr.Inflight.Count(); n != 3 {
		t.Fatalf("in flight %d, want 3 (no acks yet)", n)
	}
	// Follower 2 rejects the MsgApp at index 3 (say it lost entry 3).
	stepT(t, c, raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 3, Reject: true, RejectHint: 2, LogTerm: 2})
	if pr := c.prs[2].pr; pr.State != tracker.StateProbe || pr.Next != 3 || pr.Inflight.Count() != 0 {
		t.Fatalf("after reject: %v", pr)
	}
	apps := appsTo(takeReady(c).Messages, 2)
	if len(apps) != 1 || apps[0].Index != 2 {
		t.Fatalf("probe: %s", msgsString(apps))
	}
	c.Propose([]byte("y"))
	if apps := appsTo(takeReady(c).Messages, 2); len(apps) != 0 {
		t.Fatalf("probe outstanding, yet sent %s", msgsString(apps))
	}
	// The probe's ack returns the follower to replicate state.
	stepT(t, c, raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 5})
	if pr := c.prs[2].pr; pr.State != tracker.StateReplicate || pr.Match != 5 {
		t.Fatalf("after probe ack: %v", pr)
	}
}

// TestInflightWindow pins the in-flight limits: a follower in replicate
// state gets at most MaxInflightMsgs unacked MsgApps and stops once
// MaxInflightBytes are in flight; each MsgApp carries at most MaxMsgBytes
// (always at least one entry), and stops at the end of a block of the
// in-memory log (wantMsgs -1: one message per block the entries span).
func TestInflightWindow(t *testing.T) {
	for _, tc := range []struct {
		name                string
		maxMsgs             int
		maxBytes, maxMsgB   uint64
		proposals, size     int
		wantMsgs, wantBytes int
	}{
		{"message limit", 2, 1 << 20, 10, 10, 10, 2, 20}, // 10-byte batches of 1 entry each
		{"byte limit", 100, 40, 20, 10, 10, 2, 40},       // 2 entries per msg, full at 40 B
		{"one entry per msg when oversize", 3, 1000, 5, 5, 10, 3, 30},
		{"unlimited window sends everything", 256, 1 << 20, 1 << 20, 10, 10, -1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := leaderWithReplicatingFollower(t, func(cfg *Config) {
				cfg.MaxInflightMsgs, cfg.MaxInflightBytes, cfg.MaxMsgBytes = tc.maxMsgs, tc.maxBytes, tc.maxMsgB
			})
			for i := 0; i < tc.proposals; i++ {
				c.Propose(make([]byte, tc.size))
			}
			apps := appsTo(takeReady(c).Messages, 2)
			bytes := 0
			for _, m := range apps {
				bytes += int(m.PayloadBytes())
				if len(m.Entries) == 0 || (len(m.Entries) > 1 && m.PayloadBytes() > tc.maxMsgB) {
					t.Fatalf("message over MaxMsgBytes: %v", m)
				}
			}
			if tc.wantMsgs < 0 && len(apps) > 0 {
				first := apps[0].Entries[0].Index
				last := first + uint64(tc.proposals) - 1
				tc.wantMsgs = int((last-1)>>logBlockShift-(first-1)>>logBlockShift) + 1
			}
			if len(apps) != tc.wantMsgs || bytes != tc.wantBytes {
				t.Fatalf("sent %d msgs / %d bytes, want %d / %d", len(apps), bytes, tc.wantMsgs, tc.wantBytes)
			}
			// Nothing more until an ack frees the window.
			if tc.wantBytes < tc.proposals*tc.size {
				if apps := appsTo(takeReady(c).Messages, 2); len(apps) != 0 {
					t.Fatalf("window full, yet sent %s", msgsString(apps))
				}
				stepT(t, c, raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: apps[0].Entries[len(apps[0].Entries)-1].Index})
				if apps2 := appsTo(takeReady(c).Messages, 2); len(apps2) == 0 {
					t.Fatal("ack did not reopen the window")
				}
			}
		})
	}
}

// TestPersistBeforeAck pins the durability rule (Figure 2 "respond after
// persisting"; ARCHITECTURE.md, "Safety rules"): a follower's append ack and a vote grant are
// only in MessagesAfterPersist of the Ready that carries what they
// promise; the leader counts itself only after Persisted and hands out
// committed entries only once they are locally durable.
func TestPersistBeforeAck(t *testing.T) {
	f := newCore(t, 2, []uint64{1, 2, 3}, 0, nil, nil)
	stepT(t, f, raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, Index: 0, LogTerm: 0,
		Entries: entsOf(1, 1), Commit: 0})
	rd := takeReady(f)
	if len(rd.Entries) != 2 || !rd.HardStateChanged {
		t.Fatalf("follower Ready: %d entries, hs changed %v", len(rd.Entries), rd.HardStateChanged)
	}
	for _, m := range rd.Messages {
		if m.Type == raftpb.MsgAppResp {
			t.Fatalf("ack in Messages (would leave before fsync): %v", m)
		}
	}
	if len(rd.MessagesAfterPersist) != 1 || rd.MessagesAfterPersist[0].Index != 2 {
		t.Fatalf("ack: %s", msgsString(rd.MessagesAfterPersist))
	}

	// Two-node cluster: the follower's ack alone is not a quorum; the
	// leader's own entry counts only once Persisted.
	l := newCore(t, 1, []uint64{1, 2}, 1, []uint64{1}, nil)
	forceLeader(t, l)
	takeReady(l)
	stepT(t, l, raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 2})
	if l.log.committed != 0 {
		t.Fatalf("leader committed %d before persisting its own entry", l.log.committed)
	}
	l.Persisted(2, 2)
	if l.log.committed != 2 {
		t.Fatalf("commit %d after Persisted, want 2", l.log.committed)
	}

	// Three nodes: two followers commit without the leader's fsync, and
	// the committed entries go out for applying at once: they are durable
	// on a quorum, so the leader's own fsync is off the commit path.
	l3 := newCore(t, 1, []uint64{1, 2, 3}, 1, []uint64{1}, nil)
	forceLeader(t, l3)
	takeReady(l3)
	for _, id := range []uint64{2, 3} {
		stepT(t, l3, raftpb.Message{Type: raftpb.MsgAppResp, From: id, To: 1, Term: 2, Index: 2})
	}
	if l3.log.committed != 2 {
		t.Fatalf("commit %d, want 2 (followers' quorum)", l3.log.committed)
	}
	if rd := takeReady(l3); len(rd.CommittedEntries) != 2 || rd.CommittedEntries[1].Index != 2 {
		t.Fatalf("want entries 1-2 for applying before the leader's fsync, got %v", rd.CommittedEntries)
	}

	// A follower learning a commit index that covers entries of the same
	// MsgApp gets them for persisting and for applying in one Ready
	// (Entries are submitted first), never for applying before that.
	f3 := newCore(t, 3, []uint64{1, 2, 3}, 0, nil, nil)
	stepT(t, f3, raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 3, Term: 1, Index: 0, LogTerm: 0,
		Entries: entsOf(1, 1), Commit: 2})
	if f3.log.committed != 2 || f3.log.handed != 0 {
		t.Fatalf("follower commit %d handed %d, want 2 and 0", f3.log.committed, f3.log.handed)
	}
	rd = takeReady(f3)
	if len(rd.Entries) != 2 || len(rd.CommittedEntries) != 2 {
		t.Fatalf("follower Ready: %d entries to persist, %d to apply; want 2 and 2", len(rd.Entries), len(rd.CommittedEntries))
	}
}

// TestHandedOutSlicesNeverChange pins the copy-on-truncate rule: a
// follower replacing a conflicting suffix (§5.3) must not modify entries
// it already handed out in a Ready.
func TestHandedOutSlicesNeverChange(t *testing.T) {
	f := newCore(t, 2, []uint64{1, 2, 3}, 0, nil, nil)
	stepT(t, f, raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, Entries: entsOf(1, 1, 1)})
	rd := takeReady(f)
	before := slices.Clone(rd.Entries)
	conflict := []raftpb.Entry{{Term: 2, Index: 2, Data: []byte("new")}, {Term: 2, Index: 3, Data: []byte("new")}}
	stepT(t, f, raftpb.Message{Type: raftpb.MsgApp, From: 3, To: 2, Term: 2, Index: 1, LogTerm: 1, Entries: conflict})
	rd2 := takeReady(f)
	for i := range before {
		if rd.Entries[i].Term != before[i].Term || string(rd.Entries[i].Data) != string(before[i].Data) {
			t.Fatalf("handed-out entry %d changed: %v -> %v", i, before[i], rd.Entries[i])
		}
	}
	if len(rd2.Entries) != 2 || rd2.Entries[0].Index != 2 || rd2.Entries[0].Term != 2 {
		t.Fatalf("replacement Ready entries: %v", rd2.Entries)
	}
	// A late Persisted for the replaced entries is ignored.
	f.Persisted(3, 1)
	if f.log.persisted != 0 {
		t.Fatalf("stale Persisted accepted: persisted=%d", f.log.persisted)
	}
}

// TestBackpressure pins MaxUncommittedBytes: a leader refuses proposals
// beyond the uncommitted budget and accepts again once entries commit.
func TestBackpressure(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.MaxUncommittedBytes = 100 })
	cl.elect(1)
	cl.isolate(1)
	l := cl.cores[1]
	if err := l.Propose(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if err := l.Propose(make([]byte, 60)); !errors.Is(err, ErrProposalBackpressure) {
		t.Fatalf("over budget: err=%v", err)
	}
	if err := l.Propose(make([]byte, 40)); err != nil {
		t.Fatalf("within budget: %v", err)
	}
	cl.heal()
	cl.stabilize()
	if err := l.Propose(make([]byte, 60)); err != nil {
		t.Fatalf("after commit: %v", err)
	}
}

// TestNotLeader pins proposal routing: a follower forwards (MsgProp) or,
// with forwarding disabled or no leader known, refuses with the leader.
func TestNotLeader(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.DisableProposalForwarding = true })
	var nle *NotLeaderError
	if err := cl.cores[2].Propose([]byte("x")); !errors.As(err, &nle) || nle.Leader != 0 {
		t.Fatalf("no leader: %v", err)
	}
	cl.elect(1)
	if err := cl.cores[2].Propose([]byte("x")); !errors.As(err, &nle) || nle.Leader != 1 {
		t.Fatalf("forwarding off: %v", err)
	}
	if err := cl.cores[1].Propose(); !errors.Is(err, ErrEmptyProposal) {
		t.Fatalf("empty: %v", err)
	}
}

// A Ready's Messages are built in the array RecycleMessages gave back,
// cleared of the messages it held before (so no entries stay reachable
// through it).
func TestRecycleMessagesReusesTheArray(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	c := cl.cores[1]
	if err := c.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	first := takeReady(c)
	if len(first.Messages) == 0 {
		t.Fatal("the leader's Ready after a proposal has no messages")
	}
	array := &first.Messages[:1][0]
	c.RecycleMessages(first.Messages)
	for i, m := range first.Messages {
		if m.Type != 0 || m.Entries != nil {
			t.Fatalf("recycled message %d not cleared: %v", i, m)
		}
	}
	if err := c.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	second := takeReady(c)
	if len(second.Messages) == 0 {
		t.Fatal("no messages after the second proposal")
	}
	if &second.Messages[:1][0] != array {
		t.Fatal("the next Ready's Messages were not built in the recycled array")
	}
	for _, m := range second.Messages {
		if m.Type == raftpb.MsgApp && (len(m.Entries) != 1 || string(m.Entries[0].Data) != "b") {
			t.Fatalf("MsgApp in the recycled array carries %v, want the entry b", m.Entries)
		}
	}
}
