package main

import (
	"strings"
	"testing"
)

func TestParseConcurrency(t *testing.T) {
	cases := []struct {
		in    string
		nodes int
		want  int
		bad   bool
	}{
		{"10", 5, 10, false},
		{"2n", 5, 10, false},
		{"n", 3, 3, false},
		{"4n", 3, 12, false},
		{"0", 5, 0, true},
		{"-2n", 5, 0, true},
		{"ten", 5, 0, true},
	}
	for _, c := range cases {
		got, err := parseConcurrency(c.in, c.nodes)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseConcurrency(%q, %d) = %d, %v", c.in, c.nodes, got, err)
		}
	}
}

// Bad chaos flags exit 2 with a message naming the flag, before any node
// starts.
func TestChaosBadFlagsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "3", "--concurrency", "10"}, "multiple of 2 × nodes"},
		{[]string{"--workload", "lin-kv-plus"}, "workload"},
		{[]string{"--kill-mode", "nuke"}, "kill-mode"},
		{[]string{"--node-targets", "half"}, "node-targets"},
		{[]string{"--partition-targets", "halves"}, "partition-targets"},
	} {
		rootCmd.SetArgs(append([]string{"chaos", "--bin", "/bin/true", "--out", t.TempDir()}, tc.args...))
		err := rootCmd.Execute()
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v (exit %d), want exit 2 mentioning %q", tc.args, err, exitCode(err), tc.want)
		}
	}
}
