// Package peertest is the scenario every peer-library target in
// bench/peers must pass, written once so each backend's tests differ only
// in how the backend is configured and how its leader is stopped.
//
//   - Start builds a cluster through a bench.Factory, bounded in time, and
//     checks the five raftbench_peer_* counters were registered.
//   - Smoke runs 8 goroutines x 5 rounds of lin-kv steps (read, cas, write,
//     cas mismatch, cas, read) on distinct keys and checks every definite
//     answer; then the target's Stats (a leader; fsyncs counted exactly
//     when fsync is on) and that Do fails after Close.
//   - Failover writes, stops the leader through a backend hook, and checks
//     the new leader serves every acknowledged write, accepts a new one,
//     and was counted as a leader change.
//   - RejectsBadConfig checks a factory refuses invalid configurations.
//   - WriteParallel is the body of a throughput benchmark (a figure for
//     reports, never an assertion).
//
// An error from Do in the smoke rounds is logged and the round abandoned,
// not failed: under a loaded machine an election can make an outcome
// unknown, which is a correct answer. A wrong status or value always
// fails, and at least 3/4 of the rounds must complete.
//
// This package imports testing: it must only ever be imported from
// _test.go files, never from code that ships in a binary. It runs every
// cluster on 127.0.0.1 or in process, in a t.TempDir().
package peertest
