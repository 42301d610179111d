package bench

import (
	"context"
	"math"
	"strings"
	"testing"
)

// A synthetic system: keeps up to 5,000 ops/s with p99 growing slowly,
// then falls behind.
func syntheticRun(ctx context.Context, cfg RunConfig) (*Summary, string, error) {
	rate := cfg.Rate
	s := &Summary{Target: "synthetic", Nodes: 3, Mode: "open", Rate: rate, ValueBytes: 128, Fsync: true}
	s.ThroughputOps = math.Min(rate, 5000)
	s.Ops = uint64(s.ThroughputOps * 10)
	s.LatencyMs = Latency{P50: rate / 2000, P99: rate / 1000}
	if rate > 5000 {
		s.LatencyMs.P99 = 500
	}
	s.ServiceLatencyMs = &Latency{P99: 1}
	return s, "rate-" + itoa(int(rate)), nil
}

func TestSweepStopsAtSaturation(t *testing.T) {
	base := DefaultRunConfig()
	var ran []float64
	run := func(ctx context.Context, cfg RunConfig) (*Summary, string, error) {
		ran = append(ran, cfg.Rate)
		if cfg.Clients != 0 {
			t.Errorf("sweep run with clients %d", cfg.Clients)
		}
		return syntheticRun(ctx, cfg)
	}
	var log strings.Builder
	res, err := Sweep(context.Background(), base, []float64{1000, 2000, 4000, 8000, 16000}, run, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 5 || ran[3] != 8000 || ran[4] != 8000 {
		t.Fatalf("ran rates %v, want 8000 tried twice, then stop", ran)
	}
	if !strings.Contains(res.Points[3].Retried, "first attempt exploded") {
		t.Errorf("8000's point does not say it was retried: %+v", res.Points[3])
	}
	if !res.Saturated || res.Saturation == nil || res.Saturation.Rate != 4000 {
		t.Fatalf("saturation %+v, want the 4000 ops/s point", res.Saturation)
	}
	if !strings.Contains(res.Points[3].Exploded, "90%") || !strings.Contains(res.Points[3].Exploded, "10x") {
		t.Errorf("8000 exploded for %q, want both throughput and p99 reasons", res.Points[3].Exploded)
	}
	// Half of 4000 is 2000, a measured point: p99 2 ms.
	if res.HalfSaturationOps != 2000 || math.Abs(res.P99AtHalfSaturationMs-2) > 1e-9 {
		t.Errorf("p99 at half saturation (%v ops/s) = %v ms, want 2 ms", res.HalfSaturationOps, res.P99AtHalfSaturationMs)
	}
	if !strings.Contains(log.String(), "exploded") {
		t.Errorf("progress log does not say where it exploded:\n%s", log.String())
	}
}

func TestSweepInterpolatesAndReportsUnsaturated(t *testing.T) {
	res, err := Sweep(context.Background(), DefaultRunConfig(), []float64{1000, 3000, 5000}, syntheticRun, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Saturated || res.Saturation.Rate != 5000 {
		t.Fatalf("saturated %v at %+v: want unsaturated, last point 5000", res.Saturated, res.Saturation)
	}
	// Half of 5000 = 2500, between 1000 (p99 1) and 3000 (p99 3): 2.5.
	if math.Abs(res.P99AtHalfSaturationMs-2.5) > 1e-9 || !strings.Contains(res.HalfSaturationNote, "interpolated") {
		t.Fatalf("p99 at half = %v (%s), want 2.5 interpolated", res.P99AtHalfSaturationMs, res.HalfSaturationNote)
	}
}

func TestParseRates(t *testing.T) {
	got, err := ParseRates("500, 1k,2.5k")
	if err != nil || len(got) != 3 || got[1] != 1000 || got[2] != 2500 {
		t.Fatalf("ParseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1000,500", "0", "-5", "abc", "1000,1000", "1e99"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
}

func TestSweepBaselineIsLowestEarlierP99(t *testing.T) {
	pts := []SweepPoint{{LatencyMs: Latency{P99: 5}}, {LatencyMs: Latency{P99: 1}}}
	if got := lowestP99(pts); got != 1 {
		t.Fatalf("lowest p99 = %v, want 1", got)
	}
	ok := SweepPoint{Rate: 100, ThroughputOps: 100, Ops: 1000, LatencyMs: Latency{P99: 9.9}}
	if why := explodes(ok, 1); why != "" {
		t.Errorf("9.9 ms against a 1 ms baseline exploded: %s", why)
	}
	bad := ok
	bad.LatencyMs.P99 = 10.1
	bad.Errors = 11 // 11 of 1011 > 1%
	if why := explodes(bad, 1); !strings.Contains(why, "10x") || !strings.Contains(why, "failed") {
		t.Errorf("10.1 ms against 1 ms with 1.1%% errors: %q", why)
	}
}

func TestSweepRetriesAnExplosionOnce(t *testing.T) {
	stalls := 1 // the first run at 4000 hits a one-off stall
	run := func(ctx context.Context, cfg RunConfig) (*Summary, string, error) {
		s, dir, err := syntheticRun(ctx, cfg)
		if cfg.Rate == 4000 && stalls > 0 {
			stalls--
			s.LatencyMs.P99 = 400
		}
		return s, dir, err
	}
	res, err := Sweep(context.Background(), DefaultRunConfig(), []float64{1000, 4000, 5000}, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Points) != 3 || res.Saturated || res.Points[1].Exploded != "" || res.Points[1].Retried == "" {
		t.Fatalf("points %+v: want the stall at 4000 retried and the sweep to go on", res.Points)
	}
}
