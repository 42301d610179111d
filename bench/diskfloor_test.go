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
	for _, every := range []bool{false, true} {
		f, err := MeasureQuorumFloor(context.Background(), dir, 3, 144, every, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		wantFiles := 2
		if every {
			wantFiles = 3
		}
		if f.Nodes != 3 || f.Quorum != 2 || f.Files != wantFiles || f.RecordBytes != 144 {
			t.Fatalf("floor describes the wrong setup (every replica %v): %+v", every, f)
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
	if f.Rounds < 1 || f.MeanUs <= 0 || f.P50Us > f.P99Us || f.WritesPerSec <= 0 {
		t.Fatalf("implausible floor: %+v", f)
	}
	// One round is at least one fsync: no disk does a round in under a
	// microsecond, and the rounds fit in the time measured.
	if f.MeanUs < 1 || float64(f.Rounds)*f.MeanUs > f.DurationS*1e6*1.01 {
		t.Fatalf("rounds and mean disagree with the duration: %+v", f)
	}
}

func TestMeasureQuorumFloorBadInput(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		nodes, bytes int
		d            time.Duration
		dir, want    string
	}{
		{0, 100, time.Second, "", "nodes 0"},
		{3, 0, time.Second, "", "record bytes 0"},
		{3, 100, 0, "", "duration 0s"},
		{3, 100, time.Second, "/nonexistent/raftbench-floor", "no such file"},
	} {
		dir := c.dir
		if dir == "" {
			dir = t.TempDir()
		}
		_, err := MeasureQuorumFloor(ctx, dir, c.nodes, c.bytes, true, c.d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MeasureQuorumFloor(%d nodes, %d bytes, %v, %s) = %v, want error containing %q", c.nodes, c.bytes, c.d, dir, err, c.want)
		}
	}
}

func TestMeasureQuorumFloorStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := MeasureQuorumFloor(ctx, t.TempDir(), 3, 100, true, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to stop", time.Since(start))
	}
}
