package bench

import (
	"math/rand/v2"
	"testing"
)

func TestParseValueSizes(t *testing.T) {
	for _, spec := range []string{"fixed", "uniform:10-100", "hist:64:1,1024:0.5,65536:0.01"} {
		v, err := ParseValueSizes(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if v.String() != spec {
			t.Errorf("%s prints as %s", spec, v.String())
		}
	}
	for _, bad := range []string{"uniform:0-5", "uniform:9-3", "uniform:5", "hist:", "hist:10:0", "hist:10:-1",
		"hist:0:1", "zipf:3", "fixed:3", "uniform:1-99999999"} {
		if _, err := ParseValueSizes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestValueSizesDraw: draws stay in range and follow the weights.
func TestValueSizesDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	u, _ := ParseValueSizes("uniform:10-20")
	h, _ := ParseValueSizes("hist:100:3,200:1")
	counts := map[int]int{}
	for range 10000 {
		if s := u.draw(rng, 0); s < 10 || s > 20 {
			t.Fatalf("uniform drew %d", s)
		}
		counts[h.draw(rng, 0)]++
	}
	if len(counts) != 2 || counts[100] < 7000 || counts[100] > 8000 {
		t.Fatalf("hist 3:1 drew %v", counts)
	}
	cfg := DefaultRunConfig()
	cfg.ValueSizes = h
	w := newWorkload(&cfg)
	g := w.generator(1, 0)
	for range 100 {
		_, req := g.next()
		if req.Value != nil && len(req.Value) != 100 && len(req.Value) != 200 {
			t.Fatalf("value of %d bytes", len(req.Value))
		}
		if req.Value != nil && w.variant(req.Value) < 0 {
			t.Fatal("a drawn value is not recognised as one of the run's")
		}
	}
	if n := len(w.preloadValue(7)); n != 100 && n != 200 {
		t.Fatalf("preload value of %d bytes", n)
	}
}
