//go:build race

package harness

// raceEnabled: the race detector slows every node and the harness
// several-fold, which makes timing-bound multi-run matrices meaningless.
const raceEnabled = true
