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

// TestInprocSnapshotLogRatioOption: the snapshot-log-ratio option takes
// a ratio >= 0 and refuses anything else with a message naming it.
func TestInprocSnapshotLogRatioOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"-1", "many", "NaN", "+Inf"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-log-ratio": bad}})
		if err == nil || !strings.Contains(err.Error(), "snapshot-log-ratio") {
			t.Fatalf("snapshot-log-ratio=%s: %v, want an error naming the option", bad, err)
		}
	}
	for _, good := range []string{"0", "2"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-log-ratio": good}})
		if err != nil {
			t.Fatalf("snapshot-log-ratio=%s: %v", good, err)
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInprocWALOffloadLoneOption: wal-offload-lone takes a boolean and
// refuses anything else with a message naming it.
func TestInprocWALOffloadLoneOption(t *testing.T) {
	ctx := context.Background()
	_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-offload-lone": "sometimes"}})
	if err == nil || !strings.Contains(err.Error(), "wal-offload-lone") {
		t.Fatalf("wal-offload-lone=sometimes: %v, want an error naming the option", err)
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-offload-lone": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInprocWALPreallocateOption(t *testing.T) {
	ctx := context.Background()
	_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-preallocate": "maybe"}})
	if err == nil || !strings.Contains(err.Error(), "wal-preallocate") {
		t.Fatalf("wal-preallocate=maybe: %v, want an error naming the option", err)
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-preallocate": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInprocWALMinSyncIntervalOption: wal-min-sync-interval takes a
// duration of zero or more and refuses anything else with a message
// naming it.
func TestInprocWALMinSyncIntervalOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"soon", "-1ms"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-min-sync-interval": bad}})
		if err == nil || !strings.Contains(err.Error(), "wal-min-sync-interval") {
			t.Fatalf("wal-min-sync-interval=%s: %v, want an error naming the option", bad, err)
		}
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-min-sync-interval": "1ms"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}
