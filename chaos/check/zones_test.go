package check

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/anishathalye/porcupine"
)

// randomRegisterHistory draws a history of reads and uniquely valued
// writes on one key. It runs a real register: each op takes effect at a
// point inside its interval, reads return what the register held then,
// so the history is linearizable, unless corrupt is set, when one read
// returns something else (often, not always, a violation). Times are
// small integers so that ties between calls and returns are common, and
// some writes end Info (taking effect or not).
func randomRegisterHistory(rng *rand.Rand, corrupt bool) []Op {
	n := 2 + rng.IntN(9)
	type planned struct {
		op    Op
		point float64
	}
	ps := make([]planned, n)
	for i := range ps {
		call := int64(rng.IntN(16))
		ret := call + int64(rng.IntN(8))
		p := planned{op: Op{Client: i, Key: "k", Call: call, Return: ret, Outcome: OK}}
		// The linearization point: strictly inside, or at an end (ties
		// at equal times are ordered by a random fraction).
		p.point = float64(call) + rng.Float64()*float64(ret-call)
		if rng.IntN(3) == 0 {
			p.op.Kind, p.op.Value = Write, fmt.Sprintf("v%d", i)
			if rng.IntN(5) == 0 {
				p.op.Outcome = Info
				p.op.Return = 0
				if rng.IntN(2) == 0 {
					p.point = 1e9 // never took effect
				} else {
					p.point = float64(call) + rng.Float64()*10
				}
			}
		} else {
			p.op.Kind = Read
		}
		ps[i] = p
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ps[order[a]].point < ps[order[b]].point })
	value, exists := "", false
	for _, i := range order {
		switch ps[i].op.Kind {
		case Write:
			if ps[i].point < 1e9 {
				value, exists = ps[i].op.Value, true
			}
		case Read:
			ps[i].op.Missing, ps[i].op.Value = !exists, value
		}
	}
	out := make([]Op, n)
	for i := range ps {
		out[i] = ps[i].op
	}
	if corrupt {
		var reads []int
		for i, op := range out {
			if op.Kind == Read {
				reads = append(reads, i)
			}
		}
		if len(reads) > 0 {
			r := &out[reads[rng.IntN(len(reads))]]
			switch k := rng.IntN(n + 2); {
			case k == n:
				r.Missing, r.Value = true, ""
			case k == n+1:
				r.Missing, r.Value = false, "never-written"
			default:
				r.Missing, r.Value = false, fmt.Sprintf("v%d", k)
			}
		}
	}
	return out
}

// TestZonesAgreeWithSearch: on 60,000 random small histories, half of
// them corrupted, the zones decision equals porcupine's exhaustive one,
// and both verdicts occur often.
func TestZonesAgreeWithSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[Verdict]int{}
	for i := 0; i < 60_000; i++ {
		h := randomRegisterHistory(rng, i%2 == 1)
		ops, _ := partition(h)
		if !uniqueRegister(ops["k"]) {
			t.Fatal("generator made duplicate write values")
		}
		got := checkZones(ops["k"])
		want := Unknown
		switch porcupine.CheckOperations(registerModel, searchOps(ops["k"])) {
		case true:
			want = Linearizable
		case false:
			want = NotLinearizable
		}
		if got != want {
			for _, op := range h {
				t.Logf("%+v", op)
			}
			t.Fatalf("history %d: zones say %v, porcupine %v", i, got, want)
		}
		counts[got]++
	}
	if counts[Linearizable] < 15_000 || counts[NotLinearizable] < 6_000 {
		t.Fatalf("verdicts %v: the generator does not exercise both", counts)
	}
	t.Logf("verdicts %v", counts)
}

// TestCheckUsesZonesWhenValuesAreUnique: a history of unique writes and
// reads is decided by zones; one with a cas or a repeated value by the
// search; a stale read is caught either way.
func TestCheckUsesZonesWhenValuesAreUnique(t *testing.T) {
	unique := []Op{
		{Client: 0, Kind: Write, Key: "a", Value: "1", Call: 0, Return: 10, Outcome: OK},
		{Client: 1, Kind: Write, Key: "a", Value: "2", Call: 20, Return: 30, Outcome: OK},
		{Client: 2, Kind: Read, Key: "a", Value: "2", Call: 40, Return: 50, Outcome: OK},
	}
	r := Check(unique, Options{})
	if !r.OK() || r.Keys[0].Method != MethodZones {
		t.Fatalf("unique history: %v by %s", r.Linearizable, r.Keys[0].Method)
	}
	stale := append(append([]Op{}, unique[:2]...), Op{Client: 2, Kind: Read, Key: "a", Value: "1", Call: 40, Return: 50, Outcome: OK})
	r = Check(stale, Options{})
	if r.Linearizable != NotLinearizable || r.Keys[0].Method != MethodZones || r.BadKey != "a" {
		t.Fatalf("stale read: %v by %s", r.Linearizable, r.Keys[0].Method)
	}
	var buf countingWriter
	if err := r.Visualize(&buf); err != nil || buf == 0 {
		t.Fatalf("a key failed by zones has no drawing: %v", err)
	}
	repeated := append(append([]Op{}, unique...), Op{Client: 3, Kind: Write, Key: "a", Value: "1", Call: 60, Return: 70, Outcome: OK})
	if r = Check(repeated, Options{}); !r.OK() || r.Keys[0].Method != MethodSearch {
		t.Fatalf("repeated value: %v by %s", r.Linearizable, r.Keys[0].Method)
	}
	withCas := append(append([]Op{}, unique...), Op{Client: 3, Kind: Cas, Key: "a", From: "2", Value: "3", Call: 60, Return: 70, Outcome: OK})
	if r = Check(withCas, Options{}); !r.OK() || r.Keys[0].Method != MethodSearch {
		t.Fatalf("cas: %v by %s", r.Linearizable, r.Keys[0].Method)
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
