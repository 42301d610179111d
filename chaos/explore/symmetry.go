package explore

import (
	"reflect"
	"slices"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Node symmetry. The nodes start identical but for their ids, and the
// core, the driver and the explorer's actions treat ids only as names:
// renaming the nodes of a reachable state by a permutation gives a
// reachable state that breaks the same invariants (the invariants are
// about terms, indexes and entries, never about which id). So a state
// can be identified with its whole orbit under the permutations of
// {1..N}: the canonical hash is the smallest hash of the state under a
// renaming. TestSymmetryEquivariant checks the premise on random paths:
// the state reached by a renamed path hashes as the renamed state.
//
// Renaming needs every place an id is kept. They are listed here by
// field; a field not listed is hashed as it is, which TestSymmetry-
// Equivariant would catch if it held an id. Reads are excluded (their
// contexts carry the node id inside bytes): Validate refuses symmetry
// with reads.

type idKind uint8

const (
	idNone   idKind = iota
	idScalar        // the field is a node id
	idSet           // a sorted slice of node ids (order is not state)
	idKeys          // a map keyed by node id
)

var idFields = map[string]idKind{
	"github.com/raftbench/raftbench/engine.Core.id":                         idScalar,
	"github.com/raftbench/raftbench/engine.Core.vote":                       idScalar,
	"github.com/raftbench/raftbench/engine.Core.lead":                       idScalar,
	"github.com/raftbench/raftbench/engine.Core.leadTransferee":             idScalar,
	"github.com/raftbench/raftbench/engine.Core.voters":                     idSet,
	"github.com/raftbench/raftbench/engine.Core.peers":                      idSet,
	"github.com/raftbench/raftbench/engine.Core.prs":                        idKeys,
	"github.com/raftbench/raftbench/engine.Core.votes":                      idKeys,
	"github.com/raftbench/raftbench/engine.SoftState.Lead":                  idScalar,
	"github.com/raftbench/raftbench/engine.readRequest.from":                idScalar,
	"github.com/raftbench/raftbench/engine/raftpb.HardState.Vote":           idScalar,
	"github.com/raftbench/raftbench/engine/raftpb.Message.From":             idScalar,
	"github.com/raftbench/raftbench/engine/raftpb.Message.To":               idScalar,
	"github.com/raftbench/raftbench/engine/raftpb.ConfState.Voters":         idSet,
	"github.com/raftbench/raftbench/engine/raftpb.ConfState.Learners":       idSet,
	"github.com/raftbench/raftbench/engine/raftpb.ConfState.VotersOutgoing": idSet,
	"github.com/raftbench/raftbench/engine/raftpb.PeerAddr.ID":              idScalar,
	"github.com/raftbench/raftbench/engine/driver.Applier.id":               idScalar,
}

// rename maps id through h.ren (ids 1..N; 0 is "none" and stays).
func (h *hasher) rename(id uint64) uint64 {
	if h.ren == nil || id == 0 || id >= uint64(len(h.ren)) {
		return id
	}
	return h.ren[id]
}

// idValue hashes a field that holds node ids, renamed.
func (h *hasher) idValue(k idKind, v reflect.Value) {
	switch k {
	case idScalar:
		h.u64(h.rename(v.Uint()))
	case idSet:
		ids := make([]uint64, v.Len())
		for i := range ids {
			ids[i] = h.rename(v.Index(i).Uint())
		}
		slices.Sort(ids)
		h.u64(uint64(len(ids)))
		for _, x := range ids {
			h.u64(x)
		}
	case idKeys:
		if v.IsNil() {
			h.u64(0)
			return
		}
		sums := make([]uint64, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			sub := &hasher{h: fnvOffset, ren: h.ren}
			sub.u64(h.rename(it.Key().Uint()))
			sub.value(it.Value())
			sums = append(sums, sub.h)
		}
		slices.Sort(sums)
		h.u64(uint64(len(sums)))
		for _, s := range sums {
			h.u64(s)
		}
	}
}

// permutations lists every permutation of 1..n as a renaming table
// (index: old id, value: new id; index 0 unused).
func permutations(n int) [][]uint64 {
	var out [][]uint64
	p := make([]uint64, n)
	for i := range p {
		p[i] = uint64(i + 1)
	}
	var gen func(k int)
	gen = func(k int) {
		if k == n {
			out = append(out, append([]uint64{0}, p...))
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			gen(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	gen(0)
	return out
}

// permsOf[n] holds the renamings of n nodes (n = 3..5).
var permsOf = func() [6][][]uint64 {
	var p [6][][]uint64
	for n := 3; n <= 5; n++ {
		p[n] = permutations(n)
	}
	return p
}()

// msgHashUnder is an in-flight message's hash with its ids renamed.
func msgHashUnder(m *inflight, ren []uint64) uint64 {
	h := &hasher{h: fnvOffset, ren: ren}
	h.value(reflect.ValueOf(&m.msg).Elem())
	return h.sum()
}

// stateHashUnder digests w with its nodes renamed by ren: the node that
// gets id j is hashed in position j, and every id inside the state is
// renamed the same way.
func (w *world) stateHashUnder(ren []uint64) uint64 {
	h := &hasher{h: fnvOffset, ren: ren}
	byNew := make([]*node, len(w.n))
	for _, n := range w.n {
		byNew[ren[n.id]-1] = n
	}
	for _, n := range byNew {
		h.u64(n.hashUnder(ren))
	}
	hs := make([]uint64, len(w.net))
	for i := range w.net {
		hs[i] = msgHashUnder(&w.net[i], ren)
	}
	slices.Sort(hs)
	h.u64(uint64(len(hs)))
	for _, x := range hs {
		h.u64(x)
	}
	h.value(reflect.ValueOf(w.used))
	terms := make([]uint64, 0, len(w.leaders))
	for t := range w.leaders {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	h.u64(uint64(len(terms)))
	for _, t := range terms {
		h.u64(t)
		h.u64(h.rename(w.leaders[t]))
	}
	votes := make([][3]uint64, 0, len(w.votes))
	for k, c := range w.votes {
		votes = append(votes, [3]uint64{k[1], h.rename(k[0]), h.rename(c)})
	}
	slices.SortFunc(votes, func(a, b [3]uint64) int { return slices.Compare(a[:], b[:]) })
	h.u64(uint64(len(votes)))
	for _, v := range votes {
		h.u64(v[0])
		h.u64(v[1])
		h.u64(v[2])
	}
	h.value(reflect.ValueOf(w.committed))
	h.value(reflect.ValueOf(w.commitTerm))
	h.value(reflect.ValueOf(w.applied))
	return h.sum()
}

// canonicalHash is the smallest hash of w over every renaming of its
// nodes: one hash per orbit.
func (w *world) canonicalHash() uint64 {
	best := uint64(0)
	for i, ren := range permsOf[w.cfg.Nodes] {
		if x := w.stateHashUnder(ren); i == 0 || x < best {
			best = x
		}
	}
	return best
}

// decodeInflight fills m.msg from its encoding (for renaming).
func decodeInflight(m *inflight) {
	_ = raftpb.UnmarshalMessage(m.enc, &m.msg, raftpb.Limits{})
}
