package explore

import (
	"testing"
)

func tinyConfig() Config {
	return Config{Nodes: 3, MaxDepth: 8, MaxInFlight: 4, MaxCrashes: 0, MaxProposals: 1, MaxTerm: 2, MaxStates: 1_000_000}
}

func TestTinyProbe(t *testing.T) {
	for d := 4; d <= 12; d += 2 {
		cfg := tinyConfig()
		cfg.MaxDepth = d
		res, err := Run(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("depth %d: states %d transitions %d replayed %d %.2fs complete=%v cx=%v byDepth=%v", d, res.Coverage.States, res.Coverage.Transitions, res.Coverage.ReplayedActions, res.Coverage.Seconds, res.Coverage.Complete, res.Counterexample != nil, res.Coverage.NewByDepth)
		if res.Counterexample != nil {
			t.Log(res.Counterexample.Text())
		}
	}
}
