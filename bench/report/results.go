package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/bench"
)

// Files in a run's output directory.
const (
	SummaryFile     = "summary.json"
	TimeseriesFile  = "timeseries.csv"
	PercentilesFile = "latency_percentiles.csv"
	HistogramFile   = "histogram.hlog"
)

// RunResult is a run as read back from its output directory.
type RunResult struct {
	Dir         string
	Summary     bench.Summary
	Series      []bench.IntervalStats
	Percentiles []PercentilePoint
}

// PercentilePoint is one row of latency_percentiles.csv.
type PercentilePoint struct {
	Percentile float64 // 0..100
	LatencyMs  float64
	ServiceMs  float64
}

// WriteResults writes summary.json, timeseries.csv,
// latency_percentiles.csv, histogram.hlog and the run's plots into dir,
// creating it if needed.
func WriteResults(dir string, s *bench.Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	steps := []struct {
		name  string
		write func(io.Writer) error
	}{
		{SummaryFile, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }},
		{TimeseriesFile, func(w io.Writer) error { return writeTimeseries(w, s.Series) }},
		{PercentilesFile, func(w io.Writer) error { return writePercentiles(w, spectrum(s.Hist, s.SvcHist)) }},
		{HistogramFile, func(w io.Writer) error { return writeHlog(w, s) }},
	}
	for _, st := range steps {
		if err := writeFile(filepath.Join(dir, st.name), st.write); err != nil {
			return err
		}
	}
	rr := &RunResult{Dir: dir, Summary: *s, Series: s.Series, Percentiles: spectrum(s.Hist, s.SvcHist)}
	return PlotRun(dir, rr)
}

// writeFile writes through a temporary file and renames, so a reader
// never sees half a file.
func writeFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

var timeseriesHeader = []string{"second", "elapsed_s", "phase", "ops", "ops_per_s", "errors", "late",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "service_p50_ms", "service_p99_ms",
	"leader_changes", "fsyncs_per_s", "entries_per_fsync", "entries_per_append"}

func writeTimeseries(w io.Writer, series []bench.IntervalStats) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(timeseriesHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, is := range series {
		phase := "measure"
		switch {
		case is.Warmup:
			phase = "warmup"
		case is.Drain:
			phase = "drain"
		}
		_ = cw.Write([]string{strconv.Itoa(is.Second), f(round3(is.ElapsedS)), phase,
			strconv.FormatUint(is.Ops, 10), f(round3(is.OpsPerSec)), strconv.FormatUint(is.Errors, 10),
			strconv.FormatUint(is.Late, 10), f(is.P50), f(is.P90), f(is.P99), f(is.P999), f(is.Max),
			f(is.SvcP50), f(is.SvcP99), strconv.FormatUint(is.LeaderChanges, 10),
			f(round3(is.FsyncsPerSec)), f(round3(is.EntriesPerFsync)), f(round3(is.EntriesPerAppend))})
	}
	cw.Flush()
	return cw.Error()
}

// spectrumPercentiles are evenly spaced in "nines" (-log10(1-p)) from
// p0 to p99.999, plus the maximum, for the percentile spectrum plot.
func spectrumPercentiles() []float64 {
	var ps []float64
	for n := 0.0; n <= 5.0001; n += 0.05 {
		ps = append(ps, 100*(1-math.Pow(10, -n)))
	}
	return append(ps, 100)
}

func spectrum(lat, svc *hdr.Histogram) []PercentilePoint {
	var pts []PercentilePoint
	if lat == nil || lat.TotalCount() == 0 {
		return pts
	}
	for _, p := range spectrumPercentiles() {
		pt := PercentilePoint{Percentile: p, LatencyMs: usToMs(lat.ValueAtPercentile(p))}
		if svc != nil {
			pt.ServiceMs = usToMs(svc.ValueAtPercentile(p))
		}
		pts = append(pts, pt)
	}
	return pts
}

