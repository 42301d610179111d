package quorum

import "testing"

// splitmix is a tiny deterministic generator so the property tests are
// reproducible from their seed.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// naiveCommitted is the definition itself: the largest index idx such that
// a majority of voters have match >= idx.
func naiveCommitted(voters []uint64, m map[uint64]uint64) uint64 {
	if len(voters) == 0 {
		return 0
	}
	best := uint64(0)
	for _, cand := range voters {
		idx := m[cand]
		n := 0
		for _, v := range voters {
			if m[v] >= idx {
				n++
			}
		}
		if n >= len(voters)/2+1 && idx > best {
			best = idx
		}
	}
	return best
}

func TestCommittedIndexMatchesOracle(t *testing.T) {
	rng := splitmix(42)
	for iter := 0; iter < 20000; iter++ {
		n := int(rng.next()%20) + 1 // exercise the heap path above 16 too
		voters := make([]uint64, n)
		m := map[uint64]uint64{}
		for i := range voters {
			voters[i] = uint64(i + 1)
			if rng.next()%5 != 0 { // some voters never acked
				m[voters[i]] = rng.next() % 10
			}
		}
		got := CommittedIndex(voters, func(id uint64) uint64 { return m[id] })
		if want := naiveCommitted(voters, m); got != want {
			t.Fatalf("iter %d voters=%v match=%v: got %d want %d", iter, voters, m, got, want)
		}
	}
}

func TestCommittedIndexTable(t *testing.T) {
	for _, tc := range []struct {
		match []uint64
		want  uint64
	}{
		{nil, 0},
		{[]uint64{5}, 5},
		{[]uint64{5, 3}, 3},          // 2 voters need both
		{[]uint64{5, 3, 1}, 3},       // §5.3: majority of 3 is 2
		{[]uint64{5, 5, 1, 1}, 1},    // 4 voters need 3
		{[]uint64{9, 7, 7, 2, 1}, 7}, // 5 voters need 3
	} {
		voters := make([]uint64, len(tc.match))
		for i := range voters {
			voters[i] = uint64(i + 1)
		}
		got := CommittedIndex(voters, func(id uint64) uint64 { return tc.match[id-1] })
		if got != tc.want {
			t.Errorf("match=%v: got %d want %d", tc.match, got, tc.want)
		}
	}
}

func TestCommittedIndexDoesNotAllocate(t *testing.T) {
	voters := []uint64{1, 2, 3, 4, 5}
	m := []uint64{0, 4, 8, 1, 9, 3}
	f := func(id uint64) uint64 { return m[id] }
	if a := testing.AllocsPerRun(100, func() { CommittedIndex(voters, f) }); a != 0 {
		t.Fatalf("CommittedIndex allocates %v times per call", a)
	}
}

func naiveTally(voters []uint64, votes map[uint64]bool) VoteResult {
	g, r := 0, 0
	for _, v := range voters {
		if granted, ok := votes[v]; ok {
			if granted {
				g++
			} else {
				r++
			}
		}
	}
	// Won iff granted is a majority; lost iff even if every silent voter
	// granted, there would be no majority.
	silent := len(voters) - g - r
	switch {
	case len(voters) == 0:
		return VoteLost
	case 2*g > len(voters):
		return VoteWon
	case 2*(g+silent) <= len(voters):
		return VoteLost
	}
	return VotePending
}

func TestTallyMatchesOracle(t *testing.T) {
	rng := splitmix(7)
	for iter := 0; iter < 20000; iter++ {
		n := int(rng.next() % 8)
		voters := make([]uint64, n)
		votes := map[uint64]bool{}
		for i := range voters {
			voters[i] = uint64(i + 1)
			switch rng.next() % 3 {
			case 0:
				votes[voters[i]] = true
			case 1:
				votes[voters[i]] = false
			}
		}
		votes[99] = true // a non-voter's answer must not count
		_, _, got := Tally(voters, func(id uint64) (bool, bool) { g, ok := votes[id]; return g, ok })
		if want := naiveTally(voters, votes); got != want {
			t.Fatalf("iter %d voters=%v votes=%v: got %v want %v", iter, voters, votes, got, want)
		}
	}
}

// TestJoint: a joint configuration commits only what a majority of each
// half acknowledged, wins only with both halves and loses with either.
func TestJoint(t *testing.T) {
	in, out := []uint64{1, 4, 5}, []uint64{1, 2, 3}
	match := map[uint64]uint64{1: 9, 2: 9, 3: 9, 4: 2, 5: 1}
	if got := JointCommittedIndex(in, out, func(id uint64) uint64 { return match[id] }); got != 2 {
		t.Fatalf("joint commit %d, want 2 (the incoming half's majority)", got)
	}
	if got := JointCommittedIndex(in, nil, func(id uint64) uint64 { return match[id] }); got != 2 {
		t.Fatalf("simple commit %d, want 2", got)
	}
	votes := func(g map[uint64]bool) func(uint64) (bool, bool) {
		return func(id uint64) (bool, bool) { v, ok := g[id]; return v, ok }
	}
	for _, c := range []struct {
		g    map[uint64]bool
		want VoteResult
	}{
		{map[uint64]bool{1: true, 2: true, 3: true}, VotePending},         // old half only
		{map[uint64]bool{1: true, 2: true, 4: true}, VoteWon},             // both halves
		{map[uint64]bool{1: true, 4: false, 5: false}, VoteLost},          // incoming half lost
		{map[uint64]bool{1: true, 4: true, 2: false, 3: false}, VoteLost}, // outgoing half lost
	} {
		if got := JointTally(in, out, votes(c.g)); got != c.want {
			t.Errorf("votes %v: %v, want %v", c.g, got, c.want)
		}
	}
}
