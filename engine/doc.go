// Package engine is the Raft core: a deterministic state machine.
package engine
