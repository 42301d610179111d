package sim

import (
	"testing"
)

func TestOneSeed(t *testing.T) {
	res := Run(1, Options{})
	t.Logf("params:\n%s", res.Params)
	t.Logf("stats: %+v", res.Stats)
	if res.Failure != nil {
		for _, l := range res.Tail[max(0, len(res.Tail)-40):] {
			t.Log(l)
		}
		t.Fatalf("seed 1: %v", res.Failure)
	}
}

func TestManySeedsQuick(t *testing.T) {
	fails := 0
	var st Stats
	for seed := uint64(1); seed <= 300; seed++ {
		res := Run(seed, Options{})
		st.Add(res.Stats)
		if res.Failure != nil {
			fails++
			if fails <= 3 {
				t.Errorf("seed %d: %v", seed, res.Failure)
			}
		}
	}
	t.Logf("fails=%d stats=%+v", fails, st)
}
