package driver

import (
	"errors"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// busyError is a storage's "queue full" (wal.ErrQueueFull behaves so).
type busyError struct{}

func (busyError) Error() string      { return "queue full" }
func (busyError) Backpressure() bool { return true }

// busyStorage refuses writes as backpressure while more than limit are
// not yet durable; refuse, when set, fails the next Submit for good.
type busyStorage struct {
	fakeStorage
	limit  int
	refuse error
}

func (b *busyStorage) Submit(w Write, done func(error)) error {
	if b.refuse != nil {
		return b.refuse
	}
	if len(b.dones)-b.synced >= b.limit {
		return busyError{}
	}
	return b.fakeStorage.Submit(w, done)
}

// TestBackpressureDefersWrites: a follower whose storage queue is full
// keeps accepting appends; the refused writes reach the storage later in
// their order, acks leave only once their write is durable, and nothing
// fails. A storage error that is not backpressure still fails Handle.
func TestBackpressureDefersWrites(t *testing.T) {
	d, _, tr, durable := follower(t)
	st := &busyStorage{limit: 2}
	d.st = st
	const n = 6
	for i := uint64(1); i <= n; i++ {
		m := raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, LogTerm: 2, Index: i - 1,
			Entries: []raftpb.Entry{{Index: i, Term: 2, Data: []byte{byte(i)}}}}
		if i == 1 {
			m.LogTerm = 0
		}
		if err := d.Core().Step(m); err != nil {
			t.Fatal(err)
		}
		handleAll(t, d)
	}
	if len(st.writes) != 2 || len(d.deferred) == 0 || d.Stats().WritesDeferred == 0 {
		t.Fatalf("storage holds %d writes, %d deferred (stats %d): want 2 and some deferred", len(st.writes), len(d.deferred), d.Stats().WritesDeferred)
	}
	if got := tr.count(raftpb.MsgAppResp); got != 0 {
		t.Fatalf("%d acks sent before any write was durable", got)
	}
	// Each round makes the storage's writes durable, after which the
	// next tick submits deferred ones.
	for round := 0; round < 10 && (len(d.deferred) > 0 || st.synced < len(st.dones)); round++ {
		st.syncAll()
		d.Release(*durable)
		d.Tick()
		handleAll(t, d)
	}
	if len(d.deferred) != 0 {
		t.Fatalf("%d writes still deferred", len(d.deferred))
	}
	var last uint64
	for _, w := range st.writes {
		for _, e := range w.Entries {
			if e.Index != last+1 {
				t.Fatalf("entry %d reached the storage after %d: order broken", e.Index, last)
			}
			last = e.Index
		}
	}
	if last != n {
		t.Fatalf("storage got entries up to %d, want %d", last, n)
	}
	if p := d.Core().Status().Persisted; p != n {
		t.Fatalf("core persisted %d, want %d", p, n)
	}

	// A real failure is not backpressure: the next Handle reports it.
	broken := errors.New("disk on fire")
	st.limit, st.refuse = 0, nil
	if err := d.Core().Step(raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, LogTerm: 2, Index: n,
		Entries: []raftpb.Entry{{Index: n + 1, Term: 2}}}); err != nil {
		t.Fatal(err)
	}
	rd := d.Ready()
	if _, err := d.Handle(&rd); err != nil {
		t.Fatalf("deferring behind a full queue failed: %v", err)
	}
	st.refuse = broken
	d.Tick()
	if err := d.Core().Step(raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	rd = d.Ready()
	if _, err := d.Handle(&rd); !errors.Is(err, broken) {
		t.Fatalf("Handle after a failed deferred submit = %v, want the storage's error", err)
	}
}
