// Package peerutil is the plumbing every peer-library target in
// bench/peers shares, so each backend holds only what is specific to the
// library it drives:
//
//   - Do turns a bench.Request into a kv query or kv command, hands it to
//     the backend's read or write path, and decodes the kv result; an
//     unknown op is an error that names the system.
//   - PollLeader waits for the backend's notion of "a node that leads",
//     bounded by a deadline, the caller's context and the target's stop
//     channel; Sleep is its cancellable pause.
//   - RegisterMetrics exports a target's cumulative bench.TargetStats as
//     the raftbench_peer_* Prometheus counters, labelled with the system.
//
// Contract: nothing here knows a Raft library. The backend decides what a
// leader is, how a write is replicated and how a read is made
// linearizable; this package only routes requests and bounds waits. After
// stop is closed every wait here returns the backend's closed error.
//
// It must never retry on its own (whether a failure is safe to retry is
// the backend's knowledge), never sleep unboundedly, and never register
// metrics on a global registry: the Registerer is passed in.
package peerutil
