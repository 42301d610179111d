package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkSlabAccounting checks the bookkeeping compaction relies on: the
// live bytes per slab add up to the live bytes, the slabs' lengths to the
// total, and every key's record is in a slab that was not dropped.
func checkSlabAccounting(t *testing.T, tb *table) {
	t.Helper()
	var live, total uint64
	for i, s := range tb.slabs {
		live += tb.slabLive[i]
		total += uint64(len(s))
		if s == nil && tb.slabLive[i] != 0 {
			t.Fatalf("dropped slab %d still counts %d live bytes", i, tb.slabLive[i])
		}
	}
	if live != tb.live || total != tb.total {
		t.Fatalf("slabs count live %d total %d, table says live %d total %d", live, total, tb.live, tb.total)
	}
}

// TestIncrementalCompactionMatchesModel runs random writes (values whose
// length changes, so every overwrite leaves garbage), cas and reads,
// with snapshot views opened and closed at random, against a plain map.
// Compaction runs a few records per write; the state, every view's
// snapshot and the slab bookkeeping must stay exact throughout, and the
// garbage must stay bounded.
func TestIncrementalCompactionMatchesModel(t *testing.T) {
	defer func(f uint64) { compactFloor = f }(compactFloor)
	compactFloor = 16 << 10
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := NewStore()
		model := map[string][]byte{}
		var view *View
		var viewWant []byte
		compactions, lastVictim := 0, -1
		for step := range 60_000 {
			k := []byte(fmt.Sprint("k", rng.IntN(400)))
			switch r := rng.IntN(100); {
			case r < 80:
				v := bytes.Repeat([]byte{byte(step)}, 1+rng.IntN(60))
				mustResult(t, s.Apply(EncodeWrite(k, v)))
				model[string(k)] = v
			case r < 90:
				cur, ok := model[string(k)]
				to := bytes.Repeat([]byte{'c'}, 1+rng.IntN(60))
				res := mustResult(t, s.Apply(EncodeCas(k, cur, to, false)))
				if ok != (res.Status == StatusOK) {
					t.Fatalf("seed %d step %d: cas on %s: %v", seed, step, k, res.Status)
				}
				if ok {
					model[string(k)] = to
				}
			default:
				res := mustResult(t, s.Query(EncodeRead(k)))
				if want, ok := model[string(k)]; ok != (res.Status == StatusOK) || !bytes.Equal(res.Value, want) {
					t.Fatalf("seed %d step %d: read %s = %q, want %q", seed, step, k, res.Value, want)
				}
			}
			if view == nil && rng.IntN(500) == 0 {
				view, viewWant = s.Capture(), s.Snapshot()
			} else if view != nil && rng.IntN(300) == 0 {
				var got []byte
				if rng.IntN(2) == 0 {
					got = view.Encode() // key order, from the index
				} else { // slab order, the walk a streamed snapshot makes
					var b bytes.Buffer
					if _, err := view.WriteTo(&b); err != nil {
						t.Fatalf("seed %d step %d: %v", seed, step, err)
					}
					got = b.Bytes()
				}
				r := NewStore()
				if err := r.Restore(got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Snapshot(), viewWant) {
					t.Fatalf("seed %d step %d: a view's snapshot differs from the state at its capture", seed, step)
				}
				view = nil
			}
			if s.t.victim >= 0 && s.t.victim != lastVictim {
				compactions++
			}
			lastVictim = s.t.victim
			if step%97 == 0 {
				checkSlabAccounting(t, &s.t)
			}
			if view == nil && len(s.t.unmarked) == 0 && !s.t.compacting && s.t.total > compactFloor && s.t.total > 2*s.t.live+slabBytes {
				t.Fatalf("seed %d step %d: %d bytes in slabs for %d live, no compaction running", seed, step, s.t.total, s.t.live)
			}
		}
		if view != nil {
			view.Release()
		}
		want := NewStore()
		for k, v := range model {
			want.Apply(EncodeWrite([]byte(k), v))
		}
		if !bytes.Equal(s.Snapshot(), want.Snapshot()) {
			t.Fatalf("seed %d: final state differs from the model", seed)
		}
		checkSlabAccounting(t, &s.t)
		dropped := 0
		for _, sl := range s.t.slabs {
			if sl == nil {
				dropped++
			}
		}
		if dropped == 0 || compactions == 0 {
			t.Fatalf("seed %d: no slab was ever dropped (%d victims chosen): the test did not reach compaction", seed, compactions)
		}
	}
}

// TestCompactionNeverStallsOneWrite: with a million keys' worth of
// garbage, no single write looks at more than compactStepRecords records
// of it (the structural bound that replaced a rewrite of every live
// record in one write).
func TestCompactionNeverStallsOneWrite(t *testing.T) {
	defer func(f uint64) { compactFloor = f }(compactFloor)
	compactFloor = 64 << 10
	s := NewStore()
	val := bytes.Repeat([]byte{1}, 100)
	for i := range 20_000 {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), val))
	}
	v := s.Capture()
	for i := range 20_000 {
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), val))
	}
	v.Release()
	short := []byte("x")
	for i := range 20_000 {
		before := s.t.looked
		s.Apply(EncodeWrite([]byte(fmt.Sprintf("k%07d", i)), short))
		if n := s.t.looked - before; n > compactStepRecords {
			t.Fatalf("one write looked at %d records of garbage", n)
		}
	}
	if s.t.looked == 0 {
		t.Fatal("no compaction ran")
	}
	if s.t.total > 2*s.t.live+slabBytes {
		t.Fatalf("%d bytes in slabs for %d live after 20,000 writes", s.t.total, s.t.live)
	}
	checkSlabAccounting(t, &s.t)
}