func writePercentiles(w io.Writer, pts []PercentilePoint) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"percentile", "latency_ms", "service_latency_ms"})
	for _, p := range pts {
		_ = cw.Write([]string{strconv.FormatFloat(p.Percentile, 'f', 6, 64),
			strconv.FormatFloat(p.LatencyMs, 'f', 3, 64), strconv.FormatFloat(p.ServiceMs, 'f', 3, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// writeHlog writes the measured window's full histograms in the
// HdrHistogram interval-log format: tag "latency" (corrected in the open
// loop) and tag "service" (raw service time).
func writeHlog(w io.Writer, s *bench.Summary) error {
	lw := hdr.NewHistogramLogWriter(w)
	_ = lw.OutputComment("[raftbench " + s.Title() + "]")
	_ = lw.OutputComment("[Values are microseconds; the Interval_Max column therefore reads in seconds]")
	_ = lw.OutputLegend()
	for _, h := range []struct {
		tag string
		h   *hdr.Histogram
	}{{"latency", s.Hist}, {"service", s.SvcHist}} {
		if h.h == nil {
			continue
		}
		c := h.h.Clone()
		c.SetTag(h.tag)
		c.SetStartTimeMs(int64(s.WarmupS * 1000))
		c.SetEndTimeMs(int64((s.WarmupS + s.DurationS) * 1000))
		if err := lw.OutputIntervalHistogram(c); err != nil {
			return err
		}
	}
	return nil
}

// ReadResults reads a run's output directory back.
func ReadResults(dir string) (*RunResult, error) {
	rr := &RunResult{Dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, fmt.Errorf("%s: not a run directory: %w", dir, err)
	}
	if err := json.Unmarshal(b, &rr.Summary); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	if rr.Series, err = readTimeseries(filepath.Join(dir, TimeseriesFile)); err != nil {
		return nil, err
	}
	if rr.Percentiles, err = readPercentiles(filepath.Join(dir, PercentilesFile)); err != nil {
		return nil, err
	}
	return rr, nil
}

func readCSV(path string, header []string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 || len(rows[0]) != len(header) || rows[0][0] != header[0] {
		return nil, fmt.Errorf("%s: unexpected header (want %v)", path, header)
	}
	return rows[1:], nil
}

func readTimeseries(path string) ([]bench.IntervalStats, error) {
	rows, err := readCSV(path, timeseriesHeader)
	if err != nil {
		return nil, err
	}
	out := make([]bench.IntervalStats, 0, len(rows))
	for i, r := range rows {
		var p numParser
		is := bench.IntervalStats{
			Second: int(p.f(r[0])), ElapsedS: p.f(r[1]), Warmup: r[2] == "warmup", Drain: r[2] == "drain",
			Ops: uint64(p.f(r[3])), OpsPerSec: p.f(r[4]), Errors: uint64(p.f(r[5])), Late: uint64(p.f(r[6])),
			P50: p.f(r[7]), P90: p.f(r[8]), P99: p.f(r[9]), P999: p.f(r[10]), Max: p.f(r[11]),
			SvcP50: p.f(r[12]), SvcP99: p.f(r[13]), LeaderChanges: uint64(p.f(r[14])),
			FsyncsPerSec: p.f(r[15]), EntriesPerFsync: p.f(r[16]), EntriesPerAppend: p.f(r[17]),
		}
		if p.err != nil {
			return nil, fmt.Errorf("%s row %d: %w", path, i+2, p.err)
		}
		out = append(out, is)
	}
	return out, nil
}

func readPercentiles(path string) ([]PercentilePoint, error) {
	rows, err := readCSV(path, []string{"percentile", "latency_ms", "service_latency_ms"})
	if err != nil {
		return nil, err
	}
	out := make([]PercentilePoint, 0, len(rows))
	for i, r := range rows {
		var p numParser
		pt := PercentilePoint{Percentile: p.f(r[0]), LatencyMs: p.f(r[1]), ServiceMs: p.f(r[2])}
		if p.err != nil {
			return nil, fmt.Errorf("%s row %d: %w", path, i+2, p.err)
		}
		out = append(out, pt)
	}
	return out, nil
}

// round3 keeps three decimals, so the CSV holds no float noise.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// usToMs converts a histogram value (microseconds) to milliseconds.
func usToMs(us int64) float64 { return float64(us) / 1000 }

// numParser keeps the first parse error, so row decoding stays flat.
type numParser struct{ err error }

func (p *numParser) f(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && p.err == nil {
		p.err = errors.New("bad number " + strconv.Quote(s))
	}
	return v
}
