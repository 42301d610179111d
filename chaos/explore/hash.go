package explore

import (
	"math"
	"reflect"
	"slices"
	"sync"
)

// hasher folds values into a 64-bit FNV-1a-style digest. Two global
// states with the same digest are treated as one (a collision would hide
// a state; at 64 bits and millions of states the odds are about 1e-7).
type hasher struct {
	h uint64
	// seen numbers the pointers met in one walk, so shared and cyclic
	// structures (the session table's list) hash by shape, not address.
	seen map[uintptr]uint64
	// ren renames node ids (symmetry.go); nil hashes them as they are.
	ren []uint64
}

const fnvOffset = 14695981039346656037

func newHasher() *hasher { return &hasher{h: fnvOffset} }

func (h *hasher) u64(x uint64) {
	// FNV-1a over 8-byte words, then a multiply-xorshift so that nearby
	// words do not cancel.
	h.h = (h.h ^ x) * 1099511628211
	h.h ^= h.h >> 29
}

func (h *hasher) bytes(b []byte) {
	h.u64(uint64(len(b)))
	for len(b) >= 8 {
		h.u64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
		b = b[8:]
	}
	var t uint64
	for i, c := range b {
		t |= uint64(c) << (8 * i)
	}
	h.u64(t)
}

func (h *hasher) sum() uint64 { return h.h }

// skipFields are struct fields that do not change what a node does next
// under the explorer's action model, or that only count: timers (an
// election-timeout action ticks until the timer fires, so the elapsed
// ticks and the drawn timeout never decide an outcome; check-quorum is
// off), the jitter PRNG (it only draws timeouts), configuration that is
// the same in every state, statistics, locks, scratch arrays, and the driver's plumbing
// (hashed separately, relative to its write count). Keyed by
// "pkgpath.Type.field".
var skipFields = map[string]bool{
	"github.com/raftbench/raftbench/engine.Core.rng":                       true,
	"github.com/raftbench/raftbench/engine.Core.cfg":                       true,
	"github.com/raftbench/raftbench/engine.Core.electionElapsed":           true,
	"github.com/raftbench/raftbench/engine.Core.heartbeatElapsed":          true,
	"github.com/raftbench/raftbench/engine.Core.randomizedElectionTimeout": true,
	"github.com/raftbench/raftbench/engine.Core.bugs":                      true,
	// Scratch arrays the next Ready's messages are built in: what they
	// held before is cleared or never read again.
	"github.com/raftbench/raftbench/engine.Core.spareMsgs": true,
	"github.com/raftbench/raftbench/engine.Core.afterSlab": true,
	// The read state's tick clock matters only with lease reads, which
	// the explorer never turns on; it counts ticks like the timers.
	"github.com/raftbench/raftbench/engine.readIndexState.now":             true,
	"github.com/raftbench/raftbench/engine/tracker.Progress.SnapshotTicks": true,
	"github.com/raftbench/raftbench/engine/tracker.Progress.RecentActive":  true,
	"github.com/raftbench/raftbench/engine/driver.Applier.stats":           true,
	"github.com/raftbench/raftbench/engine/driver.Applier.result":          true,
	"github.com/raftbench/raftbench/engine/driver.Applier.sm":              true,
	"github.com/raftbench/raftbench/engine/driver.sessionTable.evictions":  true,
	"github.com/raftbench/raftbench/wal.MemLog.mu":                         true,
	"github.com/raftbench/raftbench/wal.MemLog.opts":                       true,
	"github.com/raftbench/raftbench/wal.MemLog.ctr":                        true,
}

// fieldCache holds, per struct type, the indexes of the fields hashed.
// The search is single-goroutine, but tests may run searches in
// parallel, hence the sync.Map.
var fieldCache sync.Map // reflect.Type -> []hashedField

// hashedField is a struct field the hash reads, and whether it holds
// node ids (renamed under symmetry).
type hashedField struct {
	idx int
	ids idKind
}

func hashedFields(t reflect.Type) []hashedField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]hashedField)
	}
	prefix := t.PkgPath() + "." + t.Name()
	if i := len(prefix) - 1; i > 0 && prefix[i] == ']' {
		// A generic type's name carries its arguments; the fields are
		// keyed by the bare name.
		if j := lastIndexByte(prefix, '['); j > 0 {
			prefix = prefix[:j]
		}
	}
	prefix += "."
	var idx []hashedField
	for i := 0; i < t.NumField(); i++ {
		name := prefix + t.Field(i).Name
		if !skipFields[name] {
			idx = append(idx, hashedField{idx: i, ids: idFields[name]})
		}
	}
	fieldCache.Store(t, idx)
	return idx
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// value hashes v deeply through exported and unexported fields alike
// (reflection reads them; nothing is written). Functions are skipped:
// the only ones reachable are a write's done callback, whose effect is
// fixed by the driver state hashed beside it. Maps hash independently of
// iteration order.
func (h *hasher) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			h.u64(1)
		} else {
			h.u64(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		h.u64(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		h.u64(v.Uint())
	case reflect.Float32, reflect.Float64:
		h.u64(math.Float64bits(v.Float()))
	case reflect.String:
		h.bytes([]byte(v.String()))
	case reflect.Slice:
		// nil and empty hash alike: the core keeps either after Advance.
		if v.Type().Elem().Kind() == reflect.Uint8 {
			h.bytes(v.Bytes())
			return
		}
		fallthrough
	case reflect.Array:
		n := v.Len()
		h.u64(uint64(n))
		for i := 0; i < n; i++ {
			h.value(v.Index(i))
		}
	case reflect.Pointer:
		if v.IsNil() {
			h.u64(0)
			return
		}
		if h.seen == nil {
			h.seen = make(map[uintptr]uint64)
		}
		if no, ok := h.seen[v.Pointer()]; ok {
			h.u64(0xbacc<<32 | no) // back reference by visit order
			return
		}
		h.seen[v.Pointer()] = uint64(len(h.seen) + 1)
		h.u64(1)
		h.value(v.Elem())
	case reflect.Struct:
		for _, f := range hashedFields(v.Type()) {
			fv := v.Field(f.idx)
			if f.ids != idNone && h.ren != nil {
				h.idValue(f.ids, fv)
				continue
			}
			h.value(fv)
		}
	case reflect.Map:
		if v.IsNil() {
			h.u64(0)
			return
		}
		sums := make([]uint64, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			// A fresh pointer numbering per entry: map order is random,
			// so numbers handed out inside one must not leak out.
			sub := &hasher{h: fnvOffset, ren: h.ren}
			sub.value(it.Key())
			sub.value(it.Value())
			sums = append(sums, sub.h)
		}
		slices.Sort(sums)
		h.u64(uint64(len(sums)))
		for _, s := range sums {
			h.u64(s)
		}
	case reflect.Interface:
		if v.IsNil() {
			h.u64(0)
			return
		}
		h.bytes([]byte(v.Elem().Type().String()))
		h.value(v.Elem())
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// see above
	default:
		panic("explore: cannot hash kind " + v.Kind().String())
	}
}
