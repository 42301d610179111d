// Command raftbench is the user's command line: run, sweep, compare, merge,
// failover, plot, chaos, sim, serve and bus-demo. Each subcommand lives in its
// own file and adds itself to the root command in an init function.
package main
