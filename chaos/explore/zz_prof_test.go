package explore

import (
	"os"
	"testing"
)

func TestProfMid(t *testing.T) {
	if os.Getenv("EXPLORE_PROF") == "" {
		t.Skip()
	}
	cfg := Config{Nodes: 3, MaxDepth: 20, MaxCrashes: 1, MaxProposals: 2, MaxTerm: 2, MaxInFlight: 3, MaxStates: 60000}
	r, err := Run(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r.Coverage)
}
