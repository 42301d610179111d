//go:build !linux

package wal

// readAhead has no portable page-cache hint outside Linux.
func readAhead(File) {}
