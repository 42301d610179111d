package bench

import (
	"math"
	"math/rand/v2"
)

// KeyBytes is the size of every generated key: "k" and 15 decimal
// digits: 16 bytes, so a write of the standard 128 B value is a 144 B
// command.
const KeyBytes = 16

// valueVariants is how many distinct values each run writes. A small
// set makes a cas "from" match the current value often enough
// (about 1 in valueVariants when the key exists) to exercise both
// outcomes.
const valueVariants = 4

// zipf draws ranks in [0, n) with P(rank i) proportional to 1/(i+1)^theta,
// theta in (0,1), by the method of Gray et al., "Quickly generating
// billion-record synthetic databases" (SIGMOD 1994), which YCSB uses.
// It is immutable after construction and shared by all workers; each
// worker brings its own random source.
type zipf struct {
	n      float64
	theta  float64
	alpha  float64 // 1/(1-theta)
	zetaN  float64 // sum_{i=1..n} 1/i^theta
	eta    float64
	halfTh float64 // 1 + 0.5^theta = zeta(2): u*zetaN below it means rank 0 or 1
}

func newZipf(n int, theta float64) *zipf {
	z := &zipf{n: float64(n), theta: theta, alpha: 1 / (1 - theta)}
	z.zetaN = zeta(n, theta)
	zeta2 := zeta(2, theta)
	z.eta = (1 - math.Pow(2/z.n, 1-theta)) / (1 - zeta2/z.zetaN)
	z.halfTh = 1 + math.Pow(0.5, theta)
	return z
}

// zeta is the generalised harmonic number sum_{i=1..n} 1/i^theta.
func zeta(n int, theta float64) float64 {
	var s float64
	for i := 1; i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

// rank returns a rank in [0, n) for a uniform u in [0, 1).
func (z *zipf) rank(u float64) int {
	uz := u * z.zetaN
	if uz < 1 {
		return 0
	}
	if uz < z.halfTh {
		return 1
	}
	r := int(z.n * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if r >= int(z.n) { // guard float rounding at u close to 1
		r = int(z.n) - 1
	}
	return r
}

// workload is shared, read-only run state from which each worker makes
// its own generator.
type workload struct {
	cum    [3]float64 // cumulative op fractions in opOrder
	keys   int
	zipf   *zipf    // nil for uniform
	values [][]byte // valueVariants read-only values
}

func newWorkload(cfg *RunConfig) *workload {
	w := &workload{keys: cfg.Keys}
	f := cfg.Mix.fractions()
	w.cum = [3]float64{f[0], f[0] + f[1], 1}
	// Float rounding must not give a zero-weight op a sliver of the
	// draws: once every later weight is zero, the range ends at 1.
	if f[2] == 0 {
		w.cum[1] = 1
		if f[1] == 0 {
			w.cum[0] = 1
		}
	}
	if cfg.KeyDist == DistZipfian {
		w.zipf = newZipf(cfg.Keys, cfg.theta())
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x76616c756573)) // "values"
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := 0; i < valueVariants; i++ {
		v := make([]byte, cfg.ValueBytes)
		// Printable letters, so values travel unescaped in HTTP bodies
		// and JSON strings alike; variant i starts with its index so
		// variants always differ.
		for j := range v {
			v[j] = letters[rng.IntN(len(letters))]
		}
		v[0] = byte('0' + i)
		w.values = append(w.values, v)
	}
	return w
}

// generator makes requests for one worker without allocating: the key
// lives in the generator's buffer and values are shared read-only
// slices, so a Request is valid only until the next call to next.
type generator struct {
	w   *workload
	rng *rand.Rand
	key [KeyBytes]byte
}

func (w *workload) generator(seed uint64, worker int) *generator {
	g := &generator{w: w, rng: rand.New(rand.NewPCG(seed, uint64(worker)+1))}
	g.key[0] = 'k'
	return g
}

// next returns the next request and its index in opOrder.
func (g *generator) next() (int, Request) {
	u := g.rng.Float64()
	idx := 2
	for i, c := range g.w.cum {
		if u < c {
			idx = i
			break
		}
	}
	op := opOrder[idx]
	putKey(g.key[:], g.keyIndex())
	req := Request{Op: op, Key: g.key[:]}
	switch op {
	case opOrder[0]: // write
		req.Value = g.w.values[g.rng.IntN(valueVariants)]
	case opOrder[2]: // cas
		a := g.rng.IntN(valueVariants)
		b := (a + 1 + g.rng.IntN(valueVariants-1)) % valueVariants
		req.From, req.Value = g.w.values[a], g.w.values[b]
	}
	return idx, req
}

func (g *generator) keyIndex() int {
	if g.w.zipf != nil {
		return g.w.zipf.rank(g.rng.Float64())
	}
	return g.rng.IntN(g.w.keys)
}

// putKey writes "k" and i as 15 zero-padded decimal digits into b[0:16].
func putKey(b []byte, i int) {
	b[0] = 'k'
	for j := KeyBytes - 1; j >= 1; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
}
