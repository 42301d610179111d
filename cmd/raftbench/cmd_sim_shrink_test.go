package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/chaos/sim"
)

// TestSimReplayTrace: `sim --replay-trace` replays a written script (here
// a passing seed's whole recorded trace) and exits 0; a file that is not
// a script gets exit status 2 and says so.
func TestSimReplayTrace(t *testing.T) {
	dir := t.TempDir()
	_, sc := sim.Record(1, sim.Options{})
	good := filepath.Join(dir, "s.json")
	if err := sc.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	rootCmd.SetArgs([]string{"sim", "--replay-trace", good})
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("replay of seed 1's trace: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format":"something-else"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rootCmd.SetArgs([]string{"sim", "--replay-trace", bad})
	err := rootCmd.Execute()
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "not a simulator script") {
		t.Fatalf("got %v (exit %d), want exit 2 saying the file is not a simulator script", err, exitCode(err))
	}
	// cobra keeps flag values between Execute calls: reset for later tests.
	c, _, err := rootCmd.Find([]string{"sim"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Flags().Set("replay-trace", ""); err != nil {
		t.Fatal(err)
	}
}
