package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// all returns a copy of every entry in the log (tests only).
func (l *raftLog) all() []raftpb.Entry {
	return slices.Clone(l.entries(l.offset+1, l.last+1))
}

// refLog is the reference model of raftLog's entries: one contiguous
// slice, copied on every change, obviously right.
type refLog struct {
	offset, offsetTerm uint64
	ents               []raftpb.Entry
}

func (r *refLog) last() uint64 { return r.offset + uint64(len(r.ents)) }

func (r *refLog) term(i uint64) (uint64, bool) {
	switch {
	case i == r.offset:
		return r.offsetTerm, true
	case i < r.offset || i > r.last():
		return 0, false
	}
	return r.ents[i-r.offset-1].Term, true
}

// handedOut is a slice the log handed out and the content it had then:
// the log must never write it again.
type handedOut struct {
	got, want []raftpb.Entry
}

// logEntries makes n entries from index first with term t; Data names
// the index and term so any misplaced entry shows.
func logEntries(first uint64, n int, t uint64) []raftpb.Entry {
	out := make([]raftpb.Entry, n)
	for i := range out {
		idx := first + uint64(i)
		out[i] = raftpb.Entry{Term: t, Index: idx, Type: raftpb.EntryNormal, Data: []byte(fmt.Sprintf("%d/%d", idx, t))}
	}
	return out
}

// nearBlockEdge returns an index in [lo, hi] that is at, one before or
// one after a block boundary when one is in range (else any index).
func nearBlockEdge(rng *rand.Rand, lo, hi uint64) uint64 {
	if lo >= hi {
		return lo
	}
	if rng.IntN(3) > 0 {
		edge := (lo + uint64(rng.Int64N(int64(hi-lo+1)))) &^ logBlockMask
		if c := edge + uint64(rng.IntN(3)) - 1; c >= lo && c <= hi {
			return c
		}
	}
	return lo + uint64(rng.Int64N(int64(hi-lo+1)))
}

// compareLog checks every observable of l against the reference model,
// plus the block bookkeeping: the cursor and block invariants, zero
// positions before the first entry (dropped entries' Data is not kept
// alive), and that no slice handed out earlier has changed.
func compareLog(t *testing.T, step string, rng *rand.Rand, l *raftLog, r *refLog, handed []handedOut) {
	t.Helper()
	l.check()
	if l.lastIndex() != r.last() || l.offset != r.offset || l.lastTerm() != func() uint64 { x, _ := r.term(r.last()); return x }() {
		t.Fatalf("%s: last %d term %d offset %d, want %d %d", step, l.lastIndex(), l.lastTerm(), l.offset, r.last(), r.offset)
	}
	for i := r.offset - min(r.offset, 2); i <= r.last()+2; i++ {
		gt, gok := l.term(i)
		wt, wok := r.term(i)
		if gt != wt || gok != wok {
			t.Fatalf("%s: term(%d) = %d,%v, want %d,%v", step, i, gt, gok, wt, wok)
		}
		if i > r.offset && i <= r.last() {
			if e := l.at(i); e.Index != i || string(e.Data) != string(r.ents[i-r.offset-1].Data) {
				t.Fatalf("%s: at(%d) = %+v, want %+v", step, i, *e, r.ents[i-r.offset-1])
			}
		}
	}
	if got := l.all(); !slices.EqualFunc(got, r.ents, entryEqual) {
		t.Fatalf("%s: entries differ from the model (%d vs %d)", step, len(got), len(r.ents))
	}
	if len(l.blocks) > 0 && l.blocks[0][0].Index != l.offset+1 {
		t.Fatalf("%s: first block starts at %d, not at the first entry %d", step, l.blocks[0][0].Index, l.offset+1)
	}
	if r.last() > r.offset {
		for range 8 {
			lo := nearBlockEdge(rng, r.offset+1, r.last())
			hi := nearBlockEdge(rng, lo, r.last()) + 1
			max := uint64(rng.IntN(200))
			got, size := l.slice(lo, hi, max)
			want := r.ents[lo-r.offset-1 : hi-r.offset-1]
			if len(got) == 0 || !slices.EqualFunc(got, want[:len(got)], entryEqual) {
				t.Fatalf("%s: slice(%d,%d,%d) = %d entries, not a prefix of the model's", step, lo, hi, max, len(got))
			}
			if cap(got) != len(got) {
				t.Fatalf("%s: slice(%d,%d) not capped", step, lo, hi)
			}
			var sum uint64
			for _, e := range got {
				sum += uint64(len(e.Data))
			}
			// Fewer than asked only at maxBytes or at the end of lo's block.
			blockEnd := (lo - 1) | logBlockMask + 1
			next := lo + uint64(len(got))
			if sum != size || (next < hi && next != blockEnd+1 && sum+uint64(len(want[len(got)].Data)) <= max) {
				t.Fatalf("%s: slice(%d,%d,%d) stopped at %d (size %d, reported %d)", step, lo, hi, max, next, sum, size)
			}
			all := l.entries(lo, hi)
			if !slices.EqualFunc(all, want, entryEqual) || cap(all) != len(all) {
				t.Fatalf("%s: entries(%d,%d) differ from the model", step, lo, hi)
			}
		}
	}
	for i, h := range handed {
		if !slices.EqualFunc(h.got, h.want, entryEqual) {
			t.Fatalf("%s: handed-out slice %d was written after it was handed out", step, i)
		}
	}
}

