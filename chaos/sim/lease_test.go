package sim

import "testing"

// TestLeaseReadsWithinBound: seeds that draw lease reads (with the drift
// bound their tick skews need) pass every check, and leaders do answer
// reads from their lease.
func TestLeaseReadsWithinBound(t *testing.T) {
	var seeds, leaseReads uint64
	for seed := uint64(1); seed <= 60; seed++ {
		res := Run(seed, Options{})
		if res.Failure != nil {
			t.Fatalf("seed %d (lease reads %v): %v", seed, res.Params.LeaseReads, res.Failure)
		}
		if res.Params.LeaseReads {
			seeds++
			leaseReads += res.Stats.LeaseReads
		}
	}
	if seeds == 0 || leaseReads == 0 {
		t.Fatalf("%d seeds drew lease reads, %d reads answered from a lease: the test exercises nothing", seeds, leaseReads)
	}
	t.Logf("%d of 60 seeds with lease reads, %d reads answered from the leader's lease", seeds, leaseReads)
}

// TestLeaseDriftUnderstatedIsCaught: with clocks that break the bound the
// nodes were configured with, a deposed leader answers stale reads from
// its lease, and the checks report it as a safety or linearizability
// violation within the bug table's seed budget.
func TestLeaseDriftUnderstatedIsCaught(t *testing.T) {
	const budget = 200 // bugs_test.go's maxSeedsToCatch
	for seed := uint64(1); seed <= budget; seed++ {
		res := Run(seed, Options{LeaseDriftUnderstated: true})
		if f := res.Failure; f != nil {
			if f.Kind != "safety" && f.Kind != "linearizability" {
				continue // a slowed leader may also stall progress; keep looking for a safety catch
			}
			t.Logf("caught after %d seeds: %v", seed, f)
			return
		}
	}
	t.Fatalf("a broken drift bound was not caught within %d seeds", budget)
}
