package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// randomCommands returns n commands over a small key space (so keys
// repeat within a batch): writes of the same and of other lengths, cas
// that match, mismatch, miss or create, reads, and undecodable bytes.
func randomCommands(rng *rand.Rand, n, keys int) [][]byte {
	cmds := make([][]byte, n)
	val := func() []byte { return bytes.Repeat([]byte{byte('a' + rng.IntN(3))}, 1+rng.IntN(3)) }
	for i := range cmds {
		key := []byte(fmt.Sprintf("k%d", rng.IntN(keys)))
		switch r := rng.IntN(20); {
		case r < 9:
			cmds[i] = EncodeWrite(key, val())
		case r < 15:
			cmds[i] = EncodeCas(key, val(), val(), rng.IntN(2) == 0)
		case r < 18:
			cmds[i] = EncodeRead(key)
		case r < 19:
			cmds[i] = []byte{byte(OpWrite), 0, 0x80} // bad length prefix
		default:
			c := EncodeWrite(key, val())
			cmds[i] = c[:len(c)-1] // truncated
		}
	}
	return cmds
}

// TestApplyBatchMatchesApply: a store fed by ApplyBatch, one fed by
// Prefetch before each Apply, and one touched by loads instead of
// prefetch instructions (touchByLoads, touch's fallback) before each
// Apply, give every command the result sequential
// Apply gives it and end in the same state, through keys repeated within
// a batch, cas, reads, bad commands, index growth in the middle of a
// batch (the stores start empty), snapshot views opened and released
// between batches (so writes append instead of overwriting, and the
// index changes go to pending), a view streamed on another goroutine
// while batches apply, and with every hash colliding into a few values
// (the overflow map).
func TestApplyBatchMatchesApply(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprint("collide=", collide), func(t *testing.T) {
			if collide {
				defer func(h func([]byte) uint64) { hashKey = h }(hashKey)
				hashKey = func(k []byte) uint64 { return fnv1a(k) % 5 }
			}
			defer func(f, p uint64) { compactFloor, prefetchFloor = f, p }(compactFloor, prefetchFloor)
			compactFloor = 4 << 10 // reach compaction too
			prefetchFloor = 0      // and touch even the smallest store
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				seq, batched, hinted, loaded := NewStore(), NewStore(), NewStore(), NewStore()
				keys := 10 + rng.IntN(3000)
				var views []*View
				var wg sync.WaitGroup
				for round := range 60 {
					cmds := randomCommands(rng, 1+rng.IntN(150), keys)
					var want [][]byte
					for _, c := range cmds {
						want = append(want, seq.Apply(c))
					}
					got := batched.ApplyBatch(cmds, nil)
					var hintedGot, loadedGot [][]byte
					for i := 0; i < len(cmds); i += PrefetchGroup {
						g := cmds[i:min(len(cmds), i+PrefetchGroup)]
						hinted.Prefetch(g)
						for _, c := range g {
							hintedGot = append(hintedGot, hinted.Apply(c))
						}
						loaded.mu.RLock()
						loaded.t.touchByLoads(g)
						loaded.mu.RUnlock()
						for _, c := range g {
							loadedGot = append(loadedGot, loaded.Apply(c))
						}
					}
					for i := range cmds {
						if !bytes.Equal(got[i], want[i]) || !bytes.Equal(hintedGot[i], want[i]) || !bytes.Equal(loadedGot[i], want[i]) {
							t.Fatalf("seed %d round %d command %d: batch %x, prefetched %x, touched by loads %x, sequential %x", seed, round, i, got[i], hintedGot[i], loadedGot[i], want[i])
						}
					}
					switch rng.IntN(4) {
					case 0: // open a view on each store
						views = append(views, batched.Capture(), hinted.Capture())
					case 1: // release them
						for _, v := range views {
							v.Release()
						}
						views = nil
					case 2: // stream one beside the next batches
						v := batched.Capture()
						wg.Add(1)
						go func() {
							defer wg.Done()
							var b bytes.Buffer
							if _, err := v.WriteTo(&b); err != nil {
								t.Error(err)
							}
						}()
					}
				}
				wg.Wait()
				for _, v := range views {
					v.Release()
				}
				if w := seq.Snapshot(); !bytes.Equal(batched.Snapshot(), w) || !bytes.Equal(hinted.Snapshot(), w) || !bytes.Equal(loaded.Snapshot(), w) {
					t.Fatalf("seed %d: states differ after the rounds", seed)
				}
			}
		})
	}
}

