// Package check decides whether a lin-kv client history is linearizable,
// per key, with github.com/anishathalye/porcupine and a compare-and-set
// register model, or, for a key whose history has only reads and writes
// of unique values, exactly and in O(n log n) by the write clusters'
// zones (Gibbons and Korach): a read then names the write it saw, so no
// search over orderings is needed, and a hot key with dozens of
// operations in flight cannot time out. The two methods are checked
// against each other on random histories (TestZonesAgreeWithSearch);
// KeyResult.Method says which decided a key.
//
// It goes further than Maelstrom's checker: a definite "key does not
// exist" answer is an observation (the key had no value at that moment)
// and a failed cas is an observation (the value was not From: another
// value, or none), so both must fit the linearization. Both are valid
// under Maelstrom's protocol, where those answers are definite. Indeterminate (Info) operations may
// take effect at any time after their call, or never.
//
// Contract:
//
//   - Check(history, Options) Result. Keys are independent registers
//     (the history is linearizable iff each key's is) and are checked one
//     by one, each within Options.Timeout; Result.Keys has every key.
//     A key the zones method finds not linearizable is also searched by
//     porcupine, for its drawing; were the two ever to disagree, the key
//     would be Unknown, never a verdict either method alone gave.
//   - Fail operations are dropped (they certainly did not happen), and so
//     are Info reads (they change nothing). Info writes and cas are given
//     porcupine's "unknown" output and a return after every other
//     operation of their key, so they may be linearized anywhere after
//     their call; being linearized last is the same as never happening.
//   - A cas with CreateIfMissing on a missing key writes Value (as in
//     engine/embed/kv); it can never observe Missing.
//   - The verdict is Linearizable, NotLinearizable, or Unknown (a key's
//     search timed out, or the history is malformed: then Result.Err says
//     which op and why). Unknown is never a pass.
//   - Result.WriteVisualization(path) writes porcupine's HTML for the bad
//     key (its ops and longest partial linearizations, plus
//     Options.Events on the timeline).
//
// The checker never trusts the system under test: it must never drop an
// OK operation from the history to make a check pass.
package check
