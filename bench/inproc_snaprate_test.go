package bench

import (
	"context"
	"strings"
	"testing"
)

// TestInprocSnapshotWriteRateOption: the snapshot-write-rate option
// takes bytes per second (0: unpaced) and refuses anything else with a
// message naming it.
func TestInprocSnapshotWriteRateOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"-1", "fast", "1.5"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-write-rate": bad}})
		if err == nil || !strings.Contains(err.Error(), "snapshot-write-rate") {
			t.Fatalf("snapshot-write-rate=%s: %v, want an error naming the option", bad, err)
		}
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-write-rate": "67108864"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}
