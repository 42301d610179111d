package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/raftbench/raftbench/bench"
)

// SweepFile is the sweep's summary in its output directory.
const SweepFile = "sweep.json"

// WriteSweep writes sweep.json and the latency-versus-throughput plot.
func WriteSweep(dir string, res *bench.SweepResult) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, SweepFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return err
	}
	return SweepPlot(dir, []*bench.SweepResult{res})
}

// ReadSweep reads sweep.json from dir.
func ReadSweep(dir string) (*bench.SweepResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, SweepFile))
	if err != nil {
		return nil, err
	}
	var res bench.SweepResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SweepFile), err)
	}
	return &res, nil
}