// TestCommandShape: the key and the expected record value length touch
// reads from a command: a write's value, a cas's expected value, none for
// a read; a command whose key cannot be read is refused, one whose value
// length cannot be read keeps its key with length 0.
func TestCommandShape(t *testing.T) {
	w := EncodeWrite([]byte("key"), bytes.Repeat([]byte{'v'}, 300))
	for _, c := range []struct {
		name    string
		cmd     []byte
		key     string
		vl      int
		decodes bool
	}{
		{"write", w, "key", 300, true},
		{"cas", EncodeCas([]byte("k"), []byte("from!"), []byte("to"), false), "k", 5, true},
		{"read", EncodeRead([]byte("rk")), "rk", 0, true},
		{"empty key", EncodeWrite(nil, []byte("v")), "", 1, true},
		{"value length cut", w[:6], "key", 0, true},
		{"value length past the end", w[:len(w)-1], "key", 0, true},
		{"too short", []byte{byte(OpWrite), 0}, "", 0, false},
		{"key past the end", []byte{byte(OpWrite), 0, 9, 'a'}, "", 0, false},
		{"bad key length", []byte{byte(OpWrite), 0, 0x80}, "", 0, false},
	} {
		key, vl, ok := commandShape(c.cmd)
		if ok != c.decodes || string(key) != c.key || vl != c.vl {
			t.Errorf("%s: commandShape = %q, %d, %v; want %q, %d, %v", c.name, key, vl, ok, c.key, c.vl, c.decodes)
		}
	}
}

// TestPrefetchIgnoresBadCommands: Prefetch on undecodable or empty
// commands and on an empty store changes nothing and does not panic.
func TestPrefetchIgnoresBadCommands(t *testing.T) {
	defer func(p uint64) { prefetchFloor = p }(prefetchFloor)
	prefetchFloor = 0
	s := NewStore()
	bad := [][]byte{nil, {}, {byte(OpWrite)}, {byte(OpWrite), 0, 0xff, 0xff}, {byte(OpRead), 0, 5, 'a'}}
	s.Prefetch(bad)
	s.Prefetch(nil)
	s.Apply(EncodeWrite([]byte("a"), []byte("1")))
	s.Prefetch(append(bad, EncodeRead([]byte("a")), EncodeRead([]byte("zz"))))
	if got := s.ApplyBatch(bad, nil); len(got) != len(bad) {
		t.Fatalf("%d results for %d commands", len(got), len(bad))
	}
	r, _ := DecodeResult(s.Query(EncodeRead([]byte("a"))))
	if s.Len() != 1 || string(r.Value) != "1" {
		t.Fatalf("state changed: %d keys, a=%q", s.Len(), r.Value)
	}
}

// BenchmarkApplyBatchKeySpace is BenchmarkApplyKeySpace (full key space,
// random 16-byte keys, 128-byte values) applied one command at a time,
// with Prefetch on each group of 32 before applying it (as the node's
// applier does), the same with Prefetch's loads instead of prefetch
// instructions, and with ApplyBatch over groups of 32.
func BenchmarkApplyBatchKeySpace(b *testing.B) {
	val := bytes.Repeat([]byte{1}, 128)
	for _, n := range []int{10_000, 1_000_000} {
		s := NewStore()
		key := []byte("k000000000000000")
		cmd := func(i int) []byte {
			copy(key[1:], fmt.Sprintf("%015d", i))
			return EncodeWrite(key, val)
		}
		for i := range n {
			s.Apply(cmd(i))
		}
		cmds := make([][]byte, 1<<18)
		x := uint64(88172645463325252)
		for i := range cmds {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			cmds[i] = cmd(int(x % uint64(n)))
		}
		const group = PrefetchGroup
		for _, mode := range []string{"single", "prefetch", "prefetch-by-loads", "batch"} {
			b.Run(fmt.Sprintf("keys=%d/%s", n, mode), func(b *testing.B) {
				var results [][]byte
				i := 0
				for b.Loop() {
					// One group per iteration; ns/op is per group.
					g := cmds[i : i+group]
					if i += group; i+group > len(cmds) {
						i = 0
					}
					switch mode {
					case "single":
						for _, c := range g {
							s.Apply(c)
						}
					case "prefetch":
						s.Prefetch(g)
						for _, c := range g {
							s.Apply(c)
						}
					case "prefetch-by-loads": // touch's fallback, where there is no prefetch instruction
						s.mu.RLock()
						s.t.touchByLoads(g)
						s.mu.RUnlock()
						for _, c := range g {
							s.Apply(c)
						}
					case "batch":
						results = s.ApplyBatch(g, results[:0])
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/write")
			})
		}
	}
}
