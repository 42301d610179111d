// Package kv is the key-value state machine with Maelstrom lin-kv
// semantics: read, write and compare-and-set on opaque byte values.
//
// Commands and results travel as compact binary encodings (EncodeWrite,
// EncodeCas, EncodeRead, DecodeResult) so every Raft backend in the
// project, ours and the peers in bench/, applies exactly the same
// semantics. A missing key and a mismatched cas "from" are distinct
// results (StatusNotFound, StatusMismatch), never errors of the store.
//
// The store must never depend on wall-clock time or randomness: applying
// the same commands in the same order always yields the same state.
package kv
