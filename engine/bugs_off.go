//go:build !raftbugs

package engine

// bugsBuild is false: every bug hook is compiled away and Validate rejects
// Config.Bugs.
const bugsBuild = false