func entryEqual(a, b raftpb.Entry) bool {
	return a.Term == b.Term && a.Index == b.Index && a.Type == b.Type && string(a.Data) == string(b.Data)
}

// TestLogBlocksMatchReference drives the block-structured log and a plain
// slice model through random appends (one entry, batches within and
// across blocks), conflicting truncations, compactions and restores,
// biased to land at and next to block boundaries, comparing every term,
// entry and slice after each step and checking that no slice handed out
// earlier ever changes.
func TestLogBlocksMatchReference(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var l raftLog
		var r refLog
		if seed%2 == 1 { // start from a snapshot at an offset mid-block
			idx := uint64(rng.IntN(3*logBlockLen)) + 1
			l.restore(idx, 1)
			r = refLog{offset: idx, offsetTerm: 1}
		}
		term := uint64(1)
		var handed []handedOut
		for step := range 300 {
			var name string
			switch op := rng.IntN(10); {
			case op < 4: // append
				n := 1
				switch rng.IntN(3) {
				case 1:
					n = rng.IntN(300) + 1
				case 2:
					n = rng.IntN(2*logBlockLen) + 1
				}
				ents := logEntries(r.last()+1, n, term)
				if n == 1 {
					l.appendOne(ents[0])
				} else {
					l.append(ents...)
				}
				r.ents = append(r.ents, ents...)
				name = fmt.Sprintf("append %d", n)
			case op < 6 && r.last() > l.committed: // conflicting suffix from a new leader
				term++
				first := nearBlockEdge(rng, l.committed+1, r.last())
				ents := logEntries(first, rng.IntN(logBlockLen)+1, term)
				l.truncateAndAppend(ents)
				r.ents = append(slices.Clone(r.ents[:first-r.offset-1]), ents...)
				name = fmt.Sprintf("truncate at %d +%d", first, len(ents))
			case op < 7 && r.last() > l.committed:
				idx := nearBlockEdge(rng, l.committed, r.last())
				l.truncateAfter(idx)
				r.ents = slices.Clone(r.ents[:idx-r.offset])
				name = fmt.Sprintf("truncateAfter %d", idx)
			case op < 9 && r.last() > r.offset: // commit, apply, compact
				l.committed = nearBlockEdge(rng, l.committed, r.last())
				l.applyHanded, l.applied = l.committed, l.committed
				idx := nearBlockEdge(rng, r.offset+1, l.applied)
				if idx > r.offset && idx <= l.applied {
					tm, _ := r.term(idx)
					l.compact(idx, tm)
					r.ents = slices.Clone(r.ents[idx-r.offset:])
					r.offset, r.offsetTerm = idx, tm
				}
				name = fmt.Sprintf("compact %d", idx)
			case op == 9 && rng.IntN(4) == 0:
				idx := r.last() + uint64(rng.IntN(2*logBlockLen))
				l.restore(idx, term)
				r = refLog{offset: idx, offsetTerm: term}
				name = fmt.Sprintf("restore %d", idx)
			default:
				continue
			}
			if r.last()-r.offset > 6*logBlockLen { // keep each step's full comparison cheap
				l.committed, l.applyHanded, l.applied = r.last(), r.last(), r.last()
				idx := r.last() - uint64(rng.IntN(logBlockLen))
				tm, _ := r.term(idx)
				l.compact(idx, tm)
				r.ents = slices.Clone(r.ents[idx-r.offset:])
				r.offset, r.offsetTerm = idx, tm
			}
			l.handed, l.persisted = r.last(), r.last()
			// Hand out slices as Ready and MsgApp would, to check later.
			if r.last() > r.offset {
				lo := nearBlockEdge(rng, r.offset+1, r.last())
				got, _ := l.slice(lo, r.last()+1, ^uint64(0))
				handed = append(handed, handedOut{got, slices.Clone(got)})
				got = l.entries(lo, r.last()+1)
				handed = append(handed, handedOut{got, slices.Clone(got)})
				if len(handed) > 40 {
					handed = handed[2:]
				}
			}
			compareLog(t, fmt.Sprintf("seed %d step %d (%s)", seed, step, name), rng, &l, &r, handed)
		}
	}
}

