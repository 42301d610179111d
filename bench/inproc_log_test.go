package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInprocLogOption: log=FILE writes the nodes' log to FILE (every
// node's start is in it once the target is closed); an empty name or a
// file that cannot be created is refused with a message naming the
// option.
func TestInprocLogOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"", filepath.Join(t.TempDir(), "missing", "nodes.log")} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"log": bad}})
		if err == nil || !strings.Contains(err.Error(), "log") {
			t.Fatalf("log=%q: %v, want an error naming the option", bad, err)
		}
	}
	path := filepath.Join(t.TempDir(), "nodes.log")
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"log": path}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"node=1", "node=2", "node=3"} {
		if !strings.Contains(string(b), "msg=recovered") || !strings.Contains(string(b), node) {
			t.Fatalf("log has no start of %s:\n%s", node, b)
		}
	}
}
