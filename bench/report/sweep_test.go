package report

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/raftbench/raftbench/bench"
)

// A sweep written out reads back whole, with its plot drawn.
func TestSweepWriteAndReadBack(t *testing.T) {
	res, err := bench.Sweep(context.Background(), bench.DefaultRunConfig(), []float64{1000, 2000, 4000, 8000, 16000}, syntheticRun, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteSweep(dir, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSweep(dir)
	if err != nil || len(back.Points) != 4 || back.Saturation.Rate != 4000 {
		t.Fatalf("read back %+v, %v", back, err)
	}
	checkPNG(t, filepath.Join(dir, PlotSweep+".png"))
	checkSVG(t, filepath.Join(dir, PlotSweep+".svg"))
}
