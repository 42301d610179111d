package engine

import (
	"fmt"
	"testing"
)

// TestRandomizedSafety is a small seeded smoke test of the core under
// message loss, reordering, delayed persistence and partitions (the
// thorough version lives in chaos/sim). It checks election safety (one
// leader per term, §5.2) and state machine safety (every node applies the
// same entry at each index, §5.4.3) and that no invariant panics fire.
func TestRandomizedSafety(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runRandomCluster(t, seed, 4000) })
	}
}

func runRandomCluster(t *testing.T, seed uint64, steps int) {
	rng := newSplitmix(seed, 99)
	const n = 5
	cl := newCluster(t, n, func(c *Config) {
		c.Seed = seed
		c.PreVote = seed%2 == 0
		c.CheckQuorum = seed%3 != 0
		c.MaxInflightMsgs = 4
	})
	cl.delayPersist = true
	leaders := map[uint64]uint64{} // term -> leader
	applied := map[uint64]string{} // index -> data seen applied by anyone
	proposals := 0
	for stepN := 0; stepN < steps; stepN++ {
		switch r := rng.intn(100); {
		case r < 30: // tick one node
			cl.cores[uint64(1+rng.intn(n))].Tick()
		case r < 40: // propose at whoever thinks it leads
			for _, id := range cl.ids {
				if cl.cores[id].Role() == Leader {
					proposals++
					_ = cl.cores[id].Propose([]byte(fmt.Sprintf("p%d", proposals)))
				}
			}
		case r < 42: // partition a node (often the leader) or heal
			switch rng.intn(3) {
			case 0:
				cl.isolate(uint64(1 + rng.intn(n)))
			case 1:
				if l := cl.leader(); l != 0 {
					cl.isolate(l)
				}
			default:
				cl.heal()
			}
		case r < 45: // read
			_ = cl.cores[uint64(1+rng.intn(n))].ReadIndex([]byte("r"))
		}
		// Readies: persistence is delayed, completing in order later.
		for _, id := range cl.ids {
			c := cl.cores[id]
			for c.HasReady() {
				from := len(cl.applied[id])
				cl.processReady(id)
				for _, e := range cl.applied[id][from:] {
					if prev, ok := applied[e.Index]; ok && prev != string(e.Data) {
						t.Fatalf("seed %d: node %d applied %q at %d, another node applied %q", seed, id, e.Data, e.Index, prev)
					}
					applied[e.Index] = string(e.Data)
				}
				if c.Role() == Leader {
					if l, ok := leaders[c.Term()]; ok && l != id {
						t.Fatalf("seed %d: two leaders in term %d: %d and %d", seed, c.Term(), l, id)
					}
					leaders[c.Term()] = id
				}
			}
		}
		// Complete some persistence in order.
		for _, id := range cl.ids {
			for len(cl.persistQ[id]) > 0 && rng.intn(3) != 0 {
				cl.completePersist(id)
			}
		}
		// Deliver some messages, in random order, dropping 5%.
		net := cl.queue
		for k := rng.intn(len(net) + 1); k > 0 && len(net) > 0; k-- {
			i := rng.intn(len(net))
			m := net[i]
			net[i] = net[len(net)-1]
			net = net[:len(net)-1]
			if rng.intn(20) == 0 || cl.cut[[2]uint64{m.From, m.To}] {
				continue
			}
			if err := cl.cores[m.To].Step(m); err != nil {
				t.Fatalf("seed %d: Step(%v): %v", seed, m, err)
			}
		}
		cl.queue = net
	}
	if len(leaders) == 0 || len(applied) < 10 {
		t.Fatalf("seed %d: %d terms with leaders, %d entries applied: the run exercised too little", seed, len(leaders), len(applied))
	}
	t.Logf("seed %d: %d leader terms, %d entries applied, %d proposals", seed, len(leaders), len(applied), proposals)
}
