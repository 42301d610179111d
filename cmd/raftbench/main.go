package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "raftbench",
	Short: "Benchmark, torture and compare Raft implementations",
	Long: `raftbench measures and tests the raftbench Raft engine and its peers.

  run      one load-generator run against a cluster
  sweep    open-loop runs at increasing rates (latency vs throughput)
  compare  the same load against several Raft libraries, interleaved
  plot     redraw plots from saved results
  chaos    Maelstrom-style lin-kv test of node binaries under faults
  sim      deterministic simulation of the Raft core, replayable by seed
  explore  exhaustive exploration of the Raft core and driver, shortest counterexamples
  serve    run one node over TCP with an HTTP API
  certs    generate a development CA, node and client certificates`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// addCommand registers a subcommand; called from init functions.
func addCommand(c *cobra.Command) { rootCmd.AddCommand(c) }

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (for example "not
// linearizable" is 1, bad usage is 2).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}
