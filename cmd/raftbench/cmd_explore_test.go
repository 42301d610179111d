package main

import (
	"strings"
	"testing"
)

// TestExploreBadFlagsExitTwo: out-of-range budgets, an unknown strategy,
// clone mode, invariant or replay file get exit status 2 and say what
// is wrong. Each case resets the flags the earlier ones changed (cobra
// keeps flag values between Execute calls).
func TestExploreBadFlagsExitTwo(t *testing.T) {
	base := []string{"explore", "--quiet", "--nodes", "3", "--depth", "3", "--in-flight", "4", "--max-term", "2",
		"--max-states", "1000", "--strategy", "bfs", "--clone", "replay", "--replay", ""}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "7"}, "nodes 7 out of range"},
		{[]string{"--depth", "0"}, "max depth 0 out of range"},
		{[]string{"--in-flight", "0"}, "in-flight 0 out of range"},
		{[]string{"--max-term", "1"}, "max term 1 out of range"},
		{[]string{"--max-states", "0"}, "max states 0 out of range"},
		{[]string{"--strategy", "random"}, "unknown strategy"},
		{[]string{"--clone", "fork"}, "--clone must be copy or replay"},
		{[]string{"--replay", "/nonexistent/cx.json"}, "no such file"},
		{[]string{"--invariant", "no-such-invariant"}, "unknown invariant"},
	} {
		rootCmd.SetArgs(append(append([]string(nil), base...), tc.args...))
		err := rootCmd.Execute()
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v (exit %d), want exit 2 mentioning %q", tc.args, err, exitCode(err), tc.want)
		}
	}
}
