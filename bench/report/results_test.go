package report

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/wal"
)

// requiredSummary has a pointer for every field summary.json must have,
// so a missing field is nil rather than a silent zero.
type requiredSummary struct {
	Target        *string  `json:"target"`
	Nodes         *int     `json:"nodes"`
	Clients       *int     `json:"clients"`
	ValueBytes    *int     `json:"value_bytes"`
	DurationS     *float64 `json:"duration_s"`
	Ops           *uint64  `json:"ops"`
	Errors        *uint64  `json:"errors"`
	ThroughputOps *float64 `json:"throughput_ops"`
	LatencyMs     *struct {
		P50  *float64 `json:"p50"`
		P90  *float64 `json:"p90"`
		P99  *float64 `json:"p99"`
		P999 *float64 `json:"p999"`
		Max  *float64 `json:"max"`
	} `json:"latency_ms"`
	Fsync           *bool    `json:"fsync"`
	GitCommit       *string  `json:"git_commit"`
	GoVersion       *string  `json:"go_version"`
	CPUs            *int     `json:"cpus"`
	Date            *string  `json:"date"`
	Command         *string  `json:"command"`
	EntriesPerFsync *float64 `json:"entries_per_fsync"`
	WALFsyncOffload *bool    `json:"wal_fsync_offload"`
}

// writtenRun runs the fake briefly and writes its results into a temp dir.
func writtenRun(t *testing.T) (string, *bench.Summary) {
	t.Helper()
	cfg := shortConfig()
	cfg.Warmup, cfg.Duration = 200*time.Millisecond, 1200*time.Millisecond
	sum, err := bench.Run(context.Background(), cfg, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bench.FillEnvironment(sum, []string{"raftbench", "run", "--mix", "write=1, read=0"})
	dir := t.TempDir()
	if err := WriteResults(dir, sum); err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

func TestSummaryJSONSchema(t *testing.T) {
	dir, sum := writtenRun(t)
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s requiredSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Target == nil || s.Nodes == nil || s.Clients == nil || s.ValueBytes == nil || s.DurationS == nil ||
		s.Ops == nil || s.Errors == nil || s.ThroughputOps == nil || s.LatencyMs == nil || s.Fsync == nil ||
		s.GitCommit == nil || s.GoVersion == nil || s.CPUs == nil || s.Date == nil || s.Command == nil || s.EntriesPerFsync == nil ||
		s.WALFsyncOffload == nil {
		t.Fatalf("summary.json lacks a required field:\n%s", b)
	}
	l := s.LatencyMs
	if l.P50 == nil || l.P90 == nil || l.P99 == nil || l.P999 == nil || l.Max == nil {
		t.Fatalf("latency_ms lacks a percentile:\n%s", b)
	}
	if !(*l.P50 <= *l.P90 && *l.P90 <= *l.P99 && *l.P99 <= *l.P999 && *l.P999 <= *l.Max) {
		t.Errorf("percentiles not ordered: %+v", sum.LatencyMs)
	}
	if *s.Target != "fake" || *s.Nodes != 3 || *s.Clients != 4 || *s.ValueBytes != 128 || *s.DurationS != 1.2 || !*s.Fsync {
		t.Errorf("configuration echoed wrong:\n%s", b)
	}
	if *s.Ops != sum.Ops || *s.Ops == 0 || *s.ThroughputOps != float64(*s.Ops)/1.2 {
		t.Errorf("ops %d throughput %v", *s.Ops, *s.ThroughputOps)
	}
	if *s.WALFsyncOffload != wal.FsyncOffloadAvailable() {
		t.Errorf("wal_fsync_offload %v, but this machine says %v", *s.WALFsyncOffload, wal.FsyncOffloadAvailable())
	}
	if !strings.HasPrefix(*s.GoVersion, "go") || *s.CPUs < 1 || *s.GitCommit == "" {
		t.Errorf("environment: go %q cpus %d commit %q", *s.GoVersion, *s.CPUs, *s.GitCommit)
	}
	if _, err := time.Parse(time.RFC3339, *s.Date); err != nil {
		t.Errorf("date %q: %v", *s.Date, err)
	}
	if *s.Command != "raftbench run --mix 'write=1, read=0'" {
		t.Errorf("command %q is not shell-quoted", *s.Command)
	}
}

func TestResultsReadBack(t *testing.T) {
	dir, sum := writtenRun(t)
	rr, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Summary.Ops != sum.Ops || len(rr.Series) != len(sum.Series) || len(rr.Series) < 1 {
		t.Fatalf("read back %d ops, %d seconds; wrote %d, %d", rr.Summary.Ops, len(rr.Series), sum.Ops, len(sum.Series))
	}
	if rr.Series[0].Ops != sum.Series[0].Ops || rr.Series[0].Warmup != sum.Series[0].Warmup {
		t.Errorf("first second read back as %+v, wrote %+v", rr.Series[0], sum.Series[0])
	}
	prev := -1.0
	for _, p := range rr.Percentiles {
		if p.LatencyMs < prev {
			t.Fatalf("percentile spectrum decreases at p%v", p.Percentile)
		}
		prev = p.LatencyMs
	}
	if last := rr.Percentiles[len(rr.Percentiles)-1]; last.Percentile != 100 || last.LatencyMs != sum.LatencyMs.Max {
		t.Errorf("spectrum ends at p%v = %v ms, want p100 = max %v", last.Percentile, last.LatencyMs, sum.LatencyMs.Max)
	}
	hlog, err := os.ReadFile(filepath.Join(dir, HistogramFile))
	if err != nil || !bytes.Contains(hlog, []byte("Tag=latency,")) || !bytes.Contains(hlog, []byte("Tag=service,")) {
		t.Errorf("histogram.hlog lacks the tagged histograms (%v):\n%s", err, hlog)
	}
}

func TestPlotsAreValidImages(t *testing.T) {
	dir, _ := writtenRun(t)
	for _, name := range []string{PlotThroughput, PlotLatency, PlotSpectrum} {
		checkPNG(t, filepath.Join(dir, name+".png"))
		checkSVG(t, filepath.Join(dir, name+".svg"))
	}
	// Overlay two runs, as `raftbench plot A B --out C` does.
	rr, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	rr2 := *rr
	rr2.Summary.Clients = 8
	out := t.TempDir()
	if err := PlotOverlay(out, []*RunResult{rr, &rr2}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(out, PlotSpectrum+".png"))
	svg, _ := os.ReadFile(filepath.Join(out, PlotSpectrum+".svg"))
	if !bytes.Contains(svg, []byte("8 clients")) || !bytes.Contains(svg, []byte("4 clients")) {
		t.Errorf("overlay legend does not name both runs")
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bnd := img.Bounds()
	if bnd.Dx() < 100 || bnd.Dy() < 100 {
		t.Fatalf("%s: %v is too small", path, bnd)
	}
	// Not a blank canvas: count pixels that differ from the corner.
	ref := img.At(bnd.Min.X, bnd.Min.Y)
	diff := 0
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 3 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 3 {
			if img.At(x, y) != ref {
				diff++
			}
		}
	}
	if diff < 200 {
		t.Fatalf("%s: only %d non-background pixels sampled", path, diff)
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	root, elems := "", 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: not XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			elems++
		}
	}
	if root != "svg" || elems < 20 {
		t.Fatalf("%s: root <%s> with %d elements, want a drawn <svg>", path, root, elems)
	}
}
