package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The rule that ends a sweep. A rate "explodes" when, measured over its
// window, any of these holds:
//   - achieved throughput is below SweepMinThroughputRatio of the offered rate
//     (the system cannot keep up, so the backlog and latency grow for as
//     long as the run lasts);
//   - p99 latency (from intended send time) exceeds SweepP99Factor times the
//     lowest p99 of the earlier rates (the lowest, so one noisy early
//     point cannot raise the bar);
//   - more than SweepMaxErrorRatio of the operations failed.
//
// A rate that explodes is run a second time, and only if that attempt
// explodes too does the sweep stop. The saturation point
// is the last rate that did not: its achieved throughput is the
// saturation throughput.
const (
	SweepMinThroughputRatio = 0.9
	SweepP99Factor          = 10.0
	SweepMaxErrorRatio      = 0.01
)

// SweepRule describes the stopping rule in words, for sweep.json and
// the command's help.
const SweepRule = "a rate explodes when its throughput < 90% of offered, or its p99 > 10x the lowest p99 of the earlier rates, or > 1% of its operations fail, in two attempts in a row; the sweep stops at the first rate that explodes, and the last rate before it is the saturation point"

// SweepPoint is one rate of a sweep.
type SweepPoint struct {
	Rate             float64 `json:"rate"`
	Dir              string  `json:"dir"`
	Ops              uint64  `json:"ops"`
	Errors           uint64  `json:"errors"`
	ThroughputOps    float64 `json:"throughput_ops"`
	LatencyMs        Latency `json:"latency_ms"`
	ServiceLatencyMs Latency `json:"service_latency_ms"`
	// Exploded says why this rate broke the stopping rule ("" if not).
	Exploded string `json:"exploded,omitempty"`
	// Retried: this rate broke the rule once and these are the figures
	// of its second attempt.
	Retried string `json:"retried,omitempty"`
}

// SweepResult is sweep.json.
type SweepResult struct {
	Title      string       `json:"title"`
	Rule       string       `json:"rule"`
	Rates      []float64    `json:"rates"`
	Points     []SweepPoint `json:"points"`
	Saturation *SweepPoint  `json:"saturation,omitempty"`
	// Saturated is false when no rate exploded: the true saturation point
	// is above the highest rate tried.
	Saturated bool `json:"saturated"`
	// P99 at half the saturation throughput, interpolated linearly
	// between the measured points around it.
	HalfSaturationOps     float64 `json:"half_saturation_ops,omitempty"`
	P99AtHalfSaturationMs float64 `json:"p99_at_half_saturation_ms,omitempty"`
	HalfSaturationNote    string  `json:"half_saturation_note,omitempty"`
	// HalfSaturationFloor, if measured (sweep --disk-floor), is what the
	// disk alone gives an open loop of writes at the half-saturation rate
	// (MeasureBetterFloor with Rate, every replica's log, the way of
	// writing the logs with the lower p99): the p99 no system on this disk
	// could go below with every replica writing. HalfSaturationFloorOther
	// is the other way's.
	HalfSaturationFloor      *DiskFloor `json:"half_saturation_floor,omitempty"`
	HalfSaturationFloorOther *DiskFloor `json:"half_saturation_floor_other,omitempty"`
	GitCommit                string     `json:"git_commit"`
	GoVersion                string     `json:"go_version"`
	CPUs                     int        `json:"cpus"`
	Date                     string     `json:"date"`
	Command                  string     `json:"command"`
}

// ParseRates parses "1000,2000,5000" (also "2k", "1.5k"); rates must be
// positive and strictly increasing.
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1.0
		if strings.HasSuffix(strings.ToLower(f), "k") {
			mult, f = 1000, f[:len(f)-1]
		}
		v, err := strconv.ParseFloat(f, 64)
		v *= mult
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > MaxRate {
			return nil, fmt.Errorf("rates: %q is not a rate in (0, %d]", f, MaxRate)
		}
		if len(out) > 0 && v <= out[len(out)-1] {
			return nil, fmt.Errorf("rates must increase: %g after %g", v, out[len(out)-1])
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("rates: need at least one rate")
	}
	return out, nil
}

// RunFunc runs one rate of a sweep: it builds a fresh target, calls Run
// with cfg, writes the run's results, and returns its summary and the
// directory it wrote.
type RunFunc func(ctx context.Context, cfg RunConfig) (*Summary, string, error)

