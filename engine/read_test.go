package engine

import (
	"errors"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestReadIndex pins thesis §6.4: the leader records its commit index,
// confirms leadership with a quorum heartbeat round and only then
// answers; followers get the index from the leader; a lone voter answers
// at once.
func TestReadIndex(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	l := cl.cores[1]
	l.Propose([]byte("w"))
	cl.stabilize()
	commit := l.log.committed

	if err := l.ReadIndex([]byte("r1")); err != nil {
		t.Fatal(err)
	}
	rd := takeReady(l)
	if len(rd.ReadStates) != 0 {
		t.Fatal("read answered before the quorum round")
	}
	hb := 0
	for _, m := range rd.Messages {
		if m.Type == raftpb.MsgHeartbeat && len(m.Context) > 0 {
			hb++
		}
		cl.queue = append(cl.queue, m)
	}
	if hb != 2 {
		t.Fatalf("want a heartbeat round with context to both peers, got %s", msgsString(rd.Messages))
	}
	cl.stabilize()
	if rs := cl.reads[1]; len(rs) != 1 || string(rs[0].Context) != "r1" || rs[0].Index != commit {
		t.Fatalf("leader read states %v, want r1 at %d", rs, commit)
	}

	if err := cl.cores[3].ReadIndex([]byte("r2")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if rs := cl.reads[3]; len(rs) != 1 || string(rs[0].Context) != "r2" || rs[0].Index != commit {
		t.Fatalf("follower read states %v", rs)
	}

	one := newCluster(t, 1, nil)
	one.elect(1)
	one.stabilize()
	one.cores[1].ReadIndex([]byte("solo"))
	if rd := takeReady(one.cores[1]); len(rd.ReadStates) != 1 {
		t.Fatalf("single voter: %v", rd.ReadStates)
	}

	var nle *NotLeaderError
	if err := newCluster(t, 3, nil).cores[2].ReadIndex(nil); !errors.As(err, &nle) {
		t.Fatalf("no leader: %v", err)
	}
}

// TestReadIndexWaitsForCommitInTerm pins thesis §6.4 step 1: a new leader
// answers reads only after it committed an entry of its own term.
func TestReadIndexWaitsForCommitInTerm(t *testing.T) {
	c := newCore(t, 1, []uint64{1, 2, 3}, 1, []uint64{1}, func(cfg *Config) { cfg.HardState.Commit = 1 })
	forceLeader(t, c)
	c.ReadIndex([]byte("early"))
	rd := takeReady(c)
	for _, m := range rd.Messages {
		if m.Type == raftpb.MsgHeartbeat && len(m.Context) > 0 {
			t.Fatalf("round started before commit in term: %v", m)
		}
	}
	c.Persisted(2, 2)
	stepT(t, c, raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 2})
	rd = takeReady(c)
	var ctx []byte
	for _, m := range rd.Messages {
		if m.Type == raftpb.MsgHeartbeat && m.To == 2 {
			ctx = m.Context
		}
	}
	if ctx == nil {
		t.Fatalf("no read round after commit in term: %s", msgsString(rd.Messages))
	}
	stepT(t, c, raftpb.Message{Type: raftpb.MsgHeartbeatResp, From: 2, To: 1, Term: 2, Context: ctx})
	if rd := takeReady(c); len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != 2 {
		t.Fatalf("read states %v, want index 2", rd.ReadStates)
	}
}

// TestReadIndexSingleVoterAfterRestart: a lone voter restarted with
// entries beyond its saved commit index (the hard state's commit is
// saved lazily) acknowledged those entries before the restart, so it
// must not answer a read at its stale commit index: it waits for the
// no-op of its term like any new leader (found by the Maelstrom restart
// test, which read a key written and acknowledged before a restart as
// missing).
func TestReadIndexSingleVoterAfterRestart(t *testing.T) {
	c := newCore(t, 1, []uint64{1}, 1, []uint64{1, 1}, func(cfg *Config) { cfg.HardState.Commit = 0 })
	forceLeader(t, c)
	if err := c.ReadIndex([]byte("r")); err != nil {
		t.Fatal(err)
	}
	rd := takeReady(c)
	if len(rd.ReadStates) != 0 {
		t.Fatalf("answered at the stale commit index %d before committing in its term", rd.ReadStates[0].Index)
	}
	c.Persisted(3, 2) // the term-2 no-op after the two old entries
	rd = takeReady(c)
	if len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != 3 {
		t.Fatalf("read states %v, want one at index 3 (covering the acknowledged entries 1-2)", rd.ReadStates)
	}
	// Once committed in its term, a lone leader answers at once.
	if err := c.ReadIndex([]byte("r2")); err != nil {
		t.Fatal(err)
	}
	if rd := takeReady(c); len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != 3 {
		t.Fatalf("second read: %v, want index 3 at once", rd.ReadStates)
	}
}

// TestReadIndexDeposedLeader pins thesis §6.4: a leader cut off from the
// majority (which elected a new leader and committed a write) must not
// serve a read, whatever it does meanwhile.
func TestReadIndexDeposedLeader(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.CheckQuorum = false })
	cl.elect(1)
	cl.isolate(1)
	cl.elect(2)
	cl.cores[2].Propose([]byte("new"))
	cl.stabilize()
	old := cl.cores[1]
	if old.Role() != Leader {
		t.Fatal("setup: old leader should still believe it leads")
	}
	if err := old.ReadIndex([]byte("stale")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*old.cfg.ElectionTicks; i++ {
		old.Tick()
		cl.stabilize()
	}
	if len(cl.reads[1]) != 0 {
		t.Fatalf("deposed leader served a read: %v", cl.reads[1])
	}
	// Healing: it hears the new term and steps down; the read is dropped.
	cl.heal()
	cl.cores[2].Tick()
	cl.stabilize()
	old.Tick()
	cl.stabilize()
	if old.Role() != Follower || len(cl.reads[1]) != 0 {
		t.Fatalf("after heal: %v, reads %v", old.Role(), cl.reads[1])
	}
}
