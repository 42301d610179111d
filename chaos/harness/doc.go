// Package harness runs real Maelstrom-protocol node binaries under faults
// and checks what their clients saw: a process-level, Jepsen-style lin-kv
// test that gives the verdict Maelstrom would give a node, and goes
// further (kill -9 and restart, pauses, loss, duplication). Its one job
// is to judge nodes written by anyone: a correct node must never be
// called non-linearizable, so the workload sends only what Maelstrom's
// lin-kv workload sends unless Config.Workload asks for an extension.
//
// Run(ctx, Config) (*Summary, error):
//
//   - spawns Config.Nodes copies of Config.Bin as n0…n(N-1) (each with
//     Config.Args and "--data-dir DIR", DIR surviving restarts), sends each
//     init from c0 and waits for init_ok; nothing else reaches a node
//     before its init_ok, after a restart too;
//   - routes every JSON line {"src","dest","body"} through one simulated
//     network: each message is delayed (mean Config.Latency, constant,
//     uniform or exponential), so links reorder unless NoReorder;
//     partitions, loss and duplication apply to node-to-node messages
//     only, partitions at delivery time;
//   - runs Maelstrom's lin-kv workload (Jepsen's linearizable-register
//     test), as its client and generator do: Config.Concurrency threads
//     (a multiple of 2 × nodes) in groups of 2 × nodes per key, keys 0, 1,
//     2, … in order; in each group the first half only read {key}, the
//     others write {key, value} and cas {key, from, to}, one write to two
//     cas, values 0..4 (Config.Values); thread t is client c(t+1) bound to
//     node n(t mod N) for the whole run; operations start
//     uniform(0, 2/Rate) apart across all threads (gen/stagger); a write
//     or cas whose outcome is unknown ends its Jepsen process, and a
//     group moves to the next key when a 21st process would use its key
//     (the process limit, Config.ProcessLimit), optionally also after
//     about Config.KeyOps operations. The lin-kv-create workload adds
//     create_if_not_exists to a tenth of the cas: an extension, said so
//     in summary.json's workload;
//   - classifies answers as Maelstrom's client does: an answer is OK; no
//     answer within max(10 × mean latency, 1 s), code 0, 13, ≥ 1000 or
//     a code Maelstrom does not know is Info (indeterminate) for a write
//     or cas; Maelstrom's definite codes (1, 10, 11, 12, 14, 20, 21, 22,
//     30) are Fail; every error or timeout on a read is Fail (reads are
//     idempotent). Three answers are kept as observations that the
//     checker must fit, all valid under Maelstrom's protocol: 20 on a read
//     or cas (the key had no value), 22 on a cas (the value was not
//     From, or there was none), read_ok with a null value (no value, as
//     Maelstrom's register starts at nil). A malformed answer is Info and
//     a protocol error;
//   - applies Schedule(Config), a pure function of the seed built as
//     Jepsen's combined nemesis (which Maelstrom uses) builds its own: the
//     fault families (partitions; kills and pauses; loss and dup) run
//     independently and overlap, each alternating start and stop with
//     gaps drawn uniform(0, 2 × NemesisInterval); partitions draw a shape
//     (one, minority-third, majority, majorities-ring, bridge), kills and
//     pauses a node target (some, one, minority-third, minority,
//     majority, all); a kill's stop restarts every node it killed, on its
//     data directory (KillKeepData) or an empty one (KillWipeData,
//     Maelstrom's own process nemesis); at Config.Time everything heals
//     and clients run Config.Quiet more;
//   - with the membership nemesis (membership.go; nodes that answer the
//     harness's raftbench_member message, as raft-maelstrom does, and at
//     least 3 of them), also changes the configuration on its own staggered
//     schedule: remove a voter, add it back as a learner, promote it, hand
//     it the leadership, demote a voter (sometimes the leader), promote it
//     back; a node that does not support the message makes Run fail before
//     the workload, and the final heal makes every node a voter again;
//   - stops every node, checks the history with chaos/check and writes
//     Config.Out/{history.json, summary.json (verdict, numbers, the
//     workload that ran, every fault with the time it was applied),
//     logs/nN.log, linearizability.html when the check fails}.
//
// Where it still differs from Maelstrom, and why: the checker is
// porcupine (per key, a compare-and-set register) rather than Knossos,
// with the stronger observations above; loss, dup and pause are faults
// Maelstrom's partition-only nemesis lacks; the minority-third and
// minority node targets hit at least one node; partition shapes that cut
// nothing with the given node count are not drawn; the default rate is
// 100 ops/s and the default latency distribution exponential (Maelstrom:
// 5 ops/s, constant), both set by flags; node stderr goes to logs/, not
// to Maelstrom's store layout.
//
// Bounds: the run ends by itself (clients stop at Time+Quiet on the wall
// clock, each operation ends within the client timeout); messages in
// flight, lines per node inbox, line length and history length are
// capped, overflow counted as drops or protocol errors; only pipes are
// used, no sockets. Every process it starts is gone when Run returns,
// including on ctx cancellation (ctrl-C); on Linux each node runs in a
// process group of its own, so a wrapper script and its children are
// killed, paused and stopped together, and a node also dies with the
// harness.
//
// With Config.Serve the nodes are `raftbench serve` processes instead
// (serve.go): clients reach them through the HTTP API (a gateway per node
// turns each lin-kv request into the HTTP call), partitions cut proxied
// Raft TCP links (linkproxy.go), kills, pauses, disk and clock faults work
// as above through serve's test-only fault endpoint, and ServeTarget.Secure
// runs the cluster with mutual TLS, HTTPS and bearer tokens from a PKI the
// harness generates. The lease-break nemesis (leasebreak.go) isolates the
// leader with its clock slowed beyond a lease's bound: the schedule that
// must make lease reads fail the check.
//
// The harness must never make a run look better than it was: it never
// retries an operation on a client's behalf, never drops an OK operation
// from the history, and never turns an indeterminate answer into a
// definite one. Its teeth are tested (teeth_test.go): deliberately broken
// designs must be caught and correct nodes, including ones written to
// Maelstrom's spec outside this module's code, must pass.
package harness
