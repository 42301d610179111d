//go:build raftbugs

package engine

// bugsBuild is true: this binary honours Config.Bugs (simulator only).
const bugsBuild = true
