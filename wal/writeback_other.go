//go:build !linux

package wal

// osWriteback has no range writeback outside Linux: the caller falls
// back to fdatasync.
func osWriteback(File, int64, int64, bool) (bool, error) { return false, nil }