// TestLogCompactDropsWholeBlocks pins the costs the block structure is
// for: compaction leaves later blocks where they are (no copy of the
// rest), a block-aligned compaction copies nothing, and a conflicting
// suffix copies only the block it cuts.
func TestLogCompactDropsWholeBlocks(t *testing.T) {
	var l raftLog
	l.append(logEntries(1, 5*logBlockLen+logBlockLen/2, 1)...)
	third, tail := &l.blocks[2][0], &l.blocks[5][0]
	l.committed, l.applyHanded, l.applied, l.handed, l.persisted = l.last, l.last, l.last, l.last, l.last
	l.compact(2*logBlockLen+5, 1) // mid-block: that block is copied, later ones kept
	l.check()
	if len(l.blocks) != 4 || &l.blocks[0][0] == third || &l.blocks[3][0] != tail {
		t.Fatalf("compaction mid-block: %d blocks, head copied %v, tail kept %v", len(l.blocks), &l.blocks[0][0] != third, &l.blocks[3][0] == tail)
	}
	if len(l.blocks[0]) != logBlockLen-5 || cap(l.blocks[0]) != logBlockLen-5 || l.blocks[0][0].Index != 2*logBlockLen+6 {
		t.Fatalf("head block after compaction: %d entries (cap %d), first %+v", len(l.blocks[0]), cap(l.blocks[0]), l.blocks[0][0])
	}
	fourth := &l.blocks[1][0]
	l.compact(3*logBlockLen, 1) // block-aligned: nothing copied
	if len(l.blocks) != 3 || &l.blocks[0][0] != fourth {
		t.Fatalf("block-aligned compaction copied or dropped the wrong blocks (%d left)", len(l.blocks))
	}
	l.committed, l.applyHanded, l.applied = 3*logBlockLen, 3*logBlockLen, 3*logBlockLen
	l.truncateAndAppend(logEntries(4*logBlockLen+3, 1, 2))
	l.check()
	if len(l.blocks) != 2 || &l.blocks[0][0] != fourth || l.lastIndex() != 4*logBlockLen+3 {
		t.Fatalf("truncation: %d blocks, last %d", len(l.blocks), l.lastIndex())
	}
	if tm, _ := l.term(4*logBlockLen + 2); tm != 1 {
		t.Fatalf("kept entry before the conflict has term %d", tm)
	}
	if tm, _ := l.term(4*logBlockLen + 3); tm != 2 {
		t.Fatalf("replacing entry has term %d", tm)
	}
	// A log that starts mid-block (after a snapshot) or is emptied by a
	// compaction allocates only room for what it holds, not the block.
	var r raftLog
	r.restore(logBlockLen+logBlockLen/2, 1)
	r.append(logEntries(r.last+1, 1, 1)...)
	if len(r.blocks) != 1 || cap(r.blocks[0]) > logFirstBlockCap {
		t.Fatalf("log starting mid-block: %d blocks, first cap %d", len(r.blocks), cap(r.blocks[0]))
	}
	r.committed, r.applyHanded, r.applied, r.handed, r.persisted = r.last, r.last, r.last, r.last, r.last
	r.compact(r.last, 1)
	r.append(logEntries(r.last+1, 2, 1)...)
	r.check()
	if cap(r.blocks[0]) > logFirstBlockCap {
		t.Fatalf("small log refilled after a full compaction: first cap %d", cap(r.blocks[0]))
	}
	// A busy log emptied by a compaction starts again with its tail's
	// capacity, not from logFirstBlockCap by doubling.
	r.append(logEntries(r.last+1, 2*logBlockLen, 1)...)
	r.committed, r.applyHanded, r.applied, r.handed, r.persisted = r.last, r.last, r.last, r.last, r.last
	r.compact(r.last, 1)
	r.append(logEntries(r.last+1, 1, 1)...)
	r.check()
	if want := logBlockLen - int(r.offset&logBlockMask); cap(r.blocks[0]) != want {
		t.Fatalf("busy log refilled after a full compaction: first cap %d, want %d", cap(r.blocks[0]), want)
	}
}
