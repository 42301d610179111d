package httpapi

import (
	"strings"
	"testing"
)

// TestValidateSnapshotWriteRate: --snapshot-write-rate takes bytes per
// second, 0 for unpaced; a negative rate is refused with a message
// naming the flag.
func TestValidateSnapshotWriteRate(t *testing.T) {
	cfg := ServeConfig{Name: "n1", Peers: map[string]string{"n1": "127.0.0.1:7001"}, Dir: t.TempDir(),
		HTTPAddr: "127.0.0.1:0", SnapshotWriteRate: 64 << 20}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a positive rate: %v", err)
	}
	cfg.SnapshotWriteRate = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--snapshot-write-rate") {
		t.Fatalf("a negative rate: %v, want an error naming --snapshot-write-rate", err)
	}
}
