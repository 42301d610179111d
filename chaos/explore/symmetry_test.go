package explore

import (
	"math/rand"
	"reflect"
	"testing"
)

// TestSymmetryEquivariant checks node symmetry's premise on random
// paths through every action kind: running the path with its nodes
// renamed reaches a state whose hash equals the original state's hash
// under that renaming, for every renaming, after every action. A node id
// the renaming misses (a field not in idFields) or a core that treats
// ids as more than names fails it.
func TestSymmetryEquivariant(t *testing.T) {
	cfg := Config{Nodes: 3, MaxDepth: 40, MaxInFlight: 12, MaxCrashes: 2, MaxProposals: 3,
		MaxDrops: 2, MaxDups: 2, MaxTerm: 4, MaxStates: 1, Heartbeats: true, Symmetry: true}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	perms := permsOf[cfg.Nodes]
	identity := perms[0]
	for i := range identity {
		if i > 0 && identity[i] != uint64(i) {
			t.Fatalf("permsOf[0] is not the identity: %v", identity)
		}
	}
	rng := rand.New(rand.NewSource(1))
	kinds := map[Kind]int{}
	for walk := 0; walk < 80; walk++ {
		w, err := newWorld(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		renamed := make([]*world, len(perms))
		for p := range perms {
			if renamed[p], err = newWorld(&cfg); err != nil {
				t.Fatal(err)
			}
		}
		for step := 0; step < 30; step++ {
			acts := w.enabled(nil)
			if len(acts) == 0 {
				break
			}
			a := acts[rng.Intn(len(acts))]
			var m *inflight
			for i := range w.net {
				if w.net[i].hash == a.MsgHash {
					m = &w.net[i]
				}
			}
			for p, ren := range perms {
				b := Action{Kind: a.Kind, Node: a.Node}
				if a.Node != 0 {
					b.Node = ren[a.Node]
				}
				if m != nil {
					want := msgHashUnder(m, ren)
					for i := range renamed[p].net {
						if msgHashUnder(&renamed[p].net[i], identity) == want {
							b.MsgHash = renamed[p].net[i].hash
						}
					}
					if b.MsgHash == 0 {
						t.Fatalf("walk %d step %d: renaming %v: no renamed copy of %v in flight", walk, step, ren, m.msg)
					}
				}
				cw := renamed[p]
				cw.cell.w = cw
				if err := cw.do(&b); err != nil {
					t.Fatalf("walk %d step %d: renamed action %v: %v", walk, step, b, err)
				}
			}
			w.cell.w = w
			if err := w.do(&a); err != nil {
				t.Fatal(err)
			}
			kinds[a.Kind]++
			for p, ren := range perms {
				if got, want := renamed[p].stateHashUnder(identity), w.stateHashUnder(ren); got != want {
					symDiff(t, w, renamed[p], ren, identity)
					t.Fatalf("walk %d step %d (%v): the path renamed by %v reaches a different state", walk, step, a, ren)
				}
				if (renamed[p].violation == nil) != (w.violation == nil) {
					t.Fatalf("walk %d step %d: violation %v, renamed %v", walk, step, w.violation, renamed[p].violation)
				}
			}
			if w.violation != nil {
				t.Fatalf("correct core: %v", w.violation)
			}
		}
	}
	for k := Deliver; k < numKinds; k++ {
		if k != Read && kinds[k] == 0 {
			t.Errorf("no %s action in the random walks", k)
		}
	}
	t.Logf("actions: %v", kinds)
}

// TestSymmetryReduces: with symmetry the tiny space has fewer states,
// the same depth, and no violation; every state without symmetry maps
// to an orbit explored with it.
func TestSymmetryReduces(t *testing.T) {
	cfg := Config{Nodes: 3, MaxDepth: 7, MaxInFlight: 4, MaxCrashes: 1, MaxProposals: 1,
		MaxDrops: 1, MaxTerm: 3, MaxStates: 1_000_000}
	plain, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Symmetry = true
	sym, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, s := plain.Coverage, sym.Coverage
	if !p.Complete || !s.Complete || s.States >= p.States || s.DepthReached != p.DepthReached {
		t.Fatalf("plain %d states (depth %d, complete %v); symmetric %d (depth %d, complete %v)",
			p.States, p.DepthReached, p.Complete, s.States, s.DepthReached, s.Complete)
	}
	t.Logf("%d states -> %d orbits (%.2fx)", p.States, s.States, float64(p.States)/float64(s.States))
}

// symDiff logs which part of the state a renaming does not carry over
// (the diagnosis when TestSymmetryEquivariant fails).
func symDiff(t *testing.T, w, v *world, ren, id []uint64) {
	for _, n := range w.n {
		m := v.n[ren[n.id]-1]
		if n.hashUnder(ren) != m.hashUnder(id) {
			t.Logf("node %d (-> %d) differs", n.id, m.id)
			c1 := reflect.ValueOf(n.core).Elem()
			c2 := reflect.ValueOf(m.core).Elem()
			for _, f := range hashedFields(c1.Type()) {
				h1 := &hasher{h: fnvOffset, ren: ren}
				h2 := &hasher{h: fnvOffset, ren: id}
				if f.ids != idNone {
					h1.idValue(f.ids, c1.Field(f.idx))
					h2.idValue(f.ids, c2.Field(f.idx))
				} else {
					h1.value(c1.Field(f.idx))
					h2.value(c2.Field(f.idx))
				}
				if h1.h != h2.h {
					t.Logf("core field %s differs: %v vs %v", c1.Type().Field(f.idx).Name, c1.Field(f.idx), c2.Field(f.idx))
				}
			}
			for _, p := range []struct{ a, b any }{{n.log, m.log}, {n.ap, m.ap}, {n.reads, m.reads}, {n.drv, m.drv}} {
				h1 := &hasher{h: fnvOffset, ren: ren}
				h2 := &hasher{h: fnvOffset, ren: id}
				h1.value(reflect.ValueOf(p.a).Elem())
				h2.value(reflect.ValueOf(p.b).Elem())
				if h1.h != h2.h {
					t.Logf("%T differs", p.a)
				}
			}
		}
	}
	t.Logf("net %d vs %d", len(w.net), len(v.net))
	for i := range w.net {
		t.Logf("  w %v -> %x", w.net[i].msg, msgHashUnder(&w.net[i], ren))
	}
	for i := range v.net {
		t.Logf("  v %v -> %x", v.net[i].msg, msgHashUnder(&v.net[i], id))
	}
	t.Logf("leaders %v %v votes %v %v", w.leaders, v.leaders, w.votes, v.votes)
}
