// Package testfaults is a node's injectable disk and clock for chaos
// runs: a fault-injecting file system for the WAL (wal/errorfs) and a
// node.Clock that can jump and drift, both driven by small JSON fault
// commands. Its one job is to let a process-level test harness make one
// node's disk fail, fill or slow down and its clock jump or run fast or
// slow, through a test-only switch of the command that runs the node
// (raft-maelstrom --test-faults, raftbench serve --test-faults).
//
// It must never be switched on outside tests: a node built with it obeys
// anyone who can send it a fault command.
package testfaults
