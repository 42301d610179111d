package engine

import (
	"errors"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestLeadershipTransfer pins thesis §3.10: the leader brings the target
// up to date, sends MsgTimeoutNow, and the target wins at once (even
// though followers are in their check-quorum lease).
func TestLeadershipTransfer(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.cores[1].Propose([]byte("a"))
	cl.stabilize()
	if err := cl.cores[1].TransferLeadership(3); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if cl.leader() != 3 || cl.cores[1].Role() != Follower || cl.cores[1].Leader() != 3 {
		t.Fatalf("leader %d, node 1 %v lead %d", cl.leader(), cl.cores[1].Role(), cl.cores[1].Leader())
	}
	// A follower may ask for leadership for itself.
	if err := cl.cores[2].TransferLeadership(2); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if cl.leader() != 2 {
		t.Fatalf("leader %d after follower-requested transfer", cl.leader())
	}
}

// TestLeadershipTransferRefusesProposalsAndAborts pins §3.10: proposals
// are refused while a transfer is pending, and a transfer that does not
// finish within an election timeout is aborted.
func TestLeadershipTransferRefusesProposalsAndAborts(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.isolate(3) // the target cannot catch up
	l := cl.cores[1]
	l.Propose([]byte("a"))
	cl.stabilize()
	if err := l.TransferLeadership(3); err != nil {
		t.Fatal(err)
	}
	if err := l.Propose([]byte("b")); !errors.Is(err, ErrTransferInProgress) {
		t.Fatalf("proposal during transfer: %v", err)
	}
	for i := 0; i < l.cfg.ElectionTicks; i++ {
		l.Tick()
		cl.stabilize()
	}
	if l.Role() != Leader {
		t.Fatal("leader lost leadership")
	}
	if err := l.Propose([]byte("b")); err != nil {
		t.Fatalf("after abort: %v", err)
	}
	if err := l.TransferLeadership(9); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("transfer to non-member: %v", err)
	}
}

// TestSnapshotSendAndInstall pins §7: a follower that needs compacted
// entries gets the leader's snapshot in MsgSnap, installs it through
// Ready.Snapshot and then catches up from the log.
func TestSnapshotSendAndInstall(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.isolate(3)
	l := cl.cores[1]
	for _, d := range []string{"a", "b", "c"} {
		l.Propose([]byte(d))
	}
	cl.stabilize()
	st := l.Status()
	snap := raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: st.Applied, Term: l.Term()}, Data: []byte("image")}
	if err := l.Compact(snap); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: st.Applied + 5, Term: l.Term()}}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("compaction beyond applied: %v", err)
	}
	if got := l.Status().FirstIndex; got != st.Applied+1 {
		t.Fatalf("first index %d after compaction, want %d", got, st.Applied+1)
	}
	l.Propose([]byte("d"))
	cl.stabilize()

	var gotSnap *raftpb.Snapshot
	cl.observe = func(id uint64, rd *Ready) {
		if id == 3 && rd.Snapshot != nil {
			gotSnap = rd.Snapshot
		}
	}
	cl.heal()
	l.Tick()
	for i := 0; i < 10 && gotSnap == nil; i++ {
		for _, id := range cl.ids {
			for cl.cores[id].HasReady() {
				cl.processReady(id)
			}
		}
		q := cl.queue
		cl.queue = nil
		for _, m := range q {
			cl.deliver(m)
		}
	}
	if gotSnap == nil || string(gotSnap.Data) != "image" || gotSnap.Meta.Index != st.Applied {
		t.Fatalf("follower 3 did not get the snapshot: %v", gotSnap)
	}
	cl.stabilize()
	l.Tick()
	cl.stabilize()
	if got := cl.appliedData(3); len(got) != 1 || got[0] != "d" {
		t.Fatalf("follower 3 applied %v after the snapshot, want [d]", got)
	}
	if pr := l.Status().Progress[3]; pr.Match != l.Status().LastIndex {
		t.Fatalf("follower 3 progress %+v", pr)
	}
}
