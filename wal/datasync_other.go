//go:build !linux

package wal

import "os"

// Fdatasync: where fdatasync(2) is not used, a full fsync.
func Fdatasync(f *os.File) error { return f.Sync() }
