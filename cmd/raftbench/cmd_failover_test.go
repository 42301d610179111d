package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/bench"
)

func TestFailoverOnInproc(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node cluster for 2 s")
	}
	out := filepath.Join(t.TempDir(), "fo")
	stdout, err := execLoadCmd(t, newFailoverCmd, "--target", "inproc", "--clients", "4", "--warmup", "200ms", "--duration", "1800ms",
		"--at", "600ms", "--for", "600ms", "--fault", "partition", "--keys", "100", "--out", out, "--quiet", "--data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res := readJSON[bench.FailoverResult](t, filepath.Join(out, "failover.json"))
	if res.Fault != "partition" || res.OldLeader == 0 || res.NewLeader == 0 || res.NewLeader == res.OldLeader ||
		res.NewLeaderMs <= 0 || res.FirstWriteMs <= 0 || len(res.Phases) != 3 || len(res.Timeline) == 0 {
		t.Fatalf("failover.json: %+v", res)
	}
	for _, f := range []string{"failover.md", "failover_throughput.png", "failover_p99.svg", "summary.json", "histogram.hlog"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout, "time to first successful write") {
		t.Errorf("no table on stdout:\n%s", stdout)
	}
}

func TestFailoverRejectsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault", "reboot", "--out", "x"}, `unknown fault "reboot"`},
		{[]string{"--at", "40s", "--out", "x"}, "fault time 40s must be inside the measured 30s"},
		{[]string{"--rate", "100", "--out", "x"}, "closed loop only"},
		{[]string{}, "--out DIR is required"},
		{[]string{"--out", t.TempDir(), "--duration", "1s", "--at", "500ms"}, "cannot be failed over"},
	} {
		_, err := execLoadCmd(t, newFailoverCmd, append([]string{"--target", "cmdtest", "--quiet"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("failover %v: %v, want error containing %q", c.args, err, c.want)
		}
	}
}

func TestCompareSeveralWorkloads(t *testing.T) {
	out := t.TempDir()
	_, err := execLoadCmd(t, newCompareCmd, "--systems", "cmdtest", "--clients", "2", "--repeat", "1", "--warmup", "0s",
		"--duration", "300ms", "--disk-floor", "0", "--keys", "50", "--workload", "a,write-only", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"a", "write-only"} {
		b, err := os.ReadFile(filepath.Join(out, w, "compare.json"))
		if err != nil || !strings.Contains(string(b), `"name": "`+w+`"`) {
			t.Errorf("%s: %v", w, err)
		}
	}
	if _, err := execLoadCmd(t, newCompareCmd, "--systems", "cmdtest", "--workload", "a,zz", "--out", out); err == nil || !strings.Contains(err.Error(), `unknown workload "zz"`) {
		t.Errorf("bad workload in a list: %v", err)
	}
}
