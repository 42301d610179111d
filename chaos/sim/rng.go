package sim

import "math/bits"

// rng is a splitmix64 generator (Steele, Lea, Flood 2014). It is small,
// passes BigCrush, and its stream is fixed by this code alone, so a seed
// replays the same run on every Go release and platform. Only integer
// arithmetic is used, never math.Log or other libm-dependent functions.
type rng struct {
	s uint64
	// tap, when set, records every value drawn (a run being recorded for
	// the trace shrinker) or hands back recorded values (a replay); see
	// replay.go.
	tap *tape
}

func newRNG(seed uint64) *rng { return &rng{s: seed} }

// Uint64 returns the next 64 random bits.
func (r *rng) Uint64() uint64 {
	if r.tap != nil {
		return r.tap.draw(r)
	}
	return r.next()
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Intn returns a value in [0, n); n must be positive. Lemire's
// multiply-high reduction: the bias is below 2^-32 for the small n used.
func (r *rng) Intn(n int) int {
	if n <= 0 {
		panic("sim: rng.Intn with n <= 0")
	}
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// Between returns a value in [lo, hi] (inclusive).
func (r *rng) Between(lo, hi int64) int64 {
	if hi < lo {
		panic("sim: rng.Between with hi < lo")
	}
	hiW, _ := bits.Mul64(r.Uint64(), uint64(hi-lo)+1)
	return lo + int64(hiW)
}

// Permille reports true with probability p/1000.
func (r *rng) Permille(p int) bool {
	if p <= 0 {
		return false
	}
	return r.Intn(1000) < p
}

// Pick returns an index drawn with the given integer weights.
func (r *rng) Pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.Intn(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// Fork returns an independent generator seeded from this one; used to
// give each node's core its own election-jitter seed.
func (r *rng) Fork() uint64 { return r.Uint64() }
