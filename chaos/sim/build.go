package sim

import "github.com/raftbench/raftbench/engine"

// bugsBuilt reports whether bug switches work in this binary (the core's
// raftbugs build tag; the driver's forget-vote switch follows it).
func bugsBuilt() bool { return engine.BugsEnabled() }
