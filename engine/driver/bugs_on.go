//go:build raftbugs

package driver

// bugsBuild is true: this binary honours Config.Bugs (simulator only).
const bugsBuild = true
