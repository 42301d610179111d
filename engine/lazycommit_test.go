package engine

import (
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// lazyCluster is a 3-node cluster led by node 1, with Config.LazyCommit
// set as asked, everything committed and known to every node.
func lazyCluster(t *testing.T, lazy bool, mod func(*Config)) *cluster {
	t.Helper()
	cl := newCluster(t, 3, func(cfg *Config) {
		cfg.LazyCommit = lazy
		if mod != nil {
			mod(cfg)
		}
	})
	cl.elect(1)
	cl.cores[1].Tick() // a heartbeat carries the election's commit
	cl.stabilize()
	return cl
}

// commitOnlyApps counts the MsgApps in msgs that carry no entries.
func commitOnlyApps(msgs []raftpb.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Type == raftpb.MsgApp && len(m.Entries) == 0 {
			n++
		}
	}
	return n
}

// TestLazyCommitRidesOnNextMessage pins Config.LazyCommit: once a write
// commits, the leader sends no message that only carries the new commit
// index; the followers learn it from the next MsgApp with entries or the
// next heartbeat, and apply then. Without LazyCommit they learn it at
// once (the control).
func TestLazyCommitRidesOnNextMessage(t *testing.T) {
	for _, lazy := range []bool{false, true} {
		cl := lazyCluster(t, lazy, nil)
		l := cl.cores[1]
		var commitOnly int
		cl.observe = func(id uint64, rd *Ready) {
			if id == 1 {
				commitOnly += commitOnlyApps(rd.Messages)
			}
		}
		if err := l.Propose([]byte("a")); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		a := l.log.committed
		if got := cl.appliedData(1); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("lazy=%v: leader applied %q, want [a]", lazy, got)
		}
		for _, id := range []uint64{2, 3} {
			known := cl.cores[id].log.committed
			if !lazy && (known != a || commitOnly != 2) {
				t.Fatalf("eager: follower %d knows commit %d of %d after %d commit-only MsgApps, want %d and 2", id, known, a, commitOnly, a)
			}
			if lazy && (known >= a || commitOnly != 0 || len(cl.appliedData(id)) != 0) {
				t.Fatalf("lazy: follower %d knows commit %d of %d, applied %q, after %d commit-only MsgApps: want it told nothing",
					id, known, a, cl.appliedData(id), commitOnly)
			}
		}
		if !lazy {
			continue
		}
		// The next write's MsgApps carry a's commit.
		if err := l.Propose([]byte("b")); err != nil {
			t.Fatal(err)
		}
		cl.stabilize()
		for _, id := range []uint64{2, 3} {
			if got := cl.appliedData(id); !slices.Equal(got, []string{"a"}) || cl.cores[id].log.committed < a {
				t.Fatalf("follower %d applied %q (commit %d) after the next write's MsgApp, want [a] (commit >= %d)", id, got, cl.cores[id].log.committed, a)
			}
		}
		// The next heartbeat carries b's.
		l.Tick()
		cl.stabilize()
		for _, id := range []uint64{2, 3} {
			if got := cl.appliedData(id); !slices.Equal(got, []string{"a", "b"}) || cl.cores[id].log.committed != l.log.committed {
				t.Fatalf("follower %d applied %q (commit %d) after a heartbeat, want [a b] (commit %d)", id, got, cl.cores[id].log.committed, l.log.committed)
			}
		}
		if commitOnly != 0 {
			t.Fatalf("lazy: the leader sent %d commit-only MsgApps, want none", commitOnly)
		}
	}
}

// TestLazyCommitToWaitingFollower: a follower that forwarded a proposal
// is told of its commit at once (its client waits for it); the other
// follower is not.
func TestLazyCommitToWaitingFollower(t *testing.T) {
	cl := lazyCluster(t, true, nil)
	if err := cl.cores[2].Propose([]byte("via2")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	commit := cl.cores[1].log.committed
	if got := cl.appliedData(2); !slices.Equal(got, []string{"via2"}) || cl.cores[2].log.committed != commit {
		t.Fatalf("proposing follower applied %q (commit %d), want [via2] at commit %d without a tick", got, cl.cores[2].log.committed, commit)
	}
	if cl.cores[3].log.committed >= commit {
		t.Fatalf("the other follower knows commit %d >= %d: it was sent a commit-only MsgApp", cl.cores[3].log.committed, commit)
	}
}

// TestLazyCommitToReadingFollower: a follower answered a read index (here
// from the leader's lease, so no heartbeat round carried the commit) is
// told the commit index up to it at once, so it can apply and serve the
// read without waiting for a heartbeat.
func TestLazyCommitToReadingFollower(t *testing.T) {
	cl := leaseCluster(t, func(cfg *Config) { cfg.LazyCommit = true })
	l := cl.cores[1]
	if err := l.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	commit := l.log.committed
	if cl.cores[2].log.committed >= commit {
		t.Fatalf("follower 2 already knows commit %d >= %d before reading", cl.cores[2].log.committed, commit)
	}
	if err := cl.cores[2].ReadIndex([]byte("r")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	rs := cl.reads[2]
	if len(rs) != 1 || rs[0].Index != commit {
		t.Fatalf("follower read states %v, want one at %d", rs, commit)
	}
	if got := cl.appliedData(2); cl.cores[2].log.committed < commit || !slices.Contains(got, "x") {
		t.Fatalf("reading follower knows commit %d and applied %q, want commit >= %d and x applied", cl.cores[2].log.committed, got, commit)
	}
	if cl.cores[3].log.committed >= commit {
		t.Fatalf("the other follower knows commit %d >= %d: it was sent a commit-only MsgApp", cl.cores[3].log.committed, commit)
	}
}
