package engine

import (
	"errors"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// leaseCluster is a 3-node cluster with lease reads whose nodes are past
// their start-up quiet period, led by node 1 with a confirmed lease.
func leaseCluster(t *testing.T, mod func(*Config)) *cluster {
	t.Helper()
	cl := newCluster(t, 3, func(cfg *Config) {
		cfg.LeaseReads = true
		if mod != nil {
			mod(cfg)
		}
	})
	for _, c := range cl.cores {
		c.reads.now = uint64(c.cfg.ElectionTicks)
	}
	cl.elect(1)
	l := cl.cores[1]
	l.Propose([]byte("w"))
	cl.stabilize()
	l.Tick() // a heartbeat round; its answers give the lease
	cl.stabilize()
	if !l.leaseHeld() {
		t.Fatalf("leader holds no lease after a confirmed round (now %d, until %d)", l.reads.now, l.reads.leaseUntil)
	}
	return cl
}

// TestLeaseReadAnswersWithoutRound pins thesis §6.4.1: while its lease
// holds, the leader answers a read at its commit index in the next Ready,
// with no heartbeat round; a follower's read forwarded to it is answered
// the same way.
func TestLeaseReadAnswersWithoutRound(t *testing.T) {
	cl := leaseCluster(t, nil)
	l := cl.cores[1]
	commit := l.log.committed
	if err := l.ReadIndex([]byte("r1")); err != nil {
		t.Fatal(err)
	}
	rd := takeReady(l)
	if len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != commit || string(rd.ReadStates[0].Context) != "r1" {
		t.Fatalf("read states %v, want r1 at %d at once", rd.ReadStates, commit)
	}
	for _, m := range rd.Messages {
		if m.Type == raftpb.MsgHeartbeat {
			t.Fatalf("lease read sent a heartbeat round: %v", m)
		}
	}
	if err := cl.cores[2].ReadIndex([]byte("r2")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if rs := cl.reads[2]; len(rs) != 1 || rs[0].Index != commit {
		t.Fatalf("follower read states %v, want r2 at %d", rs, commit)
	}
}

// TestLeaseExpires: a leader cut off from its followers keeps its lease
// for exactly LeaseTicks ticks from the round's send, then falls back to
// ReadIndex rounds (which cannot complete while it is cut off).
func TestLeaseExpires(t *testing.T) {
	cl := leaseCluster(t, nil)
	l := cl.cores[1]
	lease := l.cfg.LeaseTicks()
	if lease != 8 { // (10-1)/1.1 with the defaults
		t.Fatalf("LeaseTicks %d, want 8", lease)
	}
	cl.isolate(1)
	sent := l.reads.leaseUntil - uint64(lease)
	for l.reads.now < sent+uint64(lease)-1 {
		l.Tick()
	}
	cl.stabilize()
	l.ReadIndex([]byte("last"))
	if rd := takeReady(l); len(rd.ReadStates) != 1 {
		t.Fatalf("read in the lease's last tick not answered: %v", rd.ReadStates)
	}
	l.Tick()
	cl.stabilize()
	l.ReadIndex([]byte("late"))
	cl.stabilize()
	for _, rs := range cl.reads[1] {
		if string(rs.Context) == "late" {
			t.Fatal("read answered after the lease expired, without a quorum")
		}
	}
	if len(l.reads.pending) != 1 {
		t.Fatalf("expired lease: want the read waiting for a round, pending %d", len(l.reads.pending))
	}
}

// TestLeaseGivenUpByTransfer: MsgTimeoutNow makes the target campaign and
// voters grant it their vote despite hearing from us, so starting a
// transfer ends the lease for the term, even if the transfer is aborted.
func TestLeaseGivenUpByTransfer(t *testing.T) {
	cl := leaseCluster(t, nil)
	l := cl.cores[1]
	cl.isolate(2) // the transfer cannot complete
	if err := l.TransferLeadership(2); err != nil {
		t.Fatal(err)
	}
	if l.leaseHeld() {
		t.Fatal("lease held during a transfer")
	}
	for i := 0; i < 2*l.cfg.ElectionTicks; i++ { // the transfer is aborted
		l.Tick()
		cl.stabilize()
	}
	if l.Role() != Leader || l.leadTransferee != 0 {
		t.Fatalf("want leader 1 with the transfer aborted, role %v transferee %d", l.Role(), l.leadTransferee)
	}
	if l.leaseHeld() {
		t.Fatal("lease back in the term of an aborted transfer")
	}
	l.ReadIndex([]byte("r"))
	cl.stabilize()
	if rs := cl.reads[1]; len(rs) != 1 {
		t.Fatalf("ReadIndex round after the lease: %v", rs)
	}
}

// TestLeaseNeedsRoundUnderNewConfiguration: a lease earned under one
// configuration does not count after a membership change is appended.
func TestLeaseNeedsRoundUnderNewConfiguration(t *testing.T) {
	cl := leaseCluster(t, nil)
	l := cl.cores[1]
	if err := l.ProposeConfChange(ConfChange{Type: RemoveVoter, Node: 3}); err != nil {
		t.Fatal(err)
	}
	if l.leaseHeld() {
		t.Fatal("lease from the old configuration held after a conf entry")
	}
	cl.stabilize()
	l.Tick()
	cl.stabilize()
	if !l.leaseHeld() {
		t.Fatal("no lease after a round under the new configuration")
	}
}

// TestRestartedNodeWaitsBeforeVoting: a node with lease reads grants no
// vote (and no pre-vote) from another candidate for its first election
// timeout: it may have answered a leader's round before its crash.
func TestRestartedNodeWaitsBeforeVoting(t *testing.T) {
	c := newCore(t, 2, []uint64{1, 2, 3}, 1, []uint64{1}, func(cfg *Config) {
		cfg.LeaseReads, cfg.CheckQuorum, cfg.PreVote = true, true, true
	})
	vote := raftpb.Message{Type: raftpb.MsgVote, From: 3, To: 2, Term: 2, Index: 1, LogTerm: 1}
	pre := raftpb.Message{Type: raftpb.MsgPreVote, From: 3, To: 2, Term: 2, Index: 1, LogTerm: 1}
	for i := 0; i < c.cfg.ElectionTicks; i++ {
		for _, m := range []raftpb.Message{pre, vote} {
			stepT(t, c, m)
			rd := takeReady(c)
			for _, out := range append(rd.Messages, rd.MessagesAfterPersist...) {
				if (out.Type == raftpb.MsgVoteResp || out.Type == raftpb.MsgPreVoteResp) && !out.Reject {
					t.Fatalf("tick %d: granted %v right after start", i, out)
				}
			}
		}
		if c.Term() != 1 {
			t.Fatalf("tick %d: adopted term %d from a vote request", i, c.Term())
		}
		c.Tick()
	}
	stepT(t, c, vote)
	rd := takeReady(c)
	granted := false
	for _, out := range rd.MessagesAfterPersist {
		granted = granted || (out.Type == raftpb.MsgVoteResp && !out.Reject)
	}
	if !granted {
		t.Fatalf("no vote after the quiet period: %s", msgsString(rd.MessagesAfterPersist))
	}
}

func TestLeaseConfigValidation(t *testing.T) {
	base := Config{ID: 1, Voters: []uint64{1, 2, 3}, CheckQuorum: true, LeaseReads: true}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no check-quorum", func(c *Config) { c.CheckQuorum = false }},
		{"negative drift", func(c *Config) { c.MaxClockDrift = -0.1 }},
		{"drift too large", func(c *Config) { c.MaxClockDrift = 10 }},
		{"lease not above heartbeat", func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 4, 2 }},
		{"lease eaten by drift", func(c *Config) { c.MaxClockDrift = 8 }},
	} {
		cfg := base
		tc.mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	if _, err := New(base); err != nil {
		t.Fatalf("valid lease config refused: %v", err)
	}
	if got := base.WithDefaults().MaxClockDrift; got != DefaultMaxClockDrift {
		t.Fatalf("default drift %v", got)
	}
}

// leaseRace isolates leader 1 of a lease cluster, then ticks every node in
// real time: a node whose ticks are stretch times longer than the others'
// ticks once every stretch time units. It runs until another node is
// elected and commits its no-op, and reports whether node 1 still held
// its lease then (a stale read would be possible).
func leaseRace(t *testing.T, drift, stretch float64) (overlap bool) {
	t.Helper()
	cl := leaseCluster(t, func(cfg *Config) { cfg.MaxClockDrift = drift })
	cl.isolate(1)
	period := map[uint64]float64{1: stretch, 2: 1, 3: 1}
	next := map[uint64]float64{1: stretch, 2: 1, 3: 1}
	// The followers received the last round after the leader sent it: in
	// the worst case at once, and the leader's tick had just begun.
	for now := 0.0; now < 1000; now += 0.01 {
		for _, id := range cl.ids {
			if now >= next[id] {
				next[id] += period[id]
				cl.cores[id].Tick()
			}
		}
		cl.stabilize()
		for _, id := range []uint64{2, 3} {
			c := cl.cores[id]
			if c.Role() == Leader && c.committedInTerm() {
				return cl.cores[1].leaseHeld()
			}
		}
	}
	t.Fatal("no new leader")
	return false
}

// TestLeaseSafeWithinDriftBound: with the leader's clock as slow as the
// stated bound allows, its lease has expired before any other node can
// become leader; with a clock slower than the bound, the leases overlap
// (the bound is what the safety rests on).
func TestLeaseSafeWithinDriftBound(t *testing.T) {
	for _, drift := range []float64{0, 0.1, 0.5} {
		if leaseRace(t, drift, 1+drift) {
			t.Errorf("drift %v: the old leader still held its lease when a new leader committed", drift)
		}
	}
	if !leaseRace(t, 0, 2.5) {
		t.Error("a leader clock 2.5x slower than the bound allows did not overlap: the test has no teeth")
	}
}

// TestClockTicksEndsLeaseNotTerm: a stalled driver that reports its clock
// (ClockTicks) ends the lease at the real time; elections, counted in
// Tick calls, are not hurried (no step-down, no campaign).
func TestClockTicksEndsLeaseNotTerm(t *testing.T) {
	cl := leaseCluster(t, nil)
	l := cl.cores[1]
	l.ClockTicks(l.reads.now - 1) // never moves the clock back
	if !l.leaseHeld() {
		t.Fatal("an older clock reading ended the lease")
	}
	l.ClockTicks(l.reads.leaseUntil)
	if l.leaseHeld() {
		t.Fatal("lease held past its end on the clock")
	}
	if l.Role() != Leader || l.electionElapsed != 0 && l.electionElapsed >= l.cfg.ElectionTicks {
		t.Fatalf("clock reading changed elections: role %v elapsed %d", l.Role(), l.electionElapsed)
	}
	l.ReadIndex([]byte("r"))
	cl.stabilize()
	if rs := cl.reads[1]; len(rs) != 1 {
		t.Fatalf("read after the lease went through a round: %v", rs)
	}
}