// Sweep runs base at each rate in turn (open loop) until the stopping
// rule trips. A rate that breaks the rule is run once more before the
// sweep stops: on a shared machine one stall of a few hundred
// milliseconds puts every request due during it above the p99, which is
// noise, not saturation; the second attempt's figures are the ones kept.
// progress, if non-nil, gets a line per finished run.
func Sweep(ctx context.Context, base RunConfig, rates []float64, run RunFunc, progress io.Writer) (*SweepResult, error) {
	if len(rates) == 0 {
		return nil, errors.New("sweep: no rates")
	}
	res := &SweepResult{Rule: SweepRule, Rates: rates}
	for _, rate := range rates {
		cfg := base
		cfg.Clients, cfg.Rate = 0, rate
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		pt, err := res.measure(ctx, cfg, run, progress)
		if err == nil && pt.Exploded != "" {
			first := pt.Exploded
			pt, err = res.measure(ctx, cfg, run, progress)
			pt.Retried = "first attempt exploded: " + first
		}
		if err != nil {
			return res, fmt.Errorf("sweep at %g ops/s: %w", rate, err)
		}
		res.Points = append(res.Points, pt)
		if pt.Exploded != "" {
			res.Saturated = true
			break
		}
	}
	res.finish()
	return res, nil
}

// measure runs one rate and applies the stopping rule to it.
func (res *SweepResult) measure(ctx context.Context, cfg RunConfig, run RunFunc, progress io.Writer) (SweepPoint, error) {
	s, dir, err := run(ctx, cfg)
	if err != nil {
		return SweepPoint{}, err
	}
	if res.Title == "" {
		res.Title = strings.Replace(s.Title(), ", "+FormatCount(cfg.Rate)+" ops/s offered", ", open loop", 1)
		res.GitCommit, res.GoVersion, res.CPUs, res.Date, res.Command = s.GitCommit, s.GoVersion, s.CPUs, s.Date, s.Command
	}
	pt := SweepPoint{Rate: cfg.Rate, Dir: dir, Ops: s.Ops, Errors: s.Errors, ThroughputOps: s.ThroughputOps, LatencyMs: s.LatencyMs}
	if s.ServiceLatencyMs != nil {
		pt.ServiceLatencyMs = *s.ServiceLatencyMs
	}
	pt.Exploded = explodes(pt, lowestP99(res.Points))
	if progress != nil {
		fmt.Fprintf(progress, "sweep: %s ops/s offered -> %s ops/s, p50 %s ms, p99 %s ms, errors %d%s\n",
			FormatCount(cfg.Rate), FormatCount(pt.ThroughputOps), FormatMs(pt.LatencyMs.P50), FormatMs(pt.LatencyMs.P99), pt.Errors,
			map[bool]string{true: " -- exploded: " + pt.Exploded, false: ""}[pt.Exploded != ""])
	}
	return pt, nil
}

// lowestP99 is the smallest p99 among pts (0 if none).
func lowestP99(pts []SweepPoint) float64 {
	low := 0.0
	for i, p := range pts {
		if i == 0 || p.LatencyMs.P99 < low {
			low = p.LatencyMs.P99
		}
	}
	return low
}

// explodes applies the stopping rule; base is the lowest earlier p99
// (0 for the first rate).
func explodes(pt SweepPoint, base float64) string {
	var why []string
	if pt.ThroughputOps < SweepMinThroughputRatio*pt.Rate {
		why = append(why, fmt.Sprintf("throughput %s < 90%% of offered", FormatCount(pt.ThroughputOps)))
	}
	if base > 0 && pt.LatencyMs.P99 > SweepP99Factor*base {
		why = append(why, fmt.Sprintf("p99 %s ms > 10x the lowest earlier p99 %s ms", FormatMs(pt.LatencyMs.P99), FormatMs(base)))
	}
	if total := pt.Ops + pt.Errors; total > 0 && float64(pt.Errors) > SweepMaxErrorRatio*float64(total) {
		why = append(why, fmt.Sprintf("%d of %d operations failed", pt.Errors, total))
	}
	return strings.Join(why, "; ")
}

// finish picks the saturation point and the p99 at half of it.
func (res *SweepResult) finish() {
	var held []SweepPoint
	for _, p := range res.Points {
		if p.Exploded == "" {
			held = append(held, p)
		}
	}
	if len(held) == 0 {
		return
	}
	sat := held[len(held)-1]
	res.Saturation = &sat
	half := sat.ThroughputOps / 2
	res.HalfSaturationOps = half
	res.P99AtHalfSaturationMs, res.HalfSaturationNote = p99At(held, half)
}

// p99At interpolates p99 linearly in throughput between the held
// points around x.
func p99At(held []SweepPoint, x float64) (float64, string) {
	if x <= held[0].ThroughputOps {
		return held[0].LatencyMs.P99, fmt.Sprintf("lowest rate measured (%s ops/s) is at or above half saturation; its p99 is given", FormatCount(held[0].ThroughputOps))
	}
	for i := 1; i < len(held); i++ {
		a, b := held[i-1], held[i]
		if x <= b.ThroughputOps && b.ThroughputOps > a.ThroughputOps {
			f := (x - a.ThroughputOps) / (b.ThroughputOps - a.ThroughputOps)
			return a.LatencyMs.P99 + f*(b.LatencyMs.P99-a.LatencyMs.P99), "interpolated between measured rates"
		}
	}
	last := held[len(held)-1]
	return last.LatencyMs.P99, "nearest measured rate"
}
