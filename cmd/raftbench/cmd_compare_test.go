package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/bench/compare"
)

// TestCompareOnModelledDisk: --model-fsync reaches our engine and both
// peer libraries through compare, all three state the modelled contract
// and are ranked against each other, and no disk floor is measured.
func TestCompareOnModelledDisk(t *testing.T) {
	out := t.TempDir()
	_, err := execLoadCmd(t, newCompareCmd, "--systems", "raftbench,hashicorp,etcd", "--clients", "4", "--repeat", "1",
		"--warmup", "0s", "--duration", "300ms", "--keys", "50", "--model-fsync", "300us", "--data-dir", t.TempDir(), "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "compare.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res compare.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.ModelFsync != "300µs" || len(res.DiskFloor) != 0 || res.ReferenceContract != bench.DurabilityModelled+", readindex reads" {
		t.Errorf("compare.json: model %q, %d disk floor samples, reference contract %q", res.ModelFsync, len(res.DiskFloor), res.ReferenceContract)
	}
	for _, row := range res.Rows {
		if row.Gate != "" || row.VsBestOther == 0 {
			t.Errorf("%s not ranked on the modelled disk: %q", row.System, row.Gate)
		}
	}
	for _, args := range [][]string{{"--model-fsync", "2s"}, {"--model-fsync", "1ms", "--fsync=false"}} {
		if _, err := execLoadCmd(t, newCompareCmd, append([]string{"--systems", "cmdtest", "--out", out}, args...)...); err == nil || !strings.Contains(err.Error(), "modelled fsync") {
			t.Errorf("compare %v: %v, want an error naming the modelled fsync", args, err)
		}
	}
}

// TestCompareSystemOptionsRefusedClearly: a system name whose target
// options do not parse, or that names no registered target, is refused
// with the reason before anything runs.
func TestCompareSystemOptionsRefusedClearly(t *testing.T) {
	for system, want := range map[string]string{
		"floor:stores":    `"stores" is not one`,
		"floor::nofsync":  `"" is not one`,
		"nosuch:stores=3": `unknown target "nosuch"`,
	} {
		out := t.TempDir()
		_, err := execLoadCmd(t, newCompareCmd, "--systems", "raftbench,"+system, "--clients", "1", "--out", out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--systems raftbench,%s: %v, want an error containing %s", system, err, want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("--systems raftbench,%s: %d entries written before the refusal", system, len(entries))
		}
	}
}
