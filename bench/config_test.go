package bench

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	m, err := ParseMix("write=0.5, read=0.4,cas=0.1")
	if err != nil || m != (Mix{Write: 0.5, Read: 0.4, Cas: 0.1}) {
		t.Fatalf("ParseMix = %+v, %v", m, err)
	}
	if m, _ := ParseMix("write=2,read=2"); m.String() != "write=0.5,read=0.5,cas=0" {
		t.Errorf("normalised mix = %s", m)
	}
	for _, c := range []struct{ in, want string }{
		{"write=0.5,delete=0.5", `unknown operation "delete"`},
		{"write=0,read=0", "sum to more than 0"},
		{"write=-1,read=2", "negative weight"},
		{"write", "want op=weight"},
		{"write=x", "not a finite number"},
		{"write=1,write=2", "given twice"},
		{"", "empty mix"},
	} {
		_, err := ParseMix(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseMix(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*RunConfig)
		want string
	}{
		{"both loops", func(c *RunConfig) { c.Rate = 100 }, "not both"},
		{"no load", func(c *RunConfig) { c.Clients = 0 }, "set clients > 0"},
		{"negative duration", func(c *RunConfig) { c.Duration = -time.Second }, "must be positive"},
		{"negative warmup", func(c *RunConfig) { c.Warmup = -time.Second }, "must not be negative"},
		{"key dist", func(c *RunConfig) { c.KeyDist = "gaussian" }, "unknown key distribution"},
		{"no keys", func(c *RunConfig) { c.Keys = 0 }, "keys 0"},
		{"huge values", func(c *RunConfig) { c.ValueBytes = 1 << 30 }, "value bytes"},
		{"workers in closed loop", func(c *RunConfig) { c.Workers = 8 }, "open loop"},
		{"theta", func(c *RunConfig) { c.ZipfTheta = 1.5 }, "zipf theta"},
		{"empty mix", func(c *RunConfig) { c.Mix = Mix{} }, "sum to more than 0"},
	} {
		cfg := DefaultRunConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want error containing %q", c.name, err, c.want)
		}
	}
	cfg := DefaultRunConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestZipfianSkew(t *testing.T) {
	const n, draws = 1000, 400_000
	z := newZipf(n, 0.99)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		r := z.rank(rng.Float64())
		if r < 0 || r >= n {
			t.Fatalf("rank %d out of [0,%d)", r, n)
		}
		counts[r]++
	}
	// P(rank 0) = 1/zeta(n): about 13% for n=1000, theta=0.99.
	want0 := draws / zeta(n, 0.99)
	if got := float64(counts[0]); math.Abs(got-want0) > 0.05*want0 {
		t.Errorf("rank 0 drawn %v times, want about %v", got, want0)
	}
	// P(0)/P(1) = 2^theta.
	if ratio := float64(counts[0]) / float64(counts[1]); math.Abs(ratio-math.Pow(2, 0.99)) > 0.15 {
		t.Errorf("P(0)/P(1) = %v, want about %v", ratio, math.Pow(2, 0.99))
	}
	// Heavy head, long tail: the top 1% of keys take far more than 1%.
	head := 0
	for _, c := range counts[:10] {
		head += c
	}
	if frac := float64(head) / draws; frac < 0.3 || frac > 0.5 {
		t.Errorf("top 10 of 1000 keys got %.2f of draws, want about 0.39", frac)
	}
	if counts[n-1] == 0 || counts[n/2] == 0 {
		t.Errorf("tail never drawn: counts[%d]=%d counts[%d]=%d", n/2, counts[n/2], n-1, counts[n-1])
	}
}

func TestUniformKeysAndOpMix(t *testing.T) {
	cfg := DefaultRunConfig()
	cfg.Keys = 10
	cfg.Mix = Mix{Write: 0.5, Read: 0.4, Cas: 0.1}
	g := newWorkload(&cfg).generator(7, 0)
	keys := map[string]int{}
	ops := [3]int{}
	const draws = 100_000
	for i := 0; i < draws; i++ {
		op, req := g.next()
		ops[op]++
		if len(req.Key) != KeyBytes || req.Key[0] != 'k' {
			t.Fatalf("key %q", req.Key)
		}
		keys[string(req.Key)]++
		if req.Op != opOrder[op] {
			t.Fatalf("op index %d for %v", op, req.Op)
		}
		if (req.Op == opOrder[0] || req.Op == opOrder[2]) && len(req.Value) != cfg.ValueBytes {
			t.Fatalf("value of %d bytes", len(req.Value))
		}
		if req.Op == opOrder[2] && string(req.From) == string(req.Value) {
			t.Fatal("cas from == to")
		}
	}
	if len(keys) != 10 {
		t.Fatalf("%d distinct keys, want 10", len(keys))
	}
	for k, c := range keys {
		if math.Abs(float64(c)-draws/10) > 0.05*draws/10 {
			t.Errorf("key %s drawn %d times, want about %d", k, c, draws/10)
		}
	}
	for i, want := range []float64{0.5, 0.4, 0.1} {
		if got := float64(ops[i]) / draws; math.Abs(got-want) > 0.01 {
			t.Errorf("op %v fraction %v, want %v", opOrder[i], got, want)
		}
	}
	if string(g.key[:]) != "k"+strings.Repeat("0", 14)+string(g.key[15]) {
		t.Errorf("key layout %q", g.key[:])
	}
}

func TestZeroWeightOpsNeverDrawn(t *testing.T) {
	cfg := DefaultRunConfig()
	cfg.Mix = Mix{Write: 0.3, Read: 0.7}
	g := newWorkload(&cfg).generator(1, 0)
	for i := 0; i < 100_000; i++ {
		if op, _ := g.next(); op == 2 {
			t.Fatal("cas drawn with weight 0")
		}
	}
}
