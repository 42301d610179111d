package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// proposeAll proposes each datum on the leader and stabilizes.
func proposeAll(t *testing.T, cl *cluster, l *Core, data ...string) {
	t.Helper()
	for _, d := range data {
		if err := l.Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	cl.stabilize()
}

// TestDropAppliedAsksForAFreshSnapshot: applied entries dropped from
// memory without a snapshot are never sent as a stale snapshot plus a
// gap. A follower that needs them waits (no MsgSnap of the older
// snapshot, no busy Readys) while SnapshotWanted names the index a fresh
// snapshot must reach; once Compact gets one, the follower installs it
// and catches up from the log.
func TestDropAppliedAsksForAFreshSnapshot(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	cl.isolate(3)
	l := cl.cores[1]
	proposeAll(t, cl, l, "a")
	old := l.Status().Applied
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: old, Term: l.Term()}, Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	proposeAll(t, cl, l, "b", "c", "d")
	applied := l.Status().Applied
	if got := l.DropApplied(applied + 10); got != applied {
		t.Fatalf("DropApplied past applied dropped to %d, want the applied index %d", got, applied)
	}
	if first, _ := l.LogBounds(); first != applied+1 {
		t.Fatalf("first index %d after the drop, want %d", first, applied+1)
	}
	if got := l.SnapshotWanted(); got != 0 {
		t.Fatalf("SnapshotWanted %d with every follower caught up (3 is unknown: isolated since the start)", got)
	}

	var sent []raftpb.Message
	var installed *raftpb.Snapshot
	cl.observe = func(id uint64, rd *Ready) {
		sent = append(sent, rd.Messages...)
		if id == 3 && rd.Snapshot != nil {
			installed = rd.Snapshot
		}
	}
	cl.heal()
	for i := 0; i < 3; i++ {
		l.Tick() // heartbeats: 3 answers, the leader learns it is behind
		cl.stabilize()
	}
	if slices.ContainsFunc(sent, func(m raftpb.Message) bool { return m.Type == raftpb.MsgSnap }) {
		t.Fatalf("the leader sent a snapshot older than its dropped entries: %s", msgsString(sent))
	}
	if got := l.SnapshotWanted(); got != applied {
		t.Fatalf("SnapshotWanted %d, want %d (the log's first index - 1)", got, applied)
	}
	if l.HasReady() {
		t.Fatal("HasReady while the follower can only wait for a snapshot: the loop would spin")
	}
	proposeAll(t, cl, l, "e")
	if got := l.DropApplied(l.Status().Applied); got != applied {
		t.Fatalf("DropApplied dropped to %d while a follower waits for a snapshot at %d", got, applied)
	}

	// A snapshot older than the latest is refused; one inside the
	// dropped range is kept but does not reach the follower's gap.
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: old - 1, Term: l.Term()}}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("Compact older than the latest snapshot: %v", err)
	}
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: applied - 1, Term: l.Term()}, Data: []byte("mid")}); err != nil {
		t.Fatalf("Compact inside the dropped entries: %v", err)
	}
	if got := l.SnapshotWanted(); got != applied {
		t.Fatalf("SnapshotWanted %d after a snapshot below the log's start, want %d", got, applied)
	}
	now := l.Status().Applied
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: now, Term: l.Term()}, Data: []byte("fresh")}); err != nil {
		t.Fatal(err)
	}
	if got := l.SnapshotWanted(); got != 0 {
		t.Fatalf("SnapshotWanted %d after a fresh snapshot at %d", got, now)
	}
	proposeAll(t, cl, l, "f")
	for i := 0; i < 3 && installed == nil; i++ {
		l.Tick()
		cl.stabilize()
	}
	if installed == nil || installed.Meta.Index != now || string(installed.Data) != "fresh" {
		t.Fatalf("follower 3 installed %v, want the fresh snapshot at %d", installed, now)
	}
	if got, want := cl.cores[3].Status().Applied, l.Status().Applied; got != want {
		t.Fatalf("follower 3 applied %d after the snapshot, leader %d", got, want)
	}
	if got := cl.appliedData(3); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("follower 3 applied %q from the log after the snapshot, want [f]", got)
	}
}

// TestDropAppliedLimits: a drop never passes the applied index, the
// first configuration entry still in the log (a snapshot's configuration
// is the base one) or a snapshot a follower is being sent (it continues
// from the entries after it).
func TestDropAppliedLimits(t *testing.T) {
	cl := growCluster(t, 4)
	l := cl.cores[1]
	proposeAll(t, cl, l, "a", "b")
	if err := l.ProposeConfChange(ConfChange{Changes: steps(ConfChangeSingle{Type: AddLearner, Node: 4})}); err != nil {
		t.Fatal(err)
	}
	confAt := l.Status().LastIndex
	proposeAll(t, cl, l, "c")
	if got := l.DropApplied(l.Status().Applied); got != confAt-1 {
		t.Fatalf("DropApplied dropped to %d with a configuration entry at %d", got, confAt)
	}
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: confAt, Term: l.Term()}}); err != nil {
		t.Fatal(err)
	}
	if got := l.snapshot.Meta.ConfState; !slices.Contains(got.Learners, 4) {
		t.Fatalf("snapshot at the configuration entry carries %v, want learner 4", got)
	}

	// Follower 3 is sent a snapshot: the drop stops at it.
	cl.isolate(3)
	proposeAll(t, cl, l, "d", "e")
	applied := l.Status().Applied
	if err := l.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: applied, Term: l.Term()}}); err != nil {
		t.Fatal(err)
	}
	f := l.prs[3]
	f.pr.BecomeProbe()
	f.pr.Next = applied // needs the compacted entry at applied
	l.sendAppend(3, f)
	if f.pr.State != tracker.StateSnapshot || f.pr.PendingSnapshot != applied {
		t.Fatalf("follower 3 in %v (pending %d), want a snapshot at %d", f.pr.State, f.pr.PendingSnapshot, applied)
	}
	proposeAll(t, cl, l, "f", "g")
	if got := l.DropApplied(l.Status().Applied); got != applied {
		t.Fatalf("DropApplied dropped to %d while follower 3 is sent the snapshot at %d", got, applied)
	}
}
