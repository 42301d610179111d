package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordReplaysExactly: recording does not change a run (same trace
// hash as Run), and replaying the whole recorded trace is the same run
// again — through the liveness phase and the history check — so a
// script's steps mean exactly the recorded events.
func TestRecordReplaysExactly(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		plain := Run(seed, Options{})
		rec, sc := Record(seed, Options{})
		if rec.TraceHash != plain.TraceHash || rec.Stats.Events != plain.Stats.Events {
			t.Fatalf("seed %d: recording changed the run (trace %x, %d events; want %x, %d)", seed, rec.TraceHash, rec.Stats.Events, plain.TraceHash, plain.Stats.Events)
		}
		if len(sc.Steps) != int(plain.Stats.Events) {
			t.Fatalf("seed %d: %d steps recorded for %d events", seed, len(sc.Steps), plain.Stats.Events)
		}
		res, played := ReplayScript(sc, Options{})
		if res.TraceHash != plain.TraceHash || len(played) != len(sc.Steps) || (res.Failure == nil) != (plain.Failure == nil) {
			t.Fatalf("seed %d: replay of the whole trace: %d of %d steps, trace %x, failure %v; the run: %x, %v",
				seed, len(played), len(sc.Steps), res.TraceHash, res.Failure, plain.TraceHash, plain.Failure)
		}
	}
}

// TestReadScriptRejects: a file that is not a simulator script, or names
// a schedule tuning that does not exist, gets a clear error.
func TestReadScriptRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte(`{"format":"raftbench-explore-counterexample/1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadScript(path); err == nil || !strings.Contains(err.Error(), "not a simulator script") {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"format":"raftbench-sim-script/1","seed":1,"tuning":["warp speed"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadScript(path); err == nil || !strings.Contains(err.Error(), `unknown schedule tuning "warp speed"`) {
		t.Fatalf("err = %v", err)
	}
}
