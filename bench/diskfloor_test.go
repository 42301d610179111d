package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMeasureQuorumFloor(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		writers int
		every   bool
	}{{1, false}, {1, true}, {8, true}} {
		f, err := MeasureQuorumFloor(context.Background(), dir, FloorConfig{Nodes: 3, RecordBytes: 144, Writers: c.writers, EveryReplica: c.every, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles := 2
		if c.every {
			wantFiles = 3
		}
		if f.Nodes != 3 || f.Quorum != 2 || f.Files != wantFiles || f.Writers != c.writers || f.RecordBytes != 144 {
			t.Fatalf("floor describes the wrong setup (%+v): %+v", c, f)
		}
		checkFloorFigures(t, f)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("measurement left files behind: %v", left)
	}
}

func checkFloorFigures(t *testing.T, f *DiskFloor) {
	t.Helper()
	if f.Writes < 1 || f.MeanUs <= 0 || f.P50Us > f.P99Us || f.WritesPerSec <= 0 {
		t.Fatalf("implausible floor: %+v", f)
	}
	// A write takes at least one fsync (no disk does one in under a
	// microsecond), and each writer's writes fit in the time measured.
	if f.MeanUs < 1 || float64(f.Writes)*f.MeanUs > float64(f.Writers)*f.DurationS*1e6*1.01 {
		t.Fatalf("writes and mean disagree with the duration: %+v", f)
	}
}

func TestMeasureQuorumFloorBadInput(t *testing.T) {
	ctx := context.Background()
	ok := FloorConfig{Nodes: 3, RecordBytes: 100, Writers: 1, Duration: time.Second}
	for _, c := range []struct {
		mut  func(*FloorConfig)
		dir  string
		want string
	}{
		{func(c *FloorConfig) { c.Nodes = 0 }, "", "nodes 0"},
		{func(c *FloorConfig) { c.RecordBytes = 0 }, "", "record bytes 0"},
		{func(c *FloorConfig) { c.Writers = 0 }, "", "writers 0"},
		{func(c *FloorConfig) { c.Duration = 0 }, "", "duration 0s"},
		{func(*FloorConfig) {}, "/nonexistent/raftbench-floor", "no such file"},
	} {
		cfg := ok
		c.mut(&cfg)
		dir := c.dir
		if dir == "" {
			dir = t.TempDir()
		}
		_, err := MeasureQuorumFloor(ctx, dir, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MeasureQuorumFloor(%+v, %s) = %v, want error containing %q", cfg, dir, err, c.want)
		}
	}
}

func TestMeasureQuorumFloorStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := MeasureQuorumFloor(ctx, t.TempDir(), FloorConfig{Nodes: 3, RecordBytes: 100, Writers: 4, EveryReplica: true, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to stop", time.Since(start))
	}
}
