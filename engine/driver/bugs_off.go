//go:build !raftbugs

package driver

// bugsBuild is false: every bug hook is compiled away and New and
// NewApplier reject Bugs.
const bugsBuild = false
