package driver

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// fakeStorage records writes and completes them only when told to.
type fakeStorage struct {
	writes []Write
	dones  []func(error)
	synced int
	snaps  []raftpb.Snapshot
}

func (f *fakeStorage) Submit(w Write, done func(error)) error {
	f.writes = append(f.writes, w)
	f.dones = append(f.dones, done)
	return nil
}

// syncAll completes every pending write in order.
func (f *fakeStorage) syncAll() {
	for ; f.synced < len(f.dones); f.synced++ {
		f.dones[f.synced](nil)
	}
}

func (f *fakeStorage) WaitDurable(n uint64) (uint64, error) {
	f.syncAll()
	return uint64(f.synced), nil
}

func (f *fakeStorage) SaveSnapshot(s raftpb.Snapshot) error {
	f.snaps = append(f.snaps, s)
	return nil
}

type fakeTransport struct{ sent []raftpb.Message }

func (f *fakeTransport) Send(msgs []raftpb.Message) { f.sent = append(f.sent, msgs...) }

func (f *fakeTransport) count(t raftpb.MessageType) int {
	n := 0
	for _, m := range f.sent {
		if m.Type == t {
			n++
		}
	}
	return n
}

// follower builds node 1 of {1, 2, 3} behind a driver with fakes; the
// returned counter is what the done callbacks reported durable.
func follower(t *testing.T) (*Driver, *fakeStorage, *fakeTransport, *uint64) {
	t.Helper()
	core, err := engine.New(engine.Config{ID: 1, Voters: []uint64{1, 2, 3}, ElectionTicks: 10, HeartbeatTicks: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, tr := &fakeStorage{}, &fakeTransport{}
	var durable uint64
	d, err := New(Config{Core: core, Storage: st, Transport: tr, OnDurable: func(err error) {
		if err == nil {
			durable++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d, st, tr, &durable
}

// handleAll carries out every Ready and collects the batches.
func handleAll(t *testing.T, d *Driver) []Batch {
	t.Helper()
	var out []Batch
	for d.Core().HasReady() {
		rd := d.Ready()
		b, err := d.Handle(&rd)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestAcksLeaveOnlyAfterTheirWrite: a follower's append ack and its vote
// grant wait for the write carrying them, and leave from its done
// callback; Release then reports the entries persisted.
func TestAcksLeaveOnlyAfterTheirWrite(t *testing.T) {
	d, st, tr, durable := follower(t)
	steps := []struct {
		name     string
		msg      raftpb.Message
		sync     bool
		wantResp raftpb.MessageType
		wantSent int // responses of that type sent so far
	}{
		{"vote request: grant waits for the term+vote write", raftpb.Message{Type: raftpb.MsgVote, From: 2, To: 1, Term: 2}, false, raftpb.MsgVoteResp, 0},
		{"vote write durable: grant leaves", raftpb.Message{}, true, raftpb.MsgVoteResp, 1},
		{"append: ack waits for the entries' write", raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, Entries: []raftpb.Entry{{Index: 1, Term: 2}}}, false, raftpb.MsgAppResp, 0},
		{"entries durable: ack leaves", raftpb.Message{}, true, raftpb.MsgAppResp, 1},
	}
	for _, s := range steps {
		if s.msg.Type != 0 {
			if err := d.Core().Step(s.msg); err != nil {
				t.Fatalf("%s: step: %v", s.name, err)
			}
		}
		if s.sync {
			st.syncAll()
			d.Release(*durable)
		}
		handleAll(t, d)
		if got := tr.count(s.wantResp); got != s.wantSent {
			t.Fatalf("%s: %d %v sent, want %d", s.name, got, s.wantResp, s.wantSent)
		}
	}
	if p := d.Core().Status().Persisted; p != 1 {
		t.Fatalf("core persisted index %d after the entry's write was released, want 1", p)
	}
	if got := d.Stats().AcksAfterPersist; got != 2 {
		t.Fatalf("AcksAfterPersist = %d, want 2", got)
	}
}

// TestHardStateSavePolicy: term and vote are saved with every change,
// a commit index that moved alone at most every CommitSaveTicks ticks.
func TestHardStateSavePolicy(t *testing.T) {
	cases := []struct {
		name        string
		changed     bool   // Ready.HardStateChanged (term or vote)
		commit      uint64 // Ready.HardState.Commit; the last save had 5
		ticksSince  uint64 // ticks since the last save
		wantSave    bool
		wantCommits uint64 // commit-only saves counted
	}{
		{"nothing moved", false, 5, 500, false, 0},
		{"term or vote changed", true, 5, 0, true, 0},
		{"term changed with commit", true, 9, 0, true, 0},
		{"commit moved, too soon", false, 9, DefaultCommitSaveTicks - 1, false, 0},
		{"commit moved, interval passed", false, 9, DefaultCommitSaveTicks, true, 1},
	}
	for _, c := range cases {
		d := &Driver{commitSaveTicks: DefaultCommitSaveTicks, savedCommit: 5, ticks: 1000, lastCommitTick: 1000 - c.ticksSince}
		rd := engine.Ready{HardStateChanged: c.changed, HardState: raftpb.HardState{Term: 3, Vote: 2, Commit: c.commit}}
		hs := d.hardStateToSave(&rd, false)
		if (hs != nil) != c.wantSave {
			t.Errorf("%s: saved %v, want %v", c.name, hs != nil, c.wantSave)
		}
		if hs != nil && (*hs != rd.HardState || d.savedCommit != c.commit) {
			t.Errorf("%s: saved %+v (saved commit %d), want %+v", c.name, *hs, d.savedCommit, rd.HardState)
		}
		if d.stats.CommitSaves != c.wantCommits {
			t.Errorf("%s: CommitSaves %d, want %d", c.name, d.stats.CommitSaves, c.wantCommits)
		}
	}
}

// TestReadIndexContexts: only this driver's own contexts come back as
// reads; another node's (a follower forwards them as its own) and an
// earlier process's are dropped.
func TestReadIndexContexts(t *testing.T) {
	d, _, _, _ := follower(t)
	d.readPrefix[15] = 7 // as if ReadNonce were 7<<56
	own := slices.Clone(d.readPrefix[:])
	own = append(own, 5, 0, 0, 0, 0, 0, 0, 0)
	other := slices.Clone(own)
	other[0] = 2 // node 2's
	old := slices.Clone(own)
	old[15] = 6 // an earlier incarnation's
	got := d.readsOf([]engine.ReadState{{Index: 10, Context: own}, {Index: 11, Context: other}, {Index: 12, Context: old}, {Index: 13, Context: own[:8]}})
	if want := []Read{{ID: 5, Index: 10}}; !slices.Equal(got, want) {
		t.Fatalf("reads %v, want %v", got, want)
	}
}

// TestReadQueueWaitsForApplied: a read is served only once applied has
// reached its index, in arrival order.
func TestReadQueueWaitsForApplied(t *testing.T) {
	q, err := NewReadQueue[string](nil)
	if err != nil {
		t.Fatal(err)
	}
	q.Add(5, "a")
	q.Add(3, "b")
	q.Add(8, "c")
	steps := []struct {
		applied uint64
		want    []string
	}{
		{2, nil},
		{4, []string{"b"}},
		{7, []string{"a"}},
		{8, []string{"c"}},
	}
	for _, s := range steps {
		var got []string
		q.Servable(s.applied, func(index uint64, r string) {
			if index > s.applied {
				t.Fatalf("served %s at index %d with applied %d", r, index, s.applied)
			}
			got = append(got, r)
		})
		if !slices.Equal(got, s.want) {
			t.Fatalf("applied %d: served %v, want %v", s.applied, got, s.want)
		}
	}
}

func TestBugsNeedBuildTag(t *testing.T) {
	if bugsBuild {
		t.Skip("built with -tags raftbugs")
	}
	if _, err := New(Config{Core: &engine.Core{}, Storage: &fakeStorage{}, Transport: &fakeTransport{}, Bugs: []Bug{BugAckBeforeSync}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bug switch accepted in a normal build: %v", err)
	}
	if _, err := NewReadQueue[int]([]Bug{BugReadBeforeApplied}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bug switch accepted in a normal build: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Core: &engine.Core{}}, {Core: &engine.Core{}, Storage: &fakeStorage{}}} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := NewApplier(ApplierConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewApplier without a state machine: %v", err)
	}
}

// TestResidentLogDrops: once the data of the entries applied since the
// last drop reaches the resident limit, the core keeps only the last
// KeepAppliedEntries applied entries in memory; without a limit it keeps
// them all.
func TestResidentLogDrops(t *testing.T) {
	for _, limit := range []uint64{0, 50} {
		core, err := engine.New(engine.Config{ID: 1, Voters: []uint64{1, 2, 3}, ElectionTicks: 10, HeartbeatTicks: 1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		st := &fakeStorage{}
		var durable uint64
		d, err := New(Config{Core: core, Storage: st, Transport: &fakeTransport{}, KeepAppliedEntries: 2,
			OnDurable: func(err error) { durable++ }})
		if err != nil {
			t.Fatal(err)
		}
		d.SetResidentLogBytes(limit)
		var ents []raftpb.Entry
		for i := uint64(1); i <= 10; i++ {
			ents = append(ents, raftpb.Entry{Index: i, Term: 2, Data: []byte("0123456789")})
		}
		if err := core.Step(raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, Entries: ents, Commit: 10}); err != nil {
			t.Fatal(err)
		}
		batches := handleAll(t, d)
		st.syncAll()
		d.Release(durable)
		var applied int
		for _, b := range append(batches, handleAll(t, d)...) {
			applied += len(b.Entries)
		}
		first, _ := core.LogBounds()
		switch {
		case applied != 10:
			t.Fatalf("limit %d: %d entries applied, want 10", limit, applied)
		case limit == 0 && (first != 1 || d.Stats().LogDrops != 0):
			t.Fatalf("no limit: first index %d, %d drops; want the whole log kept", first, d.Stats().LogDrops)
		case limit > 0 && (first != 9 || d.Stats().LogDrops != 1):
			t.Fatalf("limit %d: first index %d, %d drops; want 9 (the last 2 applied kept), 1 drop", limit, first, d.Stats().LogDrops)
		}
	}
}
