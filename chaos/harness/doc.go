// Package harness runs real Maelstrom-protocol node binaries under faults
// and checks what their clients saw: a process-level, Jepsen-style lin-kv
// test that reproduces what decides a Maelstrom verdict and goes further
// (kill -9 and restart, pauses, loss, duplication).
//
// Run(ctx, Config) (*Summary, error):
//
//   - spawns Config.Nodes copies of Config.Bin as n0…n(N-1) (each with
//     Config.Args and "--data-dir DIR", DIR surviving restarts), sends each
//     init from c0 and waits for init_ok;
//   - routes every JSON line {"src","dest","body"} through one simulated
//     network: each message is delayed (mean Config.Latency, constant,
//     uniform or exponential), so links reorder unless NoReorder;
//     partitions, loss and duplication apply to node-to-node messages
//     only, partitions at delivery time;
//   - runs Config.Concurrency lin-kv clients (c1, c2, …) at about
//     Config.Rate operations per second over Config.Keys keys (each
//     retired after KeyOps operations for a fresh one). A client bound to
//     one random node waits max(10 × mean latency, 1 s) (Maelstrom's rule);
//     no answer, an indefinite code (0, 13, ≥1000, unknown) or a
//     malformed answer is Info and the client continues under a new name
//     and node; a definite code is Fail; 20 on read/cas and 22 on cas are
//     OK observations (Missing, Mismatch) that the checker must fit;
//   - applies Schedule(Config), a pure function of the seed: one fault per
//     2×NemesisInterval cycle, drawn from Config.Nemesis — partition
//     (halves, majority-ring, isolate, bridge), kill (SIGKILL a minority,
//     restart it on the same data dir with a fresh init), pause
//     (SIGSTOP/SIGCONT a minority), loss, dup — then at Config.Time heals
//     everything and lets clients run Config.Quiet more;
//   - stops every node, checks the history with chaos/check and writes
//     Config.Out/{history.json, summary.json, logs/nN.log,
//     linearizability.html when the check fails}.
//
// Bounds: the run ends by itself (clients stop at Time+Quiet, each
// operation ends within the client timeout); messages in flight, lines
// per node inbox, line length and history length are capped, overflow
// counted as drops or protocol errors; only pipes are used, no sockets.
// Every process it starts is gone when Run returns, including on ctx
// cancellation (ctrl-C); on Linux a node also dies with the harness.
//
// The harness must never make a run look better than it was: it never
// retries an operation on a client's behalf, never drops an OK operation
// from the history, and never turns an indeterminate answer into a
// definite one.
package harness
