package tracker

import "testing"

func TestInflightsLimitsMessagesAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxMsgs   int
		maxBytes  uint64
		sizes     []uint64
		wantCount int // messages accepted before Full
	}{
		{"message limit", 3, 1000, []uint64{1, 1, 1, 1}, 3},
		{"byte limit", 10, 100, []uint64{60, 60, 1}, 2}, // full once bytes >= max
		{"exact bytes", 10, 100, []uint64{50, 50, 1}, 2},
		{"empty messages count", 2, 100, []uint64{0, 0, 0}, 2},
	} {
		in := NewInflights(tc.maxMsgs, tc.maxBytes)
		n := 0
		for i, s := range tc.sizes {
			if in.Full() {
				break
			}
			in.Add(uint64(i+1), s)
			n++
		}
		if n != tc.wantCount || !in.Full() {
			t.Errorf("%s: accepted %d (want %d), full=%v", tc.name, n, tc.wantCount, in.Full())
		}
	}
}

func TestInflightsFreeLEAndWrap(t *testing.T) {
	in := NewInflights(5, 1<<20)
	next := uint64(1)
	live := []uint64{} // oracle: indexes in flight
	for round := 0; round < 50; round++ {
		for !in.Full() {
			in.Add(next, next)
			live = append(live, next)
			next++
		}
		// free a prefix of varying length
		k := round % (len(live) + 1)
		if k > 0 {
			in.FreeLE(live[k-1])
			live = live[k:]
		}
		var bytes uint64
		for _, v := range live {
			bytes += v
		}
		if in.Count() != len(live) || in.Bytes() != bytes {
			t.Fatalf("round %d: count=%d bytes=%d, want %d/%d", round, in.Count(), in.Bytes(), len(live), bytes)
		}
	}
	in.FreeLE(next)
	if in.Count() != 0 || in.Bytes() != 0 {
		t.Fatalf("after freeing all: %d msgs %d bytes", in.Count(), in.Bytes())
	}
}

func TestInflightsAddPanics(t *testing.T) {
	mustPanic(t, "add to full", func() {
		in := NewInflights(1, 10)
		in.Add(1, 1)
		in.Add(2, 1)
	})
	mustPanic(t, "non-increasing", func() {
		in := NewInflights(4, 10)
		in.Add(5, 1)
		in.Add(5, 1)
	})
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: expected a panic", name)
		}
	}()
	f()
}

// TestProgressTransitions pins the probe/replicate/snapshot rules (Raft §5.3).
func TestProgressTransitions(t *testing.T) {
	p := NewProgress(11, 4, 1<<20) // leader's last index 10
	if p.State != StateProbe || p.IsPaused() {
		t.Fatalf("new progress: %v paused=%v", p, p.IsPaused())
	}
	p.SentEntries(12, 10, 2) // probe carrying 11..12
	if !p.IsPaused() || p.Next != 11 {
		t.Fatalf("probe outstanding: %v paused=%v", p, p.IsPaused())
	}
	// stale rejection (for a different probe) is ignored
	if p.MaybeDecrTo(7, 3) {
		t.Fatal("stale rejection acted upon")
	}
	// the real rejection with hint 5 moves Next to 6 and unpauses
	if !p.MaybeDecrTo(10, 5) || p.Next != 6 || p.IsPaused() {
		t.Fatalf("after reject: %v", p)
	}
	if !p.MaybeUpdate(8) || p.Match != 8 || p.Next != 9 {
		t.Fatalf("after ack: %v", p)
	}
	p.BecomeReplicate()
	for i := uint64(0); i < 4; i++ {
		p.SentEntries(9+i, 1, 1)
	}
	if !p.IsPaused() || p.Next != 13 {
		t.Fatalf("window should be full: %v", p)
	}
	p.MaybeUpdate(10)
	p.Inflight.FreeLE(10)
	if p.IsPaused() || p.Inflight.Count() != 2 {
		t.Fatalf("after ack of 10: %v", p)
	}
	// a rejection at or below Match in replicate is stale
	if p.MaybeDecrTo(9, 0) {
		t.Fatal("stale replicate rejection acted upon")
	}
	if !p.MaybeDecrTo(11, 0) || p.Next != 11 {
		t.Fatalf("replicate rejection: %v", p)
	}
	p.BecomeProbe()
	if p.Inflight.Count() != 0 || p.Next != 11 {
		t.Fatalf("become probe: %v", p)
	}
	p.BecomeSnapshot(50)
	if !p.IsPaused() {
		t.Fatal("snapshot state must pause")
	}
	p.MaybeUpdate(50)
	p.BecomeProbe()
	if p.Next != 51 || p.Match != 50 {
		t.Fatalf("after snapshot: %v", p)
	}
	p.CheckInvariants(2)
	p.Match = 60
	mustPanic(t, "match >= next", func() { p.CheckInvariants(2) })
}
