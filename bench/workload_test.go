package bench

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// binomialOK says whether count of n draws is within 5 standard
// deviations of n*p (a false alarm about once in 3.5 million).
func binomialOK(count, n int, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(count)-float64(n)*p) <= 5*sd+1e-9
}

func TestPresetsDrawTheirStatedMixes(t *testing.T) {
	want := map[string][numOps]float64{
		"default":    {0.5, 0.4, 0.1, 0, 0},
		"write-only": {1, 0, 0, 0, 0},
		"a":          {0.5, 0.5, 0, 0, 0},
		"b":          {0.05, 0.95, 0, 0, 0},
		"c":          {0, 1, 0, 0, 0},
		"d":          {0, 0.95, 0, 0.05, 0},
		"f":          {0, 0.5, 0, 0, 0.5},
	}
	if len(want) != len(WorkloadNames()) {
		t.Fatalf("presets %v, test knows %d", WorkloadNames(), len(want))
	}
	const draws = 200_000
	for name, frac := range want {
		p, err := LookupWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultRunConfig()
		cfg.Keys = 1000
		p.Apply(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g := newWorkload(&cfg).generator(42, 0)
		var counts [numOps]int
		for i := 0; i < draws; i++ {
			op, req := g.next()
			counts[op]++
			if req.Op != opOrder[op] {
				t.Fatalf("%s: slot %s sent as %v", name, opNames[op], req.Op)
			}
		}
		for i, f := range frac {
			if f == 0 && counts[i] != 0 || !binomialOK(counts[i], draws, f) {
				t.Errorf("workload %s: %s drawn %d of %d, want %.3f", name, opNames[i], counts[i], draws, f)
			}
		}
	}
	for _, alias := range []string{"A", "ycsb-b", " C "} {
		if _, err := LookupWorkload(alias); err != nil {
			t.Errorf("LookupWorkload(%q): %v", alias, err)
		}
	}
	if _, err := LookupWorkload("e"); err == nil || !strings.Contains(err.Error(), `unknown workload "e" (known: a, b, c, d, default, f, write-only)`) {
		t.Errorf("LookupWorkload(e) = %v", err)
	}
}

// grayCDF is P(rank <= r) under the algorithm of Gray et al. as YCSB
// implements it, derived from rank(u): exact for ranks 0 and 1, and for
// r >= 1 the u below which n*(eta*u-eta+1)^alpha < r+1.
func grayCDF(z *zipf, r int) float64 {
	if r >= int(z.n)-1 {
		return 1
	}
	c0, c1 := 1/z.zetaN, z.halfTh/z.zetaN
	if r == 0 {
		return c0
	}
	u := (math.Pow(float64(r+1)/z.n, 1-z.theta) - 1 + z.eta) / z.eta
	return max(c1, min(1, u))
}

// zipfCDF is the exact Zipf law's P(rank <= r).
func zipfCDF(n int, theta float64, r int) float64 { return zeta(r+1, theta) / zeta(n, theta) }

func TestZipfianMatchesGrayAndZipf(t *testing.T) {
	const n, draws = 10_000, 500_000
	for _, theta := range []float64{0.5, 0.8, 0.99} {
		cfg := DefaultRunConfig()
		cfg.Keys, cfg.KeyDist, cfg.ZipfTheta, cfg.Mix = n, DistZipfian, theta, Mix{Read: 1}
		w := newWorkload(&cfg)
		g := w.generator(9, 3)
		counts := make([]int, n)
		for i := 0; i < draws; i++ {
			_, req := g.next()
			counts[keyIndexOf(req.Key)]++
		}
		// Bins on a log scale; chi-square against the algorithm's own
		// distribution (the generator is implemented right) ...
		edges := []int{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, n - 1}
		chi2, prev, cum := 0.0, 0.0, 0
		for _, e := range edges {
			c := grayCDF(w.zipf, e)
			exp := (c - prev) * draws
			obs := 0
			for ; cum <= e; cum++ {
				obs += counts[cum]
			}
			if exp > 0 {
				chi2 += (float64(obs) - exp) * (float64(obs) - exp) / exp
			}
			prev = c
			// ... and the algorithm against the Zipf law it approximates.
			if d := math.Abs(c - zipfCDF(n, theta, e)); d > 0.02 {
				t.Errorf("theta %v: P(rank <= %d) = %.4f by Gray's method, %.4f by Zipf's law", theta, e, c, zipfCDF(n, theta, e))
			}
		}
		// 15 degrees of freedom: P(chi2 > 40) < 0.001.
		if chi2 > 40 {
			t.Errorf("theta %v: chi-square %.1f against Gray's distribution (15 d.f.)", theta, chi2)
		}
		// Ranks 0 and 1 are exact: 1/zeta(n) and 0.5^theta/zeta(n).
		if p := 1 / zeta(n, theta); !binomialOK(counts[0], draws, p) {
			t.Errorf("theta %v: key 0 drawn %d, want %.0f", theta, counts[0], p*draws)
		}
		if p := math.Pow(0.5, theta) / zeta(n, theta); !binomialOK(counts[1], draws, p) {
			t.Errorf("theta %v: key 1 drawn %d, want %.0f", theta, counts[1], p*draws)
		}
	}
}

func TestUniformKeysChiSquare(t *testing.T) {
	const n, draws = 50, 200_000
	cfg := DefaultRunConfig()
	cfg.Keys, cfg.Mix = n, Mix{Read: 1}
	g := newWorkload(&cfg).generator(5, 1)
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		_, req := g.next()
		counts[keyIndexOf(req.Key)]++
	}
	chi2, exp := 0.0, float64(draws)/n
	for _, c := range counts {
		chi2 += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi2 > 95 { // 49 d.f.: P(chi2 > 95) < 0.0001
		t.Errorf("uniform keys: chi-square %.1f (49 d.f.)", chi2)
	}
}

func TestLatestReadsTheNewestKeys(t *testing.T) {
	const n, draws = 1000, 300_000
	p, _ := LookupWorkload("d")
	cfg := DefaultRunConfig()
	cfg.Keys = n
	p.Apply(&cfg)
	w := newWorkload(&cfg)
	g := w.generator(3, 0)
	newestHits, reads := 0, 0
	for i := 0; i < draws; i++ {
		op, req := g.next()
		k := keyIndexOf(req.Key)
		newest := n + int(w.inserted.Load()) - 1
		switch op {
		case opInsert:
			if k != newest {
				t.Fatalf("insert of key %d, newest is %d", k, newest)
			}
		case opRead:
			reads++
			if k > newest || k < newest-n+1 {
				t.Fatalf("read of key %d outside the newest %d (newest %d)", k, n, newest)
			}
			if k == newest {
				newestHits++
			}
		}
	}
	if got := int(w.inserted.Load()); !binomialOK(got, draws, 0.05) {
		t.Errorf("%d inserts in %d draws, want 5%%", got, draws)
	}
	if want := 1 / zeta(n, DefaultZipfTheta); !binomialOK(newestHits, reads, want) {
		t.Errorf("newest key read %d of %d times, want %.3f", newestHits, reads, want)
	}
}

func TestReadModifyWriteCasesFromTheValueRead(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	p, _ := LookupWorkload("f")
	p.Apply(&cfg)
	cfg.History = &HistoryConfig{Keys: 100}
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OpsByOp["rmw"] == 0 || sum.OpsByOp["read"] == 0 || sum.OpsByOp["insert"] != 0 || sum.OpsByOp["write"] != 0 {
		t.Fatalf("ops by op %v", sum.OpsByOp)
	}
	if sum.Results.NotFound != 0 {
		t.Fatalf("%d not found after the load phase", sum.Results.NotFound)
	}
	if sum.Workload.Name != "f" || !sum.Workload.Preload || sum.Workload.Distribution != DistZipfian || sum.Workload.Theta != DefaultZipfTheta {
		t.Fatalf("workload recorded as %+v", sum.Workload)
	}
	// Every cas of the history follows a read by the same client that saw
	// its "from" value; a single client's cas from a fresh read can fail
	// only when another client wrote in between.
	cas, okCas := 0, 0
	for _, op := range sum.History.Ops {
		if op.Kind == check.Cas {
			cas++
			if !op.Mismatch {
				okCas++
			}
		}
	}
	if cas == 0 || okCas == 0 {
		t.Fatalf("history has %d cas, %d succeeded", cas, okCas)
	}
	if r := check.Check(sum.History.Ops, check.Options{}); !r.OK() {
		t.Fatalf("history of a correct store checked %v (bad key %s)", r.Linearizable, r.BadKey)
	}
}

func TestPreloadWritesEveryKey(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	p, _ := LookupWorkload("c")
	p.Apply(&cfg)
	cfg.Keys = 500
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.store.Len() != 500 {
		t.Fatalf("store holds %d keys after the load phase, want 500", f.store.Len())
	}
	if sum.Results.NotFound != 0 || sum.OpsByOp["read"] != sum.Ops {
		t.Fatalf("read-only run: %v, %+v", sum.OpsByOp, sum.Results)
	}
}

func TestHistoryBoundsAndClosesQuietKeys(t *testing.T) {
	cfg := DefaultRunConfig()
	cfg.Keys = 4
	w := newWorkload(&cfg)
	h := newHistoryRecorder(&HistoryConfig{Keys: 4, OpsPerKey: 3, MaxOps: 100}, 4, w)
	key := []byte("k000000000000001")
	write := Request{Op: kv.OpWrite, Key: key, Value: w.values[1]}
	read := Request{Op: kv.OpRead, Key: key}
	r1 := h.begin(key, kv.OpRead)
	for i := 0; i < 3; i++ {
		h.end(h.begin(key, kv.OpWrite), 2, write, kv.Result{}, nil)
	}
	// Past the bound with a read in flight: draining, reads refused,
	// writes still recorded.
	if h.begin(key, kv.OpRead) != nil {
		t.Fatal("a new read recorded on a draining key")
	}
	w4 := h.begin(key, kv.OpWrite)
	if w4 == nil {
		t.Fatal("a write refused while a recorded read is in flight")
	}
	h.end(r1, 1, read, kv.Result{Value: w.values[1]}, nil) // no observer left: closed
	if h.begin(key, kv.OpWrite) != nil {
		t.Fatal("key open after draining")
	}
	h.end(w4, 3, write, kv.Result{}, nil) // in flight at the close: still recorded
	hist := h.history()
	if hist.Recorded != 5 || hist.ClosedKeys != 1 || hist.Ops[0].Value != "v1" || hist.Ops[3].Value != "v1" {
		t.Fatalf("history %+v, ops %+v", hist, hist.Ops)
	}
	if h.begin([]byte("k000000000000099"), kv.OpRead) == nil {
		t.Fatal("key 99 not sampled with stride 1")
	}
	// A key that never drains is dropped whole at MaxOps.
	h2 := newHistoryRecorder(&HistoryConfig{Keys: 4, OpsPerKey: 2, MaxOps: 4}, 4, w)
	c := h2.begin(key, kv.OpCas)
	for i := 0; i < 4; i++ {
		h2.end(h2.begin(key, kv.OpWrite), 2, write, kv.Result{}, nil)
	}
	h2.end(c, 1, Request{Op: kv.OpCas, Key: key, From: w.values[0], Value: w.values[2]}, kv.Result{Status: kv.StatusMismatch}, nil)
	if hist := h2.history(); hist.Recorded != 0 || len(hist.DroppedKeys) != 1 || hist.DroppedKeys[0] != "k1" {
		t.Fatalf("history %+v", hist)
	}
}

// TestSampledWritesAreUnique: on sampled keys every written value (writes
// and cas's new values) is unique in the run, so a read names the write it
// saw; cas on sampled keys still succeed (their "from" is the key's last
// known value), and the history of a correct store checks linearizable.
func TestSampledWritesAreUnique(t *testing.T) {
	f := newFake()
	cfg := shortConfig()
	cfg.Keys = 20
	cfg.Clients = 8
	cfg.Mix = Mix{Read: 0.4, Write: 0.3, Cas: 0.3}
	cfg.History = &HistoryConfig{Keys: 20}
	sum, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	writes, cas, okCas, readsOfStamps := 0, 0, 0, 0
	for _, op := range sum.History.Ops {
		switch op.Kind {
		case check.Write:
			writes++
		case check.Cas:
			cas++
			if op.Mismatch || op.Missing {
				continue
			}
			okCas++
		case check.Read:
			if strings.HasPrefix(op.Value, "w") {
				readsOfStamps++
			}
			continue
		}
		if !strings.HasPrefix(op.Value, "w") {
			t.Fatalf("%v on sampled key %s wrote %q, not a stamped value", op.Kind, op.Key, op.Value)
		}
		if seen[op.Value] {
			t.Fatalf("value %s written twice", op.Value)
		}
		seen[op.Value] = true
	}
	if writes == 0 || okCas == 0 || readsOfStamps == 0 {
		t.Fatalf("history: %d writes, %d cas (%d succeeded), %d reads of stamped values", writes, cas, okCas, readsOfStamps)
	}
	if r := check.Check(sum.History.Ops, check.Options{}); !r.OK() {
		t.Fatalf("history of a correct store checked %v (bad key %s)", r.Linearizable, r.BadKey)
	}
}

// TestStampLabels: a stamped value's label names its number and length;
// the same bytes cut short, or with other bytes after the stamp, are not
// the written value; values too short for a stamp stay variants.
func TestStampLabels(t *testing.T) {
	cfg := DefaultRunConfig()
	w := newWorkload(&cfg)
	h := newHistoryRecorder(&HistoryConfig{Keys: 1}, 1, w)
	key := []byte("k000000000000000")
	tok := h.begin(key, kv.OpWrite)
	a := h.stamp(tok, Request{Op: kv.OpWrite, Key: key, Value: w.values[2]})
	b := h.stamp(tok, Request{Op: kv.OpWrite, Key: key, Value: w.values[2]})
	la, lb := h.label(a.Value), h.label(b.Value)
	if la != "w1/"+strconv.Itoa(len(w.values[2])) || lb == la {
		t.Fatalf("labels %q, %q", la, lb)
	}
	if string(w.values[2][:1]) != "2" {
		t.Fatal("stamp wrote into a shared variant")
	}
	if l := h.label(a.Value[:len(a.Value)-1]); l == la || l[0] != 'w' {
		t.Fatalf("a cut-short value labelled %q", l)
	}
	other := bytes.Clone(a.Value)
	other[len(other)-1] ^= 1
	if l := h.label(other); !strings.HasPrefix(l, "raw:") {
		t.Fatalf("a stamped value with other bytes labelled %q", l)
	}
	short := h.stamp(tok, Request{Op: kv.OpWrite, Key: key, Value: w.values[1][:maxStampBytes-1]})
	if l := h.label(short.Value); l != "v1/"+strconv.Itoa(maxStampBytes-1) {
		t.Fatalf("short value labelled %q", l)
	}
}
