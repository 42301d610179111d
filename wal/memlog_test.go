package wal

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// manual returns a ManualSync MemLog holding synced entries 1..5 (term
// 1, hard state commit 5) and three unsynced writes: 6..8, hard state
// commit 8, then 9..10 with a hard state. It also returns the
// completion record of the unsynced writes.
func manual(t *testing.T) (*MemLog, *[]int) {
	t.Helper()
	m := NewMemLog(MemOptions{ManualSync: true})
	mustAppend(t, m, ents(1, 5, 1))
	if err := m.SaveHardState(raftpb.HardState{Term: 1, Commit: 5}); err != nil {
		t.Fatal(err)
	}
	var done []int
	submit := func(id int, w Write) {
		if err := m.Submit(w, func(err error) {
			if err != nil {
				t.Errorf("write %d: %v", id, err)
			}
			done = append(done, id)
		}); err != nil {
			t.Fatal(err)
		}
	}
	submit(1, Write{Entries: ents(6, 8, 2)})
	submit(2, Write{HardState: &raftpb.HardState{Term: 2, Commit: 8}})
	submit(3, Write{Entries: ents(9, 10, 2), HardState: &raftpb.HardState{Term: 2, Commit: 10}})
	return m, &done
}

func TestMemLogManualSync(t *testing.T) {
	m, done := manual(t)
	if m.LastIndex() != 5 || m.Pending() != 3 || len(*done) != 0 {
		t.Fatalf("unsynced writes visible: last %d pending %d done %v", m.LastIndex(), m.Pending(), *done)
	}
	wantErr(t, m.Append(ents(12, 12, 2)), ErrNotContiguous) // contiguity checks the submitted log
	if !m.SyncOne() || m.LastIndex() != 8 || !slices.Equal(*done, []int{1}) {
		t.Fatalf("after SyncOne: last %d done %v", m.LastIndex(), *done)
	}
	if n := m.SyncAll(); n != 2 || m.LastIndex() != 10 || !slices.Equal(*done, []int{1, 2, 3}) {
		t.Fatalf("after SyncAll (%d): last %d done %v", n, m.LastIndex(), *done)
	}
	if m.HardState().Commit != 10 || m.SyncOne() {
		t.Fatalf("hard state %+v", m.HardState())
	}
	// A blocking helper syncs everything pending before it.
	var early bool
	_ = m.Submit(Write{Entries: ents(11, 11, 2)}, func(error) { early = true })
	mustAppend(t, m, ents(12, 12, 2))
	if !early || m.LastIndex() != 12 || m.Pending() != 0 {
		t.Fatalf("Append did not sync the pending write before it")
	}
}

func TestMemLogCrashModes(t *testing.T) {
	t.Run("LoseUnsynced", func(t *testing.T) {
		m, done := manual(t)
		r, err := m.Crash(LoseUnsynced)
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, r, 1, 5, constTerm(1))
		if r.HardState().Commit != 5 || len(*done) != 0 {
			t.Fatalf("hard state %+v, callbacks %v", r.HardState(), *done)
		}
		wantErr(t, m.Append(ents(6, 6, 1)), ErrClosed) // the crashed instance is dead
		mustAppend(t, r, ents(6, 6, 3))
	})
	t.Run("TearLast", func(t *testing.T) {
		m, _ := manual(t)
		r, err := m.Crash(TearLast)
		if err != nil {
			t.Fatal(err)
		}
		// 6..8 and the commit-8 hard state reached the disk; write 3's
		// last record (10) is torn and cut, its hard state lost.
		wantLog(t, r, 1, 9, func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i > 5] })
		if r.HardState().Commit != 8 {
			t.Fatalf("hard state %+v", r.HardState())
		}
	})
	t.Run("TearLastSingleRecord", func(t *testing.T) {
		m := NewMemLog(MemOptions{ManualSync: true})
		mustAppend(t, m, ents(1, 3, 1))
		_ = m.Submit(Write{Entries: ents(4, 4, 1)}, func(error) {})
		r, err := m.Crash(TearLast)
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, r, 1, 3, constTerm(1))
	})
	t.Run("FlipSynced", func(t *testing.T) {
		m, _ := manual(t)
		_, err := m.Crash(FlipSynced)
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Index != 3 {
			t.Fatalf("reopen after flip: %v, want ErrCorrupt at index 3", err)
		}
		empty := NewMemLog(MemOptions{})
		if _, err := empty.Crash(FlipSynced); err == nil || errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip on an empty log: %v", err)
		}
	})
}

func TestMemLogFailNextSync(t *testing.T) {
	m := NewMemLog(MemOptions{ManualSync: true})
	var got []error
	for i := uint64(1); i <= 3; i++ {
		if err := m.Submit(Write{Entries: ents(i, i, 1)}, func(err error) { got = append(got, err) }); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("EIO")
	m.FailNextSync(boom)
	m.SyncOne()
	// The failing sync fails every pending write, in order, and the log
	// stays failed like the WAL after an fsync error.
	if len(got) != 3 || m.Pending() != 0 || m.LastIndex() != 0 {
		t.Fatalf("callbacks %v pending %d last %d", got, m.Pending(), m.LastIndex())
	}
	for _, err := range got {
		if !errors.Is(err, boom) {
			t.Fatalf("a write survived the failed sync: %v", got)
		}
	}
	if err := m.Append(ents(1, 1, 1)); !errors.Is(err, boom) {
		t.Fatalf("append after failed sync: %v", err)
	}
	wantErr(t, m.Close(), boom)
}

// Same calls, same results: two MemLogs driven identically agree.
func TestMemLogDeterministic(t *testing.T) {
	run := func() (uint64, raftpb.HardState, []raftpb.Entry) {
		m := NewMemLog(MemOptions{ManualSync: true})
		for i := uint64(1); i <= 40; i++ {
			_ = m.Submit(Write{Entries: ents(i, i, i/10+1), HardState: &raftpb.HardState{Commit: i}}, func(error) {})
			if i%3 == 0 {
				m.SyncOne()
			}
		}
		r, _ := m.Crash(TearLast)
		es, _ := r.Entries(r.FirstIndex(), r.LastIndex()+1)
		return r.LastIndex(), r.HardState(), es
	}
	l1, h1, e1 := run()
	l2, h2, e2 := run()
	if l1 != l2 || h1 != h2 || len(e1) != len(e2) {
		t.Fatalf("runs differ: %d/%+v vs %d/%+v", l1, h1, l2, h2)
	}
}
