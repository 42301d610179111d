// Package check decides whether a lin-kv client history is linearizable,
// per key, with github.com/anishathalye/porcupine and a compare-and-set
// register model.
//
// It goes further than Maelstrom's checker: a definite "key does not
// exist" answer is an observation (the key had no value at that moment)
// and a failed cas is an observation (the value differed from From), so
// both must fit the linearization. Indeterminate (Info) operations may
// take effect at any time after their call, or never.
//
// The checker never trusts the system under test: it must never drop an
// OK operation from the history to make a check pass.
package check
