package bench

import (
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/raftbench/raftbench/engine/embed/kv"
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

// Operation slots of a Mix, in the order the generator draws them. The
// first three are the original mix's, in its original order, so a mix
// without insert and rmw draws exactly the same requests as before.
const (
	opWrite  = iota // update an existing key (kv write)
	opRead          // kv read
	opCas           // kv cas with a random "from"
	opInsert        // kv write to a key never written before (YCSB D)
	opRMW           // read-modify-write: a read, then a cas from the value read (YCSB F)
	numOps
)

// opNames name the slots in summaries, metrics and tables.
var opNames = [numOps]string{"write", "read", "cas", "insert", "rmw"}

// OpNames lists the kinds of operation a mix can hold, in the order
// summaries print them (the keys of Summary.OpsByOp and LatencyByOpMs).
func OpNames() []string { return opNames[:] }

// opOrder maps a mix slot to the kv operation of its (first) request.
var opOrder = [numOps]kv.Op{kv.OpWrite, kv.OpRead, kv.OpCas, kv.OpWrite, kv.OpRead}

// zipf draws ranks in [0, n) with P(rank i) approximately proportional
// to 1/(i+1)^theta, theta in (0,1). It is the algorithm of Gray, Sundaresan,
// Englert, Baclawski and Weinberger, "Quickly generating billion-record
// synthetic databases" (SIGMOD 1994, figure 6), as YCSB's
// ZipfianGenerator implements it (Cooper et al., "Benchmarking cloud
// serving systems with YCSB", SoCC 2010): ranks 0 and 1 are exact
// (u*zeta(n) < 1, then < 1+0.5^theta), every larger rank comes from
// n*(eta*u-eta+1)^(1/(1-theta)) with eta = (1-(2/n)^(1-theta)) /
// (1-zeta(2)/zeta(n)). YCSB's "zipfian" request distribution then
// scrambles ranks over the key space with a hash (so popular keys do not
// cluster in one range of an ordered store); a hash map does not care
// where the popular keys sit, so rank r is key r here, and key 0 is the
// hottest.
//
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

// workload is shared run state from which each worker makes its own
// generator. Everything but inserted is read-only.
type workload struct {
	cum    [numOps]float64 // cumulative op fractions in slot order
	keys   int
	dist   string
	zipf   *zipf    // zipfian and latest; nil for uniform
	values [][]byte // valueVariants read-only values, of the largest size
	// sizes draws each written value's length (a prefix of a variant).
	sizes ValueSizes
	fixed int
	// inserted counts keys handed out to inserts: the key space is
	// [0, keys+inserted). Latest draws back from its newest key.
	inserted atomic.Int64
}

func newWorkload(cfg *RunConfig) *workload {
	w := &workload{keys: cfg.Keys, dist: cfg.KeyDist}
	f := cfg.Mix.fractions()
	var acc float64
	for i := range w.cum {
		acc += f[i]
		w.cum[i] = acc
	}
	// Float rounding must not give a zero-weight op a sliver of the
	// draws, nor leave a sliver to none: the range ends at 1 right after
	// the last op with weight.
	last := 0
	for i := range f {
		if f[i] > 0 {
			last = i
		}
	}
	for i := last; i < numOps; i++ {
		w.cum[i] = 1
	}
	if cfg.KeyDist == DistZipfian || cfg.KeyDist == DistLatest {
		w.zipf = newZipf(cfg.Keys, cfg.theta())
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x76616c756573)) // "values"
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	w.sizes, w.fixed = cfg.ValueSizes, cfg.ValueBytes
	for i := 0; i < valueVariants; i++ {
		v := make([]byte, w.sizes.maxSize(cfg.ValueBytes))
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

// preloadValue is the value the load phase writes to key i.
func (w *workload) preloadValue(i int) []byte {
	v := w.values[i%valueVariants]
	if w.sizes.Kind == "" || w.sizes.Kind == "fixed" {
		return v
	}
	rng := rand.New(rand.NewPCG(uint64(i), 0x73697a6573)) // "sizes"
	return v[:w.sizes.draw(rng, w.fixed)]
}

// value returns variant i at a size drawn from the run's distribution.
func (g *generator) value(i int) []byte {
	v := g.w.values[i]
	if g.w.sizes.Kind == "" || g.w.sizes.Kind == "fixed" {
		return v
	}
	return v[:g.w.sizes.draw(g.rng, g.w.fixed)]
}

// variant returns which of the run's values v is (0..valueVariants-1),
// or -1 when it is none of them.
func (w *workload) variant(v []byte) int {
	if len(v) == 0 {
		return -1
	}
	if i := int(v[0] - '0'); i >= 0 && i < valueVariants && len(v) <= len(w.values[i]) && string(w.values[i][:len(v)]) == string(v) {
		return i
	}
	return -1
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

// next returns the next request and its slot (opWrite...opRMW). For
// opRMW the request is the read; the worker asks modify for the cas.
func (g *generator) next() (int, Request) {
	u := g.rng.Float64()
	idx := numOps - 1
	for i, c := range g.w.cum {
		if u < c {
			idx = i
			break
		}
	}
	if idx == opInsert {
		putKey(g.key[:], g.w.keys+int(g.w.inserted.Add(1))-1)
	} else {
		putKey(g.key[:], g.keyIndex())
	}
	req := Request{Op: opOrder[idx], Key: g.key[:]}
	switch idx {
	case opWrite, opInsert:
		req.Value = g.value(g.rng.IntN(valueVariants))
	case opCas:
		a := g.rng.IntN(valueVariants)
		b := (a + 1 + g.rng.IntN(valueVariants-1)) % valueVariants
		req.From, req.Value = g.value(a), g.value(b)
	}
	return idx, req
}

// modify is the second half of a read-modify-write: a cas of the key just
// read from the value read to another of the run's values.
func (g *generator) modify(read Request, seen []byte) Request {
	a := g.w.variant(seen)
	b := g.rng.IntN(valueVariants)
	if a >= 0 {
		b = (a + 1 + g.rng.IntN(valueVariants-1)) % valueVariants
	}
	return Request{Op: kv.OpCas, Key: read.Key, From: seen, Value: g.value(b)}
}

// keyIndex draws an existing key's index by the run's distribution.
func (g *generator) keyIndex() int {
	switch g.w.dist {
	case DistZipfian:
		return g.w.zipf.rank(g.rng.Float64())
	case DistLatest:
		// YCSB's SkewedLatestGenerator: the newest key minus a zipfian
		// rank, so the most recent inserts are the most read. YCSB grows
		// the zipfian's item count with every insert; here it stays the
		// run's initial key count (ranks beyond it, the oldest keys of a
		// grown key space, are never drawn).
		newest := g.w.keys + int(g.w.inserted.Load()) - 1
		return max(0, newest-g.w.zipf.rank(g.rng.Float64()))
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

// keyIndexOf parses a key written by putKey; -1 if it is not one.
func keyIndexOf(b []byte) int {
	if len(b) != KeyBytes || b[0] != 'k' {
		return -1
	}
	n := 0
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
